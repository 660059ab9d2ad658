/* cmd_formats.c - `cct formats [--json]`: the format matrix as a table or as JSON. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "domain/formats.h"
#include "programs/commands.h"

int cmd_formats(int argc, char **argv)
{
    int as_json = argc > 1 && strcmp(argv[1], "--json") == 0;
    if (argc > 1 && !as_json) {
        fprintf(stdout, "Usage: cct formats [--json]\n");
        return strcmp(argv[1], "--help") == 0 ? 0 : 2;
    }
    size_t n;
    const struct format *all = formats_all(&n);
    json_t *list = as_json ? json_array() : NULL;
    for (size_t i = 0; i < n; i++) {
        const char *targets[64];
        size_t nt = formats_targets(all[i].name, targets, 64);
        if (as_json) {
            json_t *t = json_array();
            for (size_t k = 0; k < nt; k++)
                json_array_append_new(t, json_string(targets[k]));
            json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:o}", "name", all[i].name,
                                                  "kind", fmt_kind_name(all[i].kind), "mime",
                                                  all[i].mime, "targets", t));
            continue;
        }
        printf("%-8s %-8s ->", all[i].name, fmt_kind_name(all[i].kind));
        for (size_t k = 0; k < nt; k++)
            printf(" %s", targets[k]);
        printf("\n");
    }
    if (as_json) {
        json_dumpf(list, stdout, JSON_INDENT(2));
        printf("\n");
        json_decref(list);
    } else {
        printf("\nPresets (re-encode smaller, also into the same format): small, balanced, high\n");
    }
    return 0;
}
