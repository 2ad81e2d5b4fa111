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

// TestMissingDatabaseHint: a data directory whose database is gone is
// refused, and the hint says what a restart needs: the rescued copy moved
// into place and, when the lost file's write-ahead log is still at its
// name (a rescue by an older release, or one that could not set it aside),
// that log moved away first, since SQLite would replay it onto the copy.
func TestMissingDatabaseHint(t *testing.T) {
	cases := []struct {
		name          string
		rescued, wal  bool
		want, wantNot []string
	}{
		{"nothing saved", false, false, []string{"restore the database from a backup"}, []string{".rescued-", "-wal"}},
		{"a rescued copy", true, false, []string{".rescued-2026", "move it to"}, []string{"-wal"}},
		{"a rescued copy and the lost file's log", true, true, []string{".rescued-2026", "jwtledger.db-wal", "jwtledger.db-shm", "first move away"}, nil},
		{"the lost file's log alone", false, true, []string{"restore the database from a backup", "jwtledger.db-wal"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			l, err := jwtledger.Open(ctx, jwtledger.Config{DataDir: dir})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := l.Issue(ctx, jwtledger.IssueRequest{Subject: "s"}); err != nil {
				t.Fatal(err)
			}
			l.Close()
			db := filepath.Join(dir, "jwtledger.db")
			if c.rescued {
				if err := os.Rename(db, db+".rescued-20261203T120000Z"); err != nil {
					t.Fatal(err)
				}
			} else if err := os.Remove(db); err != nil {
				t.Fatal(err)
			}
			if c.wal {
				for _, f := range []string{db + "-wal", db + "-shm"} {
					if err := os.WriteFile(f, []byte("stale"), 0o600); err != nil {
						t.Fatal(err)
					}
				}
			}
			_, err = jwtledger.Open(ctx, jwtledger.Config{DataDir: dir})
			if !errors.Is(err, jwtledger.ErrMissingDatabase) {
				t.Fatalf("open: %v, want ErrMissingDatabase", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			for _, w := range c.wantNot {
				if strings.Contains(err.Error(), w) {
					t.Errorf("error %q says %q", err, w)
				}
			}
		})
	}
}
