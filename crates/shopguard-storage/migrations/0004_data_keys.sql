-- shopguard embedded schema, version 4: data keys for field encryption, wrapped by the master
-- key (which is never stored here). The newest key encrypts; all decrypt.
CREATE TABLE data_keys (
    id            INTEGER PRIMARY KEY,
    wrapped       BLOB NOT NULL,
    master_id     TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL
);
