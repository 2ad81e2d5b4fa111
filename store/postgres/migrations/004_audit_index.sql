-- The index of the audit filters (event, outcome, the event and outcome
-- pair, sub, jti, actor, kid, request_id), kept behind the commits by
-- tables.Indexer: see store/internal/tables/index.go. key is a 64-bit hash
-- of the filter and its value, id the record's audit.id.
CREATE TABLE audit_index (
    key BIGINT NOT NULL,
    id  BIGINT NOT NULL,
    PRIMARY KEY (key, id)
);

-- How far each chain's records are indexed (seq).
CREATE TABLE audit_indexed (
    chain TEXT PRIMARY KEY,
    seq   BIGINT NOT NULL
);

-- The single-column filter indexes were written in every append's
-- transaction; audit_index replaces them.
DROP INDEX audit_jti;
DROP INDEX audit_sub;
DROP INDEX audit_event;
