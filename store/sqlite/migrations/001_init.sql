-- Managed keys: public part in the clear, private part sealed (AES-256-GCM).
CREATE TABLE keys (
    kid     TEXT PRIMARY KEY,
    alg     TEXT NOT NULL,
    state   TEXT NOT NULL CHECK (state IN ('active', 'verify-only', 'retired')),
    created INTEGER NOT NULL,            -- Unix ns
    rotated INTEGER NOT NULL DEFAULT 0,  -- Unix ns, 0 while active
    public  BLOB,
    sealed  BLOB NOT NULL
) STRICT;

-- Revocations are keyed on (iss, jti), never on the token text.
CREATE TABLE revocations (
    iss        TEXT NOT NULL,
    jti        TEXT NOT NULL,
    exp        INTEGER NOT NULL,  -- Unix s, 0 when unknown
    revoked_at INTEGER NOT NULL,  -- Unix ns
    PRIMARY KEY (iss, jti)
) STRICT, WITHOUT ROWID;

-- The audit ledger. body is the canonical record encoding, leaf its RFC 6962
-- leaf hash. Only chain, seq and time are copied into columns (ordered keys,
-- cheap to index); other filters read the body.
CREATE TABLE audit (
    id      INTEGER PRIMARY KEY,
    chain   TEXT NOT NULL,
    seq     INTEGER NOT NULL,
    time    INTEGER NOT NULL,  -- Unix ns
    body    BLOB NOT NULL,
    leaf    BLOB NOT NULL,
    UNIQUE (chain, seq)
) STRICT;
CREATE INDEX audit_time ON audit (time);
