-- shopguard embedded schema, version 13: incidents (docs/decisions/0042-incident-record-lifecycle-history.md).
-- One row per incident: enums as their stored codes (shopguard_core::incident), lists as JSON
-- text (tags and observables by code), the effective level (override, else computed) in its
-- own column for filtering. The history is append-only, one row per changed field per version.
-- An alert belongs to at most one incident; no foreign key to alerts, which are purged with
-- their decisions while the incident keeps their numbers. Observables are repeated one per row
-- to find incidents by (kind, value).
CREATE TABLE incidents (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    title             TEXT NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    category          INTEGER NOT NULL CHECK (category BETWEEN 1 AND 7),
    tags              TEXT NOT NULL,
    status            INTEGER NOT NULL CHECK (status BETWEEN 1 AND 7),
    verdict           INTEGER CHECK (verdict BETWEEN 1 AND 4),
    importance        INTEGER CHECK (importance BETWEEN 1 AND 3),
    loss              INTEGER CHECK (loss BETWEEN 1 AND 4),
    affected_users    INTEGER CHECK (affected_users >= 0),
    platform_users    INTEGER CHECK (platform_users >= 0),
    computed_level    INTEGER CHECK (computed_level BETWEEN 1 AND 4),
    grade_reasons     TEXT NOT NULL,
    override_level    INTEGER CHECK (override_level BETWEEN 1 AND 4),
    override_reason   TEXT,
    effective_level   INTEGER CHECK (effective_level BETWEEN 1 AND 4),
    reporter          TEXT NOT NULL,
    discovered_at_ms  INTEGER,
    reported_at_ms    INTEGER NOT NULL,
    affected_systems  TEXT NOT NULL,
    description       TEXT NOT NULL,
    evidence          TEXT NOT NULL,
    observables       TEXT NOT NULL,
    unsure_of_level   INTEGER NOT NULL CHECK (unsure_of_level IN (0, 1)),
    assignee          TEXT,
    dedup_key         TEXT,
    is_drill          INTEGER NOT NULL CHECK (is_drill IN (0, 1)),
    reassessed_at_ms  INTEGER,
    reassessed_by     TEXT,
    escalated_at_ms   INTEGER,
    escalated_by      TEXT,
    review_summary    TEXT,
    created_at_ms     INTEGER NOT NULL,
    updated_at_ms     INTEGER NOT NULL,
    version           INTEGER NOT NULL CHECK (version > 0)
);
CREATE UNIQUE INDEX incidents_open_dedup_key ON incidents(dedup_key)
    WHERE dedup_key IS NOT NULL AND status < 6;
CREATE INDEX incidents_by_status ON incidents(status, id);
CREATE INDEX incidents_by_level ON incidents(effective_level, id);
CREATE INDEX incidents_by_category ON incidents(category, id);
CREATE INDEX incidents_by_assignee ON incidents(assignee, id);
CREATE INDEX incidents_by_drill ON incidents(is_drill, id);
CREATE INDEX incidents_by_reported ON incidents(reported_at_ms, id);

CREATE TABLE incident_history (
    id           INTEGER PRIMARY KEY,
    incident_id  INTEGER NOT NULL REFERENCES incidents(id),
    version      INTEGER NOT NULL CHECK (version > 0),
    at_ms        INTEGER NOT NULL,
    actor        TEXT NOT NULL,
    action       TEXT NOT NULL,
    field        TEXT NOT NULL,
    old_value    TEXT NOT NULL,
    new_value    TEXT NOT NULL,
    reason       TEXT
);
CREATE INDEX incident_history_by_version ON incident_history(incident_id, version, id);

CREATE TABLE incident_alerts (
    seq          INTEGER PRIMARY KEY,
    incident_id  INTEGER NOT NULL REFERENCES incidents(id),
    linked_at_ms INTEGER NOT NULL
);
CREATE INDEX incident_alerts_by_incident ON incident_alerts(incident_id, seq);

CREATE TABLE incident_observables (
    incident_id  INTEGER NOT NULL REFERENCES incidents(id),
    kind         INTEGER NOT NULL CHECK (kind BETWEEN 1 AND 8),
    value        TEXT NOT NULL,
    PRIMARY KEY (incident_id, kind, value)
);
CREATE INDEX incident_observables_by_value ON incident_observables(kind, value, incident_id);
