-- shopguard embedded schema, version 5: operators (people), their sessions and temporary
-- grants. Passwords are Argon2id hashes; TOTP secrets are sealed with a data key.
CREATE TABLE operators (
    username       TEXT PRIMARY KEY,
    password_hash  TEXT NOT NULL,
    totp_secret    TEXT NOT NULL,
    roles          TEXT NOT NULL,
    created_at_ms  INTEGER NOT NULL,
    disabled_at_ms INTEGER
);

CREATE TABLE sessions (
    session_id    TEXT PRIMARY KEY,
    secret_sha256 BLOB NOT NULL,
    username      TEXT NOT NULL REFERENCES operators(username),
    created_at_ms INTEGER NOT NULL,
    expires_at_ms INTEGER NOT NULL
);

CREATE TABLE grants (
    id              INTEGER PRIMARY KEY,
    username        TEXT NOT NULL REFERENCES operators(username),
    role            TEXT NOT NULL,
    reason          TEXT NOT NULL,
    requested_by    TEXT NOT NULL,
    requested_at_ms INTEGER NOT NULL,
    duration_ms     INTEGER NOT NULL,
    approved_by     TEXT,
    approved_at_ms  INTEGER,
    expires_at_ms   INTEGER
);
CREATE INDEX grants_by_user ON grants(username, expires_at_ms);
