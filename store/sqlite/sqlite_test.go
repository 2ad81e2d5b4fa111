//go:build cgo

package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/jwtledger/jwtledger/internal/audit"
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
		}
	}})
}

// A ledger made before the aggregate tables gets them filled from its
// records when it is opened (migration 006).
func TestCountsMigrationFillsFromRecords(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "jwtledger.db")
	db, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)
	var recs []*audit.Record
	for i := range 50 {
		recs = append(recs, &audit.Record{Time: base.Add(time.Duration(i) * 7 * time.Second), Event: audit.TokenVerify,
			Outcome: []string{"valid", "expired"}[i%2], Actor: "c" + strconv.Itoa(i%3), Sub: "u" + strconv.Itoa(i%4)})
	}
	if err := db.Append(ctx, "a", recs); err != nil {
		t.Fatal(err)
	}
	q := audit.CountQuery{Since: base, Step: audit.StepMinute}
	want, err := db.Counts(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	// Back to schema 5: no aggregate tables.
	raw, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{"DROP TABLE audit_counted", "DROP TABLE audit_minutes", "DROP TABLE audit_hours", "DROP TABLE audit_subjects", "PRAGMA user_version = 5"} {
		if _, err := raw.Exec(stmt); err != nil {
			t.Fatal(stmt, err)
		}
	}
	raw.Close()
	db, err = sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	got, err := db.Counts(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) || len(got.Series) == 0 {
		t.Fatalf("after migration:\n got %+v\nwant %+v", got, want)
	}
}
