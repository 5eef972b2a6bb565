-- shopguard on PostgreSQL, version 2: every change people make to list entries, in order, so
-- that every node applies it within a second. Rows older than an hour are purged; a node
-- that was away longer loads the lists whole at its start.
CREATE TABLE list_changes (
    seq           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    list          TEXT NOT NULL,
    value         TEXT NOT NULL,
    expires_at_ms BIGINT,
    removed       BOOLEAN NOT NULL,
    at_ms         BIGINT NOT NULL
);
CREATE INDEX list_changes_at ON list_changes (at_ms);
