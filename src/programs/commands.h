/* commands.h - the subcommands of the cct program; main.c holds the table. Each reads its
 * arguments and the configuration, wires the parts and runs; nothing else. */
#ifndef CCT_COMMANDS_H
#define CCT_COMMANDS_H

int cmd_serve(int argc, char **argv);
int cmd_worker(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_migrate(int argc, char **argv);
int cmd_formats(int argc, char **argv);
int cmd_detect(int argc, char **argv);

#endif
