-- shopguard PostgreSQL schema, version 1. Applied inside the deployment's schema (the
-- connection's search_path), in one transaction, under an advisory lock.
CREATE TABLE api_keys (
    key_id        TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    secret_sha256 BYTEA NOT NULL,
    scopes        TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    revoked_at_ms BIGINT
);

CREATE TABLE policy_versions (
    version          BIGINT PRIMARY KEY,
    source           TEXT NOT NULL,
    sha256           TEXT NOT NULL,
    author           TEXT NOT NULL,
    comment          TEXT NOT NULL,
    created_at_ms    BIGINT NOT NULL,
    pending_approval BOOLEAN NOT NULL,
    approved_by      TEXT,
    approved_at_ms   BIGINT
);

-- Always exactly one row: activation is a compare-and-set on it, and new versions are
-- numbered under its row lock, so versions have no gaps.
CREATE TABLE policy_active (
    id              SMALLINT PRIMARY KEY CHECK (id = 1),
    version         BIGINT REFERENCES policy_versions(version),
    activated_at_ms BIGINT,
    activated_by    TEXT
);
INSERT INTO policy_active (id) VALUES (1);

CREATE TABLE lists (
    name          TEXT PRIMARY KEY,
    kind          TEXT NOT NULL,
    description   TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL
);

CREATE TABLE list_entries (
    list          TEXT NOT NULL REFERENCES lists(name),
    value         TEXT NOT NULL,
    expires_at_ms BIGINT,
    added_by      TEXT NOT NULL,
    reason        TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    PRIMARY KEY (list, value)
);
CREATE INDEX list_entries_by_expiry ON list_entries(expires_at_ms) WHERE expires_at_ms IS NOT NULL;

-- The decision log: each record in its binary form (record_format.rs; personal fields
-- sealed), with the columns its queries use. A retried batch adds nothing twice: the
-- decision id is unique. Rows arrive in about time order, so time has a BRIN index (a few
-- pages, nearly free to maintain; a B-tree there cost a third of the append), and "newest
-- first" is the order of appending (seq), as in the segment log.
CREATE TABLE decisions (
    seq            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    decision_id    TEXT NOT NULL UNIQUE,
    occurred_at_ms BIGINT NOT NULL,
    user_id        TEXT NOT NULL,
    ip             TEXT,
    device_id      TEXT,
    outcome        TEXT NOT NULL,
    record         BYTEA NOT NULL
);
CREATE INDEX decisions_by_time ON decisions USING brin (occurred_at_ms);
CREATE INDEX decisions_by_user ON decisions(user_id, occurred_at_ms);
CREATE INDEX decisions_by_ip ON decisions(ip, occurred_at_ms) WHERE ip IS NOT NULL;
CREATE INDEX decisions_by_device ON decisions(device_id, occurred_at_ms) WHERE device_id IS NOT NULL;

CREATE TABLE alerts (
    seq           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    created_at_ms BIGINT NOT NULL,
    severity      TEXT NOT NULL,
    rule_id       TEXT NOT NULL,
    decision_id   TEXT NOT NULL,
    user_id       TEXT NOT NULL,
    ip            TEXT,
    message       TEXT NOT NULL,
    UNIQUE (decision_id, rule_id)
);
CREATE INDEX alerts_by_time ON alerts(created_at_ms);

-- Audit entries written in the same transaction as their change (the outbox).
CREATE TABLE audit_outbox (
    id      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at_ms   BIGINT NOT NULL,
    class   TEXT NOT NULL,
    content TEXT NOT NULL
);

-- Data keys for field encryption, wrapped by the master key (never stored here).
CREATE TABLE data_keys (
    id            BIGINT PRIMARY KEY,
    wrapped       BYTEA NOT NULL,
    master_id     TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL
);

CREATE TABLE operators (
    username       TEXT PRIMARY KEY,
    password_hash  TEXT NOT NULL,
    totp_secret    TEXT NOT NULL,
    roles          TEXT NOT NULL,
    created_at_ms  BIGINT NOT NULL,
    disabled_at_ms BIGINT
);

CREATE TABLE sessions (
    session_id    TEXT PRIMARY KEY,
    secret_sha256 BYTEA NOT NULL,
    username      TEXT NOT NULL REFERENCES operators(username),
    created_at_ms BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL
);

CREATE TABLE grants (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username        TEXT NOT NULL REFERENCES operators(username),
    role            TEXT NOT NULL,
    reason          TEXT NOT NULL,
    requested_by    TEXT NOT NULL,
    requested_at_ms BIGINT NOT NULL,
    duration_ms     BIGINT NOT NULL,
    approved_by     TEXT,
    approved_at_ms  BIGINT,
    expires_at_ms   BIGINT
);
CREATE INDEX grants_by_user ON grants(username, id);

-- The engine's velocity snapshot, one per node (velocity state is per node).
CREATE TABLE engine_snapshots (
    node_id       TEXT PRIMARY KEY,
    snapshot      BYTEA NOT NULL,
    written_at_ms BIGINT NOT NULL
);
