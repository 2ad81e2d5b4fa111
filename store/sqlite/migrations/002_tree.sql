-- The stored hashes of each chain's Merkle tree, in the layout of
-- golang.org/x/mod/sumdb/tlog (StoredHashIndex): level-0 entries are the
-- records' leaf hashes, the others the complete subtrees' interior hashes.
-- Written in the same transaction as the records.
CREATE TABLE tree_hashes (
    chain TEXT NOT NULL,
    idx   INTEGER NOT NULL,
    hash  BLOB NOT NULL,
    PRIMARY KEY (chain, idx)
) STRICT, WITHOUT ROWID;

-- Signed checkpoints (C2SP tlog-checkpoint signed notes) of each chain.
CREATE TABLE checkpoints (
    chain TEXT NOT NULL,
    size  INTEGER NOT NULL,
    root  BLOB NOT NULL,
    note  BLOB NOT NULL,
    time  INTEGER NOT NULL,  -- Unix ns
    PRIMARY KEY (chain, size)
) STRICT;

-- Ledger-wide settings, such as the sealed audit signing key.
CREATE TABLE meta (
    name  TEXT PRIMARY KEY,
    value BLOB NOT NULL
) STRICT;
