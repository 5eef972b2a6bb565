-- shopguard embedded schema, version 7: durable tasks (long work answered with 202 and
-- polled) and the schedule of timed jobs. Kinds and statuses are stored as the explicit
-- codes of `TaskKind::code` and `TaskStatus::code`, never as declaration order.
CREATE TABLE tasks (
    id               TEXT PRIMARY KEY,
    kind             INTEGER NOT NULL,
    status           INTEGER NOT NULL,
    done             INTEGER NOT NULL DEFAULT 0,
    total            INTEGER NOT NULL DEFAULT 0,
    created_at_ms    INTEGER NOT NULL,
    started_at_ms    INTEGER,
    finished_at_ms   INTEGER,
    requested_by     TEXT NOT NULL,
    parameters       TEXT NOT NULL,
    result           TEXT,
    error            TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX tasks_by_status ON tasks (status, created_at_ms);
CREATE INDEX tasks_by_creation ON tasks (created_at_ms);

CREATE TABLE schedule (
    name           TEXT PRIMARY KEY,
    interval_ms    INTEGER NOT NULL,
    last_run_at_ms INTEGER,
    next_due_at_ms INTEGER NOT NULL
);
