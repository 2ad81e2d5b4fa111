-- When a pre-published key (state verify-only, already in the JWKS) becomes
-- the active signing key; 0 for every other key.
ALTER TABLE keys ADD COLUMN activates INTEGER NOT NULL DEFAULT 0;
