-- shopguard embedded schema, version 6: policy versions that add or change punitive rules
-- wait for the approval of someone other than their author.
ALTER TABLE policy_versions ADD COLUMN pending_approval INTEGER NOT NULL DEFAULT 0;
ALTER TABLE policy_versions ADD COLUMN approved_by TEXT;
ALTER TABLE policy_versions ADD COLUMN approved_at_ms INTEGER;
