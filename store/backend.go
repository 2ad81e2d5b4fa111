package store

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

// Backend is an open storage backend: the [Store] and the set of what else
// it can do. The ledger owns the backend it is given and closes it.
type Backend interface {
	Store
	// Capabilities is what the backend provides beyond [Store]; it does
	// not change while the backend is open.
	Capabilities() Capabilities
}

// Capabilities is what a backend provides beyond [Store]: a nil field
// means the backend cannot do that. Backends fill it with themselves
// (sqlite: Prober, Rescuer, Damage, Cosignatures, Ranges; postgres: Prober,
// Watcher, Maintainer, Importer, Cosignatures, Ranges), so callers need no runtime type assertion.
type Capabilities struct {
	Prober     Prober
	Rescuer    Rescuer
	Damage     Damageable
	Watcher    Watcher
	Maintainer Maintainer
	Importer   Importer
	// Cosignatures keeps witnesses' cosignatures of the checkpoints (both
	// backends).
	Cosignatures Cosignatures
	// Ranges reads a chain's records by seq range, several at once (both
	// backends): audit verify reads and checks ranges on several cores.
	Ranges RangeScanner
}

// Options are the settings the ledger passes to an [Opener].
type Options struct {
	// DataDir is the ledger's data directory (where "sqlite:" puts its
	// database).
	DataDir string
	// MinFree is the free space, in bytes, the store's file system must
	// keep for a probe to pass (embedded stores): 0 is the backend's
	// default, negative disables the check.
	MinFree int64
}

// Opener opens the store that spec names; spec starts with the scheme the
// opener was registered under ("sqlite:PATH", "postgres://...").
type Opener func(ctx context.Context, spec string, o Options) (Backend, error)

var (
	openersMu sync.RWMutex
	openers   = map[string]Opener{}
)

// Register makes the store specs of scheme openable by [Open]. Backend
// packages register themselves when imported (store/sqlite as "sqlite",
// store/postgres as "postgres" and "postgresql"), as database/sql drivers
// do; registering a scheme twice panics.
func Register(scheme string, open Opener) {
	openersMu.Lock()
	defer openersMu.Unlock()
	if open == nil {
		panic("store: Register opener is nil")
	}
	if _, dup := openers[scheme]; dup {
		panic("store: Register called twice for scheme " + scheme)
	}
	openers[scheme] = open
}

// Scheme is the scheme of a store spec: "sqlite" for "" and "sqlite:PATH",
// "postgres" for "postgres://...".
func Scheme(spec string) string {
	if spec == "" {
		return "sqlite"
	}
	s, _, ok := strings.Cut(spec, ":")
	if !ok {
		return ""
	}
	return s
}

// Open opens the store that spec names with the opener registered for its
// scheme.
func Open(ctx context.Context, spec string, o Options) (Backend, error) {
	scheme := Scheme(spec)
	openersMu.RLock()
	open := openers[scheme]
	openersMu.RUnlock()
	if open == nil {
		return nil, &UnknownSchemeError{Scheme: scheme, Registered: registered()}
	}
	return open(ctx, spec, o)
}

func registered() []string {
	openersMu.RLock()
	defer openersMu.RUnlock()
	out := make([]string, 0, len(openers))
	for s := range openers {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// UnknownSchemeError is the error of [Open] for a spec whose scheme no
// imported backend registered.
type UnknownSchemeError struct {
	Scheme     string
	Registered []string
}

func (e *UnknownSchemeError) Error() string {
	if e.Scheme == "sqlite" || e.Scheme == "postgres" || e.Scheme == "postgresql" {
		pkg := e.Scheme
		if pkg == "postgresql" {
			pkg = "postgres"
		}
		return fmt.Sprintf("no %s store in this program (hint: import _ \"github.com/jwtledger/jwtledger/store/%s\", or set Config.OpenStore)", e.Scheme, pkg)
	}
	what := "a store spec without a scheme"
	if e.Scheme != "" {
		what = fmt.Sprintf("the store scheme %q", e.Scheme+":")
	}
	return fmt.Sprintf("unsupported store: %s (want sqlite:PATH or postgres://...; this program has: %s)", what, strings.Join(e.Registered, ", "))
}

// FilePath is the database file of an embedded store spec: "" and
// "sqlite:" name dataDir/jwtledger.db, "sqlite:PATH" and "sqlite://PATH"
// name PATH. It is "" for any other spec.
func FilePath(spec, dataDir string) string {
	switch {
	case spec == "" || spec == "sqlite:":
		return filepath.Join(dataDir, "jwtledger.db")
	case strings.HasPrefix(spec, "sqlite://"):
		return strings.TrimPrefix(spec, "sqlite://")
	case strings.HasPrefix(spec, "sqlite:"):
		return strings.TrimPrefix(spec, "sqlite:")
	}
	return ""
}
