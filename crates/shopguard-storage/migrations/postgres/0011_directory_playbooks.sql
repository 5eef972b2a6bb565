-- shopguard on PostgreSQL, version 11: the security organisation's directory and the response
-- playbooks (docs/decisions/0043-directory-and-playbooks.md). Version 10 belongs to a change
-- developed alongside this one.
-- Members and external contacts: groups, roles and types as their stored codes; contacts as one
-- sealed value (AES-256-GCM with the node's data keys, `enc1.<key>.<...>`); never deleted, made
-- inactive; a version for compare and set.
CREATE TABLE directory_members (
    id               TEXT PRIMARY KEY,
    display_name     TEXT NOT NULL,
    operator         TEXT,
    group_code       SMALLINT NOT NULL CHECK (group_code BETWEEN 1 AND 4),
    role_code        SMALLINT NOT NULL CHECK (role_code BETWEEN 1 AND 3),
    backup_id        TEXT REFERENCES directory_members(id),
    contacts_sealed  TEXT NOT NULL,
    active           BOOLEAN NOT NULL,
    version          BIGINT NOT NULL CHECK (version > 0),
    created_at_ms    BIGINT NOT NULL,
    updated_at_ms    BIGINT NOT NULL,
    updated_by       TEXT NOT NULL,
    CHECK (backup_id IS NULL OR backup_id <> id)
);

CREATE TABLE directory_contacts (
    id               TEXT PRIMARY KEY,
    type_code        SMALLINT NOT NULL CHECK (type_code BETWEEN 1 AND 7),
    organisation     TEXT NOT NULL,
    name             TEXT NOT NULL,
    contacts_sealed  TEXT NOT NULL,
    notes            TEXT NOT NULL,
    active           BOOLEAN NOT NULL,
    version          BIGINT NOT NULL CHECK (version > 0),
    created_at_ms    BIGINT NOT NULL,
    updated_at_ms    BIGINT NOT NULL,
    updated_by       TEXT NOT NULL
);

-- Playbook versions never change; one row says which is active.
CREATE TABLE playbook_versions (
    version        BIGINT PRIMARY KEY CHECK (version > 0),
    template       TEXT NOT NULL,
    author         TEXT NOT NULL,
    created_at_ms  BIGINT NOT NULL,
    comment        TEXT NOT NULL
);

CREATE TABLE playbook_active (
    id               INTEGER PRIMARY KEY CHECK (id = 1),
    version          BIGINT NOT NULL REFERENCES playbook_versions(version),
    activated_at_ms  BIGINT NOT NULL,
    activated_by     TEXT NOT NULL
);
