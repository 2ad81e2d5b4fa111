//go:build !cgo

// Package sqlite is the embedded store. This build has no cgo, which the
// SQLite driver needs: Open always fails with [ErrNoCgo], and the rest of
// jwtledger (a postgres:// store) works.
package sqlite

import (
	"context"
	"errors"

	"github.com/jwtledger/jwtledger/store"
)

// ErrNoCgo is the error of Open in a binary built with CGO_ENABLED=0.
var ErrNoCgo = errors.New("the embedded SQLite store needs cgo, and this binary was built with CGO_ENABLED=0 (hint: build with CGO_ENABLED=1 and a C compiler such as gcc, or use a postgres:// store)")

// DB stands for the embedded store in a build without it.
type DB struct{ store.Backend }

// Options are the settings of the embedded store (unused in this build).
type Options struct {
	RawSync    bool
	MinFree    int64
	AuditIndex bool
}

func init() { store.Register("sqlite", Opener(Options{})) }

// Opener returns an opener that fails with [ErrNoCgo].
func Opener(o Options) store.Opener {
	return func(context.Context, string, store.Options) (store.Backend, error) { return nil, ErrNoCgo }
}

// Open fails with [ErrNoCgo].
func Open(ctx context.Context, path string, o Options) (*DB, error) { return nil, ErrNoCgo }

// Repack fails with [ErrNoCgo].
func (db *DB) Repack(ctx context.Context, vacuum bool, progress func(done, total int64)) (*RepackReport, error) {
	return nil, ErrNoCgo
}

// CheckLedger fails with [ErrNoCgo].
func CheckLedger(ctx context.Context, path string) error { return ErrNoCgo }
