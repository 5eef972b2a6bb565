-- shopguard on PostgreSQL, version 5: the decision log's lookups by user, IP and device go
-- through one GIN index over 64-bit hashes of the three values (a seed per kind), in place of
-- three B-trees on (value, time). The B-trees cost more than half of an append (each row
-- went into three trees, each insert a descent with text comparisons and its own WAL
-- record); GIN gathers new keys in its pending list and merges them in sorted runs. Queries
-- match the hash through this index and compare the value itself on the row, so a hash
-- collision never returns another entity's decision
-- (docs/decisions/0025-postgresql-write-path.md). The expression must stay exactly the one
-- the queries write (postgres/decisions.rs, ENTITY_KEYS).
DROP INDEX IF EXISTS decisions_by_user;
DROP INDEX IF EXISTS decisions_by_ip;
DROP INDEX IF EXISTS decisions_by_device;
CREATE INDEX decisions_by_entity ON decisions USING gin
    ((ARRAY[hashtextextended(user_id, 1), hashtextextended(ip, 2), hashtextextended(device_id, 3)]));
