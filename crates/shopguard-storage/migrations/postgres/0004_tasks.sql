-- shopguard on PostgreSQL, version 4: durable tasks, their inputs and the schedule of timed
-- jobs, shared by every node of the deployment (docs/decisions/0027-shared-tasks-schedule-and-postgresql-backups.md). Kinds and statuses
-- are the explicit codes of `TaskKind::code` and `TaskStatus::code`. A running task is held
-- by one worker (`claimed_by`) until `lease_until_ms`; after that any node may take it over.
CREATE TABLE tasks (
    id               TEXT PRIMARY KEY,
    kind             SMALLINT NOT NULL,
    status           SMALLINT NOT NULL,
    done             BIGINT NOT NULL DEFAULT 0,
    total            BIGINT NOT NULL DEFAULT 0,
    created_at_ms    BIGINT NOT NULL,
    started_at_ms    BIGINT,
    finished_at_ms   BIGINT,
    requested_by     TEXT NOT NULL,
    parameters       TEXT NOT NULL,
    result           TEXT,
    error            TEXT,
    cancel_requested BOOLEAN NOT NULL DEFAULT FALSE,
    claimed_by       TEXT,
    lease_until_ms   BIGINT
);
CREATE INDEX tasks_unfinished ON tasks (created_at_ms, id) WHERE status IN (1, 2);
CREATE INDEX tasks_by_creation ON tasks (created_at_ms);

-- A task's large input (an import's text), readable by whichever node runs the task;
-- removed when the task ends.
CREATE TABLE task_inputs (
    task_id TEXT PRIMARY KEY,
    input   TEXT NOT NULL
);

-- One row per timed job; a run is claimed by compare and set on next_due_at_ms.
CREATE TABLE schedule (
    name           TEXT PRIMARY KEY,
    interval_ms    BIGINT NOT NULL,
    last_run_at_ms BIGINT,
    next_due_at_ms BIGINT NOT NULL
);
