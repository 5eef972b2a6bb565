-- Format 2 of the audit log (docs/decisions/0031-audit-purges-and-tail.md): purges are
-- recorded in the log. A log of format 1 gets one legacy purge record, listing the entries
-- found purged, when a node of format 2 first opens it; the node then sets format to 2.
ALTER TABLE audit_log_head ADD COLUMN format smallint NOT NULL DEFAULT 1;
