/* embed.h - the files embed.S bakes into the binary, as NUL-terminated strings. */
#ifndef CCT_EMBED_H
#define CCT_EMBED_H

extern const char embed_openapi_json[];
extern const char embed_index_html[];
extern const char embed_sqlite_001[];

#endif
