//go:build !cgo

// Package sqlite is the embedded store. This build has no cgo, which the
// SQLite driver needs: Open always fails with [ErrNoCgo], and the rest of
// jwtledger (a postgres:// store) works.
package sqlite

import (
	"context"
	"errors"

	"github.com/jwtledger/jwtledger/internal/store"
)

// ErrNoCgo is the error of Open in a binary built with CGO_ENABLED=0.
var ErrNoCgo = errors.New("the embedded SQLite store needs cgo, and this binary was built with CGO_ENABLED=0 (hint: build with CGO_ENABLED=1 and a C compiler such as gcc, or use a postgres:// store)")

// DB stands for the embedded store in a build without it.
type DB struct{ store.Store }

// Open fails with [ErrNoCgo].
func Open(ctx context.Context, path string) (*DB, error) { return nil, ErrNoCgo }

// SetRawSync does nothing without the embedded store.
func SetRawSync(on bool) {}
