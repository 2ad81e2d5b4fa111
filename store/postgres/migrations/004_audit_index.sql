-- The index of the audit filters (event, outcome, the event and outcome
-- pair, sub, jti, actor, kid, request_id), kept behind the commits by
-- tables.Indexer when the index is on (Config.AuditIndex, off by
-- default): see store/internal/tables/index.go. key is a 64-bit hash of
-- the filter and its value, id the record's audit.id.
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

-- The single-column filter indexes (audit_jti, audit_sub, audit_event) stay:
-- with the index off, queries use them as before. An operator who keeps
-- the index on may drop them by hand (docs/operations.md).
