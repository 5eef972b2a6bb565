-- shopguard on PostgreSQL, version 6: the last TOTP time step each operator logged in with,
-- so that a code is accepted once (a replay of it within its 30-second window is refused).
ALTER TABLE operators ADD COLUMN last_totp_step BIGINT;
