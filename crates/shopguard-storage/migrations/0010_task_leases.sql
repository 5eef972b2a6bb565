-- shopguard embedded schema, version 9: the worker that holds a running task and until when
-- (see storage/src/tasks.rs, "Claims and leases"). Tasks running before this version have
-- no holder and are requeued at the next open, as before.
ALTER TABLE tasks ADD COLUMN claimed_by TEXT;
ALTER TABLE tasks ADD COLUMN lease_until_ms INTEGER;
