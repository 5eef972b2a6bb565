-- shopguard on PostgreSQL, version 8: alert triage (docs/decisions/0037-alert-triage.md).
-- One row per alert someone has touched (an alert without one is open, unassigned, version 0):
-- the status as its stored code (1 open, 2 acknowledged, 3 resolved, 4 dismissed), the
-- assignee, a version for compare and set, and who changed it last. Notes are append-only; a note
-- written with a status change (its reason) names the status it explains.
-- Both go when their alert is purged with its decision.
CREATE TABLE alert_triage (
    seq            BIGINT PRIMARY KEY REFERENCES alerts(seq),
    status         SMALLINT NOT NULL CHECK (status BETWEEN 1 AND 4),
    assignee       TEXT,
    version        BIGINT NOT NULL CHECK (version > 0),
    updated_at_ms  BIGINT NOT NULL,
    updated_by     TEXT NOT NULL
);
CREATE INDEX alert_triage_by_status ON alert_triage(status, seq);
CREATE INDEX alert_triage_by_assignee ON alert_triage(assignee, seq) WHERE assignee IS NOT NULL;

CREATE TABLE alert_notes (
    id       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    seq      BIGINT NOT NULL REFERENCES alerts(seq),
    author   TEXT NOT NULL,
    status   SMALLINT CHECK (status BETWEEN 1 AND 4),
    at_ms    BIGINT NOT NULL,
    text     TEXT NOT NULL CHECK (char_length(text) BETWEEN 1 AND 2000)
);
CREATE INDEX alert_notes_by_alert ON alert_notes(seq, id);
