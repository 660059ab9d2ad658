/* embed.S - files baked into the binary so that one program carries its OpenAPI document,
 * its schema migrations and its web page. Each is NUL-terminated; see util/embed.h. */
    .section .rodata
    .balign 16
    .global embed_openapi_json
embed_openapi_json:
    .incbin "docs/openapi.json"
    .byte 0
    .global embed_index_html
embed_index_html:
    .incbin "web/index.html"
    .byte 0
    .global embed_sqlite_001
embed_sqlite_001:
    .incbin "migrations/sqlite/001_init.sql"
    .byte 0
    .section .note.GNU-stack,"",@progbits
