-- shopguard on PostgreSQL, version 9: each decision row names the rules that matched it
-- (enforced and shadow, in policy order; NULL when none did), so that the decision search can
-- filter by rule without decoding records (docs/decisions/0040-decision-search-by-rule.md).
-- The column has no index of its own: an index entry per row would cost the append path more
-- than the search gains. A search by rule and entity goes through the entity index
-- (migration 5) and checks the column on the rows it finds; a search by rule alone reads the
-- table newest first until its page is full. Rows written before this migration have NULL
-- here: a search by rule does not find them (retention ages them out).
ALTER TABLE decisions ADD COLUMN IF NOT EXISTS matched_rules TEXT[];
