//go:build cgo

package sqlite_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"

	"github.com/jwtledger/jwtledger/internal/store/storetest"
	"github.com/jwtledger/jwtledger/store"
	"github.com/jwtledger/jwtledger/store/internal/tables"
	"github.com/jwtledger/jwtledger/store/sqlite"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Backend{New: func(t *testing.T) storetest.Location {
		path := filepath.Join(t.TempDir(), "jwtledger.db")
		openWith := func(t *testing.T, index bool) store.Store {
			db, err := sqlite.Open(context.Background(), path, sqlite.Options{AuditIndex: index})
			if err != nil {
				t.Fatal(err)
			}
			return db
		}
		open := func(t *testing.T) store.Store { return openWith(t, true) }
		exec := func(t *testing.T, query string, args ...any) { execOn(t, path, query, args...) }
		// The index's tables are in the index file, which names the
		// database's records by id: ATTACH it.
		execIndex := func(t *testing.T, query string, args ...any) {
			raw, err := sql.Open("sqlite3", path+"?_busy_timeout=10000")
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			raw.SetMaxOpenConns(1)
			if _, err := raw.Exec("ATTACH DATABASE ? AS idx", sqlite.IndexPath(path)); err != nil {
				t.Fatal(err)
			}
			if _, err := raw.Exec(query, args...); err != nil {
				t.Fatal(query, err)
			}
		}
		return storetest.Location{
			Open:         open,
			OpenIndexOff: func(t *testing.T) store.Store { return openWith(t, false) },
			IndexRows: func(t *testing.T) int64 {
				if _, err := os.Stat(sqlite.IndexPath(path)); os.IsNotExist(err) {
					return 0 // the index never on
				}
				raw, err := sql.Open("sqlite3", sqlite.IndexPath(path)+"?_busy_timeout=10000")
				if err != nil {
					t.Fatal(err)
				}
				defer raw.Close()
				var n int64
				if err := raw.QueryRow("SELECT (SELECT count(*) FROM audit_index) + (SELECT count(*) FROM audit_indexed)").Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n
			},
			OpenIdle: func(t *testing.T) store.Store {
				defer sqlite.SetIndexer(sqlite.SetIndexer(false))
				return open(t)
			},
			RewindIndex: func(t *testing.T, chain string, seq int64) {
				execIndex(t, "DELETE FROM audit_index WHERE id IN (SELECT id FROM audit WHERE chain = ? AND seq > ?)", chain, seq)
				if seq == 0 {
					execIndex(t, "DELETE FROM audit_indexed WHERE chain = ?", chain)
					return
				}
				execIndex(t, "UPDATE audit_indexed SET seq = ?, leaf = (SELECT leaf FROM audit WHERE chain = ? AND seq = ?) WHERE chain = ?", seq, chain, seq, chain)
			},
			ForgeIndexEntry: func(t *testing.T, chain string, seq int64, member string, value ...string) {
				execIndex(t, "INSERT INTO audit_index (run, key, id) SELECT id >> ?, ?, id FROM audit WHERE chain = ? AND seq = ?", sqlite.Dialect.IndexRunShift, tables.IndexKey(member, value...), chain, seq)
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
			TreeRows: func(t *testing.T, chain string) []int64 {
				raw, err := sql.Open("sqlite3", path)
				if err != nil {
					t.Fatal(err)
				}
				defer raw.Close()
				return queryInts(t, raw, "SELECT idx FROM tree_hashes WHERE chain = ?", chain)
			},
			PutTreeHashes: func(t *testing.T, chain string, idxs []int64, hash []byte) {
				for _, idx := range idxs {
					exec(t, "INSERT OR REPLACE INTO tree_hashes (chain, idx, hash) VALUES (?, ?, ?)", chain, idx, hash)
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

// execOn runs query on the database at path.
func execOn(t *testing.T, path, query string, args ...any) {
	t.Helper()
	raw, err := sql.Open("sqlite3", path+"?_busy_timeout=10000")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(query, args...); err != nil {
		t.Fatal(query, err)
	}
}

func queryInts(t *testing.T, db *sql.DB, query string, args ...any) []int64 {
	t.Helper()
	rows, err := db.Query(query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var n int64
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
