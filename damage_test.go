package jwtledger_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jwtledger/jwtledger"
	"github.com/jwtledger/jwtledger/auditor"
	"github.com/jwtledger/jwtledger/internal/service"
	"github.com/jwtledger/jwtledger/store"
	"github.com/jwtledger/jwtledger/trail"
)

// corrupt overwrites n pages of 4 KiB in the middle of the file at path.
func corrupt(t *testing.T, path string, n int) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	junk := []byte(strings.Repeat("\xde\xad\xbe\xef", 1024*n))
	off := (info.Size() / 2) &^ 4095
	if _, err := f.WriteAt(junk, off); err != nil {
		t.Fatal(err)
	}
}

// Page-level damage is a finding of audit verify (kind damaged, with the
// seq ranges that can and cannot be read), not a failure to verify; an
// integrity-checked Open (serve) refuses the file unless AllowDamaged,
// which opens it read-only.
func TestDamagedDatabase(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l, err := jwtledger.Open(ctx, jwtledger.Config{DataDir: dir, TextLog: "off"})
	if err != nil {
		t.Fatal(err)
	}
	for range 3000 {
		if _, err := l.Issue(ctx, jwtledger.IssueRequest{Subject: "damage", Audience: []string{"api"}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil { // folds the log into the database file
		t.Fatal(err)
	}
	corrupt(t, filepath.Join(dir, "jwtledger.db"), 4)

	l, err = jwtledger.Open(ctx, jwtledger.Config{DataDir: dir, TextLog: "off"})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := l.Trail().Verify(ctx, auditor.VerifyOptions{})
	l.Close()
	if err != nil {
		t.Fatalf("VerifyAudit: %v, want a report", err)
	}
	var found *auditor.Damage
	for i, d := range rep.Damage {
		if d.Kind == auditor.DamageDamaged {
			found = &rep.Damage[i]
		}
	}
	if rep.OK || found == nil {
		t.Fatalf("report of a damaged database: %+v", rep)
	}
	t.Logf("finding: %s at seq %d: %s", found.Kind, found.Seq, found.Detail)

	_, err = jwtledger.Open(ctx, jwtledger.Config{DataDir: dir, TextLog: "off", CheckIntegrity: true})
	if !errors.Is(err, store.ErrDamaged) || !strings.Contains(err.Error(), "--allow-damaged") {
		t.Fatalf("integrity-checked Open: %v, want ErrDamaged with a hint", err)
	}
	ro, err := jwtledger.Open(ctx, jwtledger.Config{DataDir: dir, TextLog: "off", CheckIntegrity: true, AllowDamaged: true})
	if err != nil {
		t.Fatalf("Open with AllowDamaged: %v", err)
	}
	defer ro.Close()
	if service.Of(ro).ReadOnly() == nil || ro.Ready(ctx) == nil {
		t.Fatal("a damaged ledger opened for inspection is not read-only and unready")
	}
	if _, err := ro.Issue(ctx, jwtledger.IssueRequest{Subject: "x"}); !errors.Is(err, jwtledger.ErrAudit) {
		t.Fatalf("issue on a read-only ledger: %v", err)
	}
	if recs, err := ro.Trail().Query(ctx, trail.Filter{Limit: 10}); err != nil || len(recs) == 0 {
		t.Fatalf("reading records of the damaged ledger: %d %v", len(recs), err)
	}
}
