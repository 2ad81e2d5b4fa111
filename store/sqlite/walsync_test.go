//go:build cgo

package sqlite

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/jwtledger/jwtledger/store"
)

// TestWALSync checks that the log syncer syncs the log SQLite has open,
// fails when there is none yet, and fails for good (an identity error) once
// the database file or the log at their paths are not the files opened:
// deleted, replaced, or the database truncated.
func TestWALSync(t *testing.T) {
	replace := func(path string) {
		tmp := path + ".new"
		os.WriteFile(tmp, []byte("other"), 0o600)
		os.Rename(tmp, path)
	}
	cases := []struct {
		name     string
		change   func(db, wal string)
		identity bool // an identity error, sticky
	}{
		{name: "unchanged"},
		{name: "database grown", change: func(db, _ string) { os.WriteFile(db, []byte("database pages and more"), 0o600) }},
		{name: "log deleted", change: func(_, wal string) { os.Remove(wal) }, identity: true},
		{name: "log replaced", change: func(_, wal string) { replace(wal) }, identity: true},
		{name: "database deleted", change: func(db, _ string) { os.Remove(db) }, identity: true},
		{name: "database replaced", change: func(db, _ string) { replace(db) }, identity: true},
		{name: "database truncated", change: func(db, _ string) { os.Truncate(db, 3) }, identity: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			db, wal := filepath.Join(dir, "a.db"), filepath.Join(dir, "a.db-wal")
			os.WriteFile(db, []byte("database pages"), 0o600)
			w := &walSync{path: wal, dbPath: db, raw: true}
			defer w.close()
			if err := w.identify(); err != nil {
				t.Fatal(err)
			}
			if err := w.sync(false); err == nil {
				t.Fatal("sync without a log: no error")
			}
			os.WriteFile(wal, []byte("frames"), 0o600)
			if err := w.sync(true); err != nil {
				t.Fatalf("sync: %v", err)
			}
			if c.change != nil {
				c.change(db, wal)
			}
			err := w.sync(true)
			if got := errors.Is(err, store.ErrIdentity); got != c.identity || (err != nil) != c.identity {
				t.Fatalf("sync after the change = %v, want identity error %v", err, c.identity)
			}
			if c.identity {
				os.WriteFile(db, []byte("database pages and more"), 0o600)
				if err := w.sync(false); !errors.Is(err, store.ErrIdentity) {
					t.Fatalf("identity error not sticky: %v", err)
				}
			}
		})
	}
}
