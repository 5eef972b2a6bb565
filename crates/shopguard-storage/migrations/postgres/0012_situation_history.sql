-- shopguard PostgreSQL schema, version 12: the situation's history
-- (docs/decisions/0047-situation-history.md). Per node and per minute: decisions by outcome,
-- challenges reported, and matches per rule. Written once a minute is over; kept 31 days.
CREATE TABLE situation_minutes (
    node       TEXT NOT NULL,
    minute     BIGINT NOT NULL,
    events     BIGINT NOT NULL,
    allow      BIGINT NOT NULL,
    challenge  BIGINT NOT NULL,
    review     BIGINT NOT NULL,
    deny       BIGINT NOT NULL,
    passed     BIGINT NOT NULL,
    failed     BIGINT NOT NULL,
    PRIMARY KEY (minute, node)
);

CREATE TABLE situation_rules (
    node     TEXT NOT NULL,
    minute   BIGINT NOT NULL,
    rule_id  TEXT NOT NULL,
    shadow   BOOLEAN NOT NULL,
    matches  BIGINT NOT NULL,
    PRIMARY KEY (minute, node, rule_id, shadow)
);
