-- shopguard embedded schema, version 1.
CREATE TABLE api_keys (
    key_id        TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    secret_sha256 BLOB NOT NULL,
    scopes        TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    revoked_at_ms INTEGER
);

CREATE TABLE policy_versions (
    version       INTEGER PRIMARY KEY AUTOINCREMENT,
    source        TEXT NOT NULL,
    sha256        TEXT NOT NULL,
    author        TEXT NOT NULL,
    comment       TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL
);

CREATE TABLE policy_active (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    version       INTEGER NOT NULL REFERENCES policy_versions(version),
    activated_at_ms INTEGER NOT NULL,
    activated_by  TEXT NOT NULL
);

CREATE TABLE lists (
    name          TEXT PRIMARY KEY,
    kind          TEXT NOT NULL,
    description   TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL
);

CREATE TABLE list_entries (
    list          TEXT NOT NULL REFERENCES lists(name),
    value         TEXT NOT NULL,
    expires_at_ms INTEGER,
    added_by      TEXT NOT NULL,
    reason        TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    PRIMARY KEY (list, value)
) WITHOUT ROWID;

-- The decision log. Entities are indexed by 64-bit hashes (xxh3 of the text), which keeps the
-- indexes small and their comparisons cheap; readers re-check the decoded record, so a hash
-- collision can never return another entity's decisions.
CREATE TABLE decisions (
    seq            INTEGER PRIMARY KEY,
    decision_id    TEXT NOT NULL,
    occurred_at_ms INTEGER NOT NULL,
    user_hash      INTEGER NOT NULL,
    ip_hash        INTEGER,
    device_hash    INTEGER,
    outcome        TEXT NOT NULL,
    record         TEXT NOT NULL
);
CREATE UNIQUE INDEX decisions_by_id ON decisions(decision_id);
CREATE INDEX decisions_by_user ON decisions(user_hash, occurred_at_ms);
CREATE INDEX decisions_by_ip ON decisions(ip_hash, occurred_at_ms) WHERE ip_hash IS NOT NULL;
CREATE INDEX decisions_by_device ON decisions(device_hash, occurred_at_ms) WHERE device_hash IS NOT NULL;
CREATE INDEX decisions_by_time ON decisions(occurred_at_ms);

CREATE TABLE alerts (
    seq            INTEGER PRIMARY KEY,
    created_at_ms  INTEGER NOT NULL,
    severity       TEXT NOT NULL,
    rule_id        TEXT NOT NULL,
    decision_id    TEXT NOT NULL,
    user_id        TEXT NOT NULL,
    ip             TEXT,
    message        TEXT NOT NULL
);
CREATE INDEX alerts_by_time ON alerts(created_at_ms);
