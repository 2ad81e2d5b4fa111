//go:build cgo

package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/jwtledger/jwtledger/internal/store"
	"github.com/jwtledger/jwtledger/internal/store/sqlite"
	"github.com/jwtledger/jwtledger/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Backend{New: func(t *testing.T) storetest.Location {
		path := filepath.Join(t.TempDir(), "jwtledger.db")
		return storetest.Location{
			Open: func(t *testing.T) store.Store {
				db, err := sqlite.Open(context.Background(), path)
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
		}
	}})
}
