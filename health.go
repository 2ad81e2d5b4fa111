package jwtledger

import (
	"github.com/jwtledger/jwtledger/internal/datadir"
	"github.com/jwtledger/jwtledger/store"
)

// ErrStoreLost means the ledger's store is no longer the one it opened (its
// database file was deleted, replaced or truncated, or it holds another
// ledger): every operation fails until the process is restarted on a store
// that is the ledger's own.
var ErrStoreLost = store.ErrIdentity

// ErrDamaged means the store's file is damaged (SQLite: "database disk
// image is malformed"); see Config.CheckIntegrity and the damage of kind
// "damaged" that [Ledger.VerifyAudit] reports.
var ErrDamaged = store.ErrDamaged

// ErrMissingDatabase means the data directory belongs to a ledger whose
// database file is gone: Open refuses to create a new, empty one there.
var ErrMissingDatabase = datadir.ErrMissingDatabase
