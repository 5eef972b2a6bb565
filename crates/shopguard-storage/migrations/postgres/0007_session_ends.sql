-- shopguard on PostgreSQL, version 7: sessions that end before they expire (logout, logout
-- everywhere, ended by an administrator), the last activity seen on each (for the idle
-- limit) and the caller's address at login. Existing sessions were last seen when they
-- began.
ALTER TABLE sessions ADD COLUMN last_seen_at_ms BIGINT;
UPDATE sessions SET last_seen_at_ms = created_at_ms;
ALTER TABLE sessions ALTER COLUMN last_seen_at_ms SET NOT NULL;
ALTER TABLE sessions ADD COLUMN ended_at_ms BIGINT;
ALTER TABLE sessions ADD COLUMN client TEXT;
CREATE INDEX sessions_by_username ON sessions (username, created_at_ms);
