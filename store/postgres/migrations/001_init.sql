-- The logical schema of the SQLite store (internal/store/sqlite/migrations),
-- in PostgreSQL's dialect. Times are Unix ns (BIGINT) as there.
CREATE TABLE keys (
    kid       TEXT PRIMARY KEY,
    alg       TEXT NOT NULL,
    state     TEXT NOT NULL CHECK (state IN ('active', 'verify-only', 'retired')),
    created   BIGINT NOT NULL,
    rotated   BIGINT NOT NULL DEFAULT 0,
    activates BIGINT NOT NULL DEFAULT 0,
    public    BYTEA,
    sealed    BYTEA NOT NULL
);

CREATE TABLE revocations (
    iss        TEXT NOT NULL,
    jti        TEXT NOT NULL,
    exp        BIGINT NOT NULL,  -- Unix s, 0 when unknown
    revoked_at BIGINT NOT NULL,  -- Unix ns
    PRIMARY KEY (iss, jti)
);
CREATE INDEX revocations_revoked_at ON revocations (revoked_at);

-- The audit ledger: body is the canonical record encoding, leaf its RFC
-- 6962 leaf hash; the filter columns are copied out of the body.
-- Partitioned by month on time (Unix ns), so queries by time range read only
-- the months they need and old months can be moved or dropped as a whole.
-- A partition key must be part of every unique index, so (chain, seq) is
-- unique per month here; appends to a chain are serialized by an advisory
-- lock and number from its head, which keeps seq unique per chain.
CREATE TABLE audit (
    id      BIGINT GENERATED ALWAYS AS IDENTITY,
    chain   TEXT NOT NULL,
    seq     BIGINT NOT NULL,
    time    BIGINT NOT NULL,
    event   TEXT NOT NULL,
    outcome TEXT NOT NULL,
    actor   TEXT NOT NULL,
    sub     TEXT NOT NULL,
    jti     TEXT NOT NULL,
    body    BYTEA NOT NULL,
    leaf    BYTEA NOT NULL,
    PRIMARY KEY (chain, seq, time)
) PARTITION BY RANGE (time);
-- Rows outside every monthly partition (a clock far off) land here.
CREATE TABLE audit_default PARTITION OF audit DEFAULT;
CREATE INDEX audit_chain_seq ON audit (chain, seq);
CREATE INDEX audit_id ON audit (id);
CREATE INDEX audit_time ON audit (time);
CREATE INDEX audit_jti ON audit (jti) WHERE jti <> '';
CREATE INDEX audit_sub ON audit (sub) WHERE sub <> '';
CREATE INDEX audit_event ON audit (event, outcome);

CREATE TABLE tree_hashes (
    chain TEXT NOT NULL,
    idx   BIGINT NOT NULL,
    hash  BYTEA NOT NULL,
    PRIMARY KEY (chain, idx)
);

CREATE TABLE tree_size (
    chain TEXT PRIMARY KEY,
    size  BIGINT NOT NULL
);

CREATE TABLE checkpoints (
    chain TEXT NOT NULL,
    size  BIGINT NOT NULL,
    root  BYTEA NOT NULL,
    note  BYTEA NOT NULL,
    time  BIGINT NOT NULL,
    PRIMARY KEY (chain, size)
);

CREATE TABLE meta (
    name  TEXT PRIMARY KEY,
    value BYTEA NOT NULL
);

CREATE TABLE clients (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    secret_hash BYTEA NOT NULL UNIQUE,
    scopes      TEXT NOT NULL,
    policy      BYTEA NOT NULL,
    created     BIGINT NOT NULL
);
