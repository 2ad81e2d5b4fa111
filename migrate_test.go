package jwtledger_test

import (
	"context"
	"crypto/rand"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jwtledger/jwtledger"
	"github.com/jwtledger/jwtledger/auditor"
	"github.com/jwtledger/jwtledger/internal/store/pgtest"
	"github.com/jwtledger/jwtledger/store"
	"github.com/jwtledger/jwtledger/token"
	"github.com/jwtledger/jwtledger/trail"
)

func TestMigrateSQLiteToPostgres(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Database(t)
	master := make([]byte, 32)
	rand.Read(master)
	dir := t.TempDir()
	cfg := jwtledger.Config{DataDir: dir, MasterKey: master, NodeID: "node-old", CheckpointEvery: 500}
	old, err := jwtledger.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	first, err := old.Issue(ctx, jwtledger.IssueRequest{Subject: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	revoked, err := old.Issue(ctx, jwtledger.IssueRequest{Subject: "mallory"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.Revoke(ctx, "", revoked.JTI, revoked.ExpiresAt, jwtledger.Meta{}); err != nil {
		t.Fatal(err)
	}
	creds, _, err := old.CreateClient(ctx, jwtledger.NewClient{Name: "svc", Scopes: []string{"tokens:issue"}}, jwtledger.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.RotateKey(ctx, "", jwtledger.Meta{}); err != nil {
		t.Fatal(err)
	}
	for range 1200 {
		if _, err := old.Issue(ctx, jwtledger.IssueRequest{Subject: "bulk"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := old.Trail().Checkpoint(ctx, trail.Meta{}); err != nil {
		t.Fatal(err)
	}
	oldRecs, err := old.Trail().Query(ctx, trail.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	old.Close()

	var progressed int64
	rep, err := store.MigrateSpecs(ctx, "sqlite:"+filepath.Join(dir, "jwtledger.db"), dsn, func(done, total int64) { progressed = done })
	if err != nil {
		t.Fatal(err)
	}
	if rep.Records != int64(len(oldRecs)) || progressed != rep.Records || rep.Keys != 2 || rep.Clients != 1 || rep.Revocations != 1 || len(rep.Chains) != 1 || rep.Chains[0].Checkpoints < 2 {
		t.Fatalf("report %+v (progress %d), source had %d records", rep, progressed, len(oldRecs))
	}

	// The migrated ledger is the same ledger.
	moved, err := jwtledger.Open(ctx, jwtledger.Config{DataDir: t.TempDir(), Store: dsn, MasterKey: master, NodeID: "node-old"})
	if err != nil {
		t.Fatal(err)
	}
	defer moved.Close()
	audit, err := moved.Trail().Verify(ctx, auditor.VerifyOptions{})
	if err != nil || !audit.OK || audit.Records != int64(len(oldRecs)) {
		t.Fatalf("audit verify after migration: %v %+v", err, audit)
	}
	if _, err := moved.Verify(ctx, first.Token); err != nil {
		t.Fatalf("a token of the old store: %v", err)
	}
	if _, err := moved.Verify(ctx, revoked.Token); !errors.Is(err, token.ErrRevoked) {
		t.Fatalf("a token revoked in the old store: %v", err)
	}
	if _, err := moved.Authenticate(ctx, creds.ID, creds.Secret); err != nil {
		t.Fatalf("a client of the old store: %v", err)
	}
	if _, err := moved.Issue(ctx, jwtledger.IssueRequest{Subject: "after"}); err != nil {
		t.Fatal(err)
	}

	// Never into a database that holds a ledger.
	if _, err := store.MigrateSpecs(ctx, "sqlite:"+filepath.Join(dir, "jwtledger.db"), dsn, nil); err == nil || !strings.Contains(err.Error(), "already holds a ledger") {
		t.Fatalf("second migration into the same database: %v", err)
	}
}
