-- The tamper-evident audit log on PostgreSQL (docs/decisions/0020-audit-log-on-postgresql.md).
-- Applied once, in order, by PostgresAuditLog::open; recorded in audit_log_migrations.

-- One row per entry; seq is the leaf's index in the Merkle tree. salt and content are
-- NULL once purged at the end of retention; the commitment stays.
CREATE TABLE audit_log_entries (
    seq        bigint   PRIMARY KEY CHECK (seq >= 0),
    at_ms      bigint   NOT NULL,
    class      smallint NOT NULL,
    commitment bytea    NOT NULL CHECK (length(commitment) = 32),
    salt       bytea    CHECK (length(salt) = 32),
    content    bytea,
    CHECK ((salt IS NULL) = (content IS NULL))
);

-- What the retention purge looks for.
CREATE INDEX audit_log_entries_unpurged ON audit_log_entries (class, at_ms)
    WHERE content IS NOT NULL;

-- The hashes of the perfect subtrees of the tree: level 0 holds the leaf hashes as they
-- were computed when each entry was appended; level L node i covers leaves i·2^L .. (i+1)·2^L.
CREATE TABLE audit_log_tree (
    level smallint NOT NULL CHECK (level >= 0 AND level < 64),
    idx   bigint   NOT NULL CHECK (idx >= 0),
    hash  bytea    NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (level, idx)
);

-- One row: how many entries the log holds, updated (and so locked until commit) by every
-- append so that one writer at a time, on any node, extends the log; and the public key
-- that signs checkpoints, so that a node holding another key refuses to open the log.
CREATE TABLE audit_log_head (
    one        boolean PRIMARY KEY DEFAULT true CHECK (one),
    size       bigint  NOT NULL CHECK (size >= 0),
    public_key bytea
);
INSERT INTO audit_log_head (one, size) VALUES (true, 0);

-- Signed checkpoints, oldest first by id.
CREATE TABLE audit_log_checkpoints (
    id        bigserial PRIMARY KEY,
    size      bigint    NOT NULL,
    root      text      NOT NULL,
    at_ms     bigint    NOT NULL,
    key_id    text      NOT NULL,
    signature text      NOT NULL
);
