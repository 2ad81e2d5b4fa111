-- API clients: the secret is stored only as its SHA-256 (secrets are 256-bit
-- random, so a slow hash buys nothing); policy is JSON.
CREATE TABLE clients (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    secret_hash BLOB NOT NULL UNIQUE,
    scopes      TEXT NOT NULL,  -- space-separated
    policy      BLOB NOT NULL,  -- JSON: audiences, max_ttl, claims, token_scopes
    created     INTEGER NOT NULL
) STRICT;
