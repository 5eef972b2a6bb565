-- shopguard embedded schema, version 3: audit entries queued by command-line tools that run
-- while a node holds the audit log; the node moves them into the log within seconds.
CREATE TABLE audit_queue (
    id      INTEGER PRIMARY KEY,
    at_ms   INTEGER NOT NULL,
    class   TEXT NOT NULL,
    content TEXT NOT NULL
);
