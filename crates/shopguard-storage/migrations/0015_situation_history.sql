-- shopguard embedded schema, version 15: the situation's history
-- (docs/decisions/0047-situation-history.md). Per node and per minute: decisions by outcome,
-- challenges reported, and matches per rule. Written once a minute is over; kept 31 days.
CREATE TABLE situation_minutes (
    node       TEXT NOT NULL,
    minute     INTEGER NOT NULL,
    events     INTEGER NOT NULL,
    allow      INTEGER NOT NULL,
    challenge  INTEGER NOT NULL,
    review     INTEGER NOT NULL,
    deny       INTEGER NOT NULL,
    passed     INTEGER NOT NULL,
    failed     INTEGER NOT NULL,
    PRIMARY KEY (minute, node)
);

CREATE TABLE situation_rules (
    node     TEXT NOT NULL,
    minute   INTEGER NOT NULL,
    rule_id  TEXT NOT NULL,
    shadow   INTEGER NOT NULL CHECK (shadow IN (0, 1)),
    matches  INTEGER NOT NULL,
    PRIMARY KEY (minute, node, rule_id, shadow)
);
