-- shopguard embedded schema, version 8: every change people make to list entries, in order,
-- so that other nodes on the same database apply it within a second. Rows older than an
-- hour are purged; a node that was away longer loads the lists whole at its start.
CREATE TABLE list_changes (
    seq           INTEGER PRIMARY KEY,
    list          TEXT NOT NULL,
    value         TEXT NOT NULL,
    expires_at_ms INTEGER,
    removed       INTEGER NOT NULL,
    at_ms         INTEGER NOT NULL
);
