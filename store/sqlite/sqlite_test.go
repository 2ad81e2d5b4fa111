//go:build cgo

package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/jwtledger/jwtledger/internal/store/storetest"
	"github.com/jwtledger/jwtledger/store"
	"github.com/jwtledger/jwtledger/store/sqlite"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Backend{New: func(t *testing.T) storetest.Location {
		path := filepath.Join(t.TempDir(), "jwtledger.db")
		return storetest.Location{
			Open: func(t *testing.T) store.Store {
				db, err := sqlite.Open(context.Background(), path, sqlite.Options{})
				if err != nil {
					t.Fatal(err)
				}
				return db
			},
			DeleteRecord: func(t *testing.T, chain string, seq int64) {
				raw, err := sql.Open("sqlite3", path)
				if err != nil {
					t.Fatal(err)
				}
				defer raw.Close()
				if _, err := raw.Exec("DELETE FROM audit WHERE chain = ? AND seq = ?", chain, seq); err != nil {
					t.Fatal(err)
				}
			},
			DropCounts: func(t *testing.T) { // back to schema 5
				raw, err := sql.Open("sqlite3", path)
				if err != nil {
					t.Fatal(err)
				}
				defer raw.Close()
				for _, stmt := range []string{"DROP TABLE checkpoint_cosignatures", "DROP TABLE witness_state", "DROP TABLE audit_counted", "DROP TABLE audit_minutes", "DROP TABLE audit_hours", "DROP TABLE audit_subjects", "PRAGMA user_version = 5"} {
					if _, err := raw.Exec(stmt); err != nil {
						t.Fatal(stmt, err)
					}
				}
			},
		}
	}})
}
