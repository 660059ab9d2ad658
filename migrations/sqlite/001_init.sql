-- 001_init.sql: first schema: user accounts and their conversion tasks.
-- Applied once by db_sqlite.c inside a transaction; recorded in schema_migrations.

CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    username      TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    email         TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    password_hash TEXT    NOT NULL,
    created_at    INTEGER NOT NULL
);

CREATE TABLE tasks (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id         INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    file_name       TEXT    NOT NULL,
    original_format TEXT    NOT NULL DEFAULT '',
    new_format      TEXT    NOT NULL DEFAULT '',
    preset          TEXT    NOT NULL DEFAULT '',
    status          TEXT    NOT NULL
                    CHECK (status IN ('uploaded', 'queued', 'processing',
                                      'processed', 'failed', 'expired')),
    progress        INTEGER NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
    error           TEXT    NOT NULL DEFAULT '',
    original_size   INTEGER NOT NULL DEFAULT 0,
    result_size     INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    started_at      INTEGER NOT NULL DEFAULT 0,
    finished_at     INTEGER NOT NULL DEFAULT 0,
    original_key    TEXT    NOT NULL DEFAULT '',
    result_key      TEXT    NOT NULL DEFAULT ''
);

CREATE INDEX tasks_user_id ON tasks(user_id, id);
CREATE INDEX tasks_status ON tasks(status, id);
CREATE INDEX tasks_created_at ON tasks(created_at);
