-- shopguard embedded schema, version 2: the decision log moves to segment files
-- (`decisions/`, see docs/decisions/0007-decision-log-segments.md). Alerts become unique per
-- decision and rule, so a retried batch cannot raise one twice.
DROP TABLE decisions;
DELETE FROM alerts WHERE seq NOT IN (SELECT MIN(seq) FROM alerts GROUP BY decision_id, rule_id);
CREATE UNIQUE INDEX alerts_by_decision_rule ON alerts(decision_id, rule_id);
