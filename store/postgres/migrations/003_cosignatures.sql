-- Witnesses' cosignatures of the checkpoints (C2SP tlog-cosignature lines,
-- verified before they are stored), and the size of each chain each
-- witness is known to have cosigned: the old size of the next request.
CREATE TABLE checkpoint_cosignatures (
    chain   TEXT NOT NULL,
    size    BIGINT NOT NULL,
    witness TEXT NOT NULL,
    line    BYTEA NOT NULL,
    time    BIGINT NOT NULL,  -- Unix ns, when it was stored
    PRIMARY KEY (chain, size, witness)
);

CREATE TABLE witness_state (
    chain   TEXT NOT NULL,
    witness TEXT NOT NULL,
    size    BIGINT NOT NULL,
    PRIMARY KEY (chain, witness)
);
