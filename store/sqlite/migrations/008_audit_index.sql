-- The index of the audit filters (event, outcome, the event and outcome
-- pair, sub, jti, actor, kid, request_id), kept behind the commits by
-- tables.Indexer when the index is on (Config.AuditIndex, off by default):
-- see store/internal/tables/index.go. key is a 64-bit hash
-- of the filter and its value, id the record's row in audit, run id >> 12:
-- the rows of 4096 consecutive records are together, so a round of
-- indexing writes the pages of one or two runs, not one random page per
-- row (see indexRunShift).
CREATE TABLE audit_index (
    run INTEGER NOT NULL,
    key INTEGER NOT NULL,
    id  INTEGER NOT NULL,
    PRIMARY KEY (run, key, id)
) STRICT, WITHOUT ROWID;

-- How far each chain's records are indexed (seq); records past it are
-- indexed at the next round, and queries read them from audit meanwhile.
CREATE TABLE audit_indexed (
    chain TEXT PRIMARY KEY,
    seq   INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
