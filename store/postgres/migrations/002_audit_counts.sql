-- Aggregate counts of the audit records (the console's overview), kept
-- close behind the commits by store.Counter: see internal/store/counts.go.
CREATE TABLE audit_minutes (
    minute  BIGINT NOT NULL,  -- Unix ns / 60e9
    chain   TEXT NOT NULL,
    event   TEXT NOT NULL,
    outcome TEXT NOT NULL,
    n       BIGINT NOT NULL,
    PRIMARY KEY (minute, chain, event, outcome)
);

CREATE TABLE audit_hours (
    hour    BIGINT NOT NULL,  -- Unix ns / 3600e9
    chain   TEXT NOT NULL,
    event   TEXT NOT NULL,
    outcome TEXT NOT NULL,
    actor   TEXT NOT NULL,
    n       BIGINT NOT NULL,
    PRIMARY KEY (hour, chain, event, outcome, actor)
);

-- Subjects of token.issue and token.verify records.
CREATE TABLE audit_subjects (
    hour  BIGINT NOT NULL,
    chain TEXT NOT NULL,
    sub   TEXT NOT NULL,
    n     BIGINT NOT NULL,
    PRIMARY KEY (hour, chain, sub)
);

-- How far each chain's records are counted (seq).
CREATE TABLE audit_counted (
    chain TEXT PRIMARY KEY,
    seq   BIGINT NOT NULL
);
