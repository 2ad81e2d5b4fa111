package jwtledger_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/jwtledger/jwtledger"
	"github.com/jwtledger/jwtledger/store"
	_ "github.com/jwtledger/jwtledger/store/postgres" // the tests open stores by spec, as the jwtledger command does
	"github.com/jwtledger/jwtledger/store/sqlite"
)

// Config.OpenStore opens the store in place of the registered backend,
// with the spec and the ledger's options.
func TestOpenStoreOpensTheStore(t *testing.T) {
	dir := t.TempDir()
	spec := "sqlite:" + filepath.Join(dir, "other.db")
	var calls []string
	var got store.Options
	open := func(ctx context.Context, s string, o store.Options) (store.Backend, error) {
		calls, got = append(calls, s), o
		return sqlite.Opener(sqlite.Options{RawSync: true})(ctx, s, o)
	}
	l, err := jwtledger.Open(context.Background(), jwtledger.Config{DataDir: dir, Store: spec, OpenStore: open, MinFreeSpace: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if len(calls) != 1 || calls[0] != spec || got.DataDir != dir || got.MinFree != -1 {
		t.Fatalf("OpenStore calls %q with %+v, want one with %q, DataDir %s, MinFree -1", calls, got, spec, dir)
	}
	if _, err := l.Issue(context.Background(), jwtledger.IssueRequest{Subject: "a"}); err != nil {
		t.Fatal(err)
	}
}
