-- The index of the audit filters (event, outcome, the event and outcome
-- pair, sub, jti, actor, kid, request_id), kept behind the commits by
-- tables.Indexer: see store/internal/tables/index.go. key is a 64-bit hash
-- of the filter and its value, id the record's row in audit.
CREATE TABLE audit_index (
    key INTEGER NOT NULL,
    id  INTEGER NOT NULL,
    PRIMARY KEY (key, id)
) STRICT, WITHOUT ROWID;

-- How far each chain's records are indexed (seq); records past it are
-- indexed at the next round, and queries read them from audit meanwhile.
CREATE TABLE audit_indexed (
    chain TEXT PRIMARY KEY,
    seq   INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
