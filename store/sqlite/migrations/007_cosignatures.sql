-- Witnesses' cosignatures of the checkpoints (C2SP tlog-cosignature lines,
-- verified before they are stored), and the size of each chain each
-- witness is known to have cosigned: the old size of the next request.
CREATE TABLE checkpoint_cosignatures (
    chain   TEXT NOT NULL,
    size    INTEGER NOT NULL,
    witness TEXT NOT NULL,
    line    BLOB NOT NULL,
    time    INTEGER NOT NULL,  -- Unix ns, when it was stored
    PRIMARY KEY (chain, size, witness)
);

CREATE TABLE witness_state (
    chain   TEXT NOT NULL,
    witness TEXT NOT NULL,
    size    INTEGER NOT NULL,
    PRIMARY KEY (chain, witness)
);
