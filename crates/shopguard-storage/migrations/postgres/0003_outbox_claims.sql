-- shopguard on PostgreSQL, version 3: several nodes drain one audit outbox; a node claims the
-- rows it moves into the audit log, so that no entry is moved twice. A claim older than a
-- minute (its node died while moving them) may be taken over.
ALTER TABLE audit_outbox ADD COLUMN claimed_by TEXT;
ALTER TABLE audit_outbox ADD COLUMN claimed_at_ms BIGINT;
