package jwtledger

import "github.com/jwtledger/jwtledger/internal/datadir"

// ErrMissingDatabase means the data directory belongs to a ledger whose
// database file is gone: Open refuses to create a new, empty one there.
var ErrMissingDatabase = datadir.ErrMissingDatabase
