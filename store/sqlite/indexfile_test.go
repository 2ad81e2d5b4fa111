//go:build cgo

package sqlite_test

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/jwtledger/jwtledger/internal/audit"
	"github.com/jwtledger/jwtledger/store/sqlite"
)

// The index file is derived data: whatever became of it between two
// opens (deleted, another ledger's, garbage, cut short, or the database
// restored from a backup older than it), the store opens, says why it
// built the index again, answers every filter exactly before the index
// has caught up and after, and indexes every record again. A file left
// alone is kept.
func TestIndexFileRebuiltAtOpen(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		damage  func(t *testing.T, path, backup, other string)
		rebuilt bool
	}{
		{"kept", func(t *testing.T, path, backup, other string) {}, false},
		{"deleted", func(t *testing.T, path, backup, other string) {
			for _, p := range []string{"", "-wal", "-shm"} {
				if err := os.Remove(sqlite.IndexPath(path) + p); err != nil && !os.IsNotExist(err) {
					t.Fatal(err)
				}
			}
		}, true},
		{"another ledger's", func(t *testing.T, path, backup, other string) {
			copyFile(t, sqlite.IndexPath(other), sqlite.IndexPath(path))
		}, true},
		{"garbage", func(t *testing.T, path, backup, other string) {
			junk := make([]byte, 64<<10)
			for i := range junk {
				junk[i] = byte(i*7 + 3)
			}
			if err := os.WriteFile(sqlite.IndexPath(path), junk, 0o600); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"cut short", func(t *testing.T, path, backup, other string) {
			fi, err := os.Stat(sqlite.IndexPath(path))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(sqlite.IndexPath(path), fi.Size()/2/4096*4096); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"database restored from an older backup", func(t *testing.T, path, backup, other string) {
			copyFile(t, backup, path)
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path, backup, other := filepath.Join(dir, "a.db"), filepath.Join(dir, "backup.db"), filepath.Join(dir, "other.db")
			// Another ledger with as many records, indexed.
			o, err := sqlite.Open(ctx, other, sqlite.Options{AuditIndex: true})
			if err != nil {
				t.Fatal(err)
			}
			appendIndexed(t, o, "n", 0, 3000)
			o.Close()

			db, err := sqlite.Open(ctx, path, sqlite.Options{AuditIndex: true})
			if err != nil {
				t.Fatal(err)
			}
			appendIndexed(t, db, "n", 0, 1500)
			appendIndexed(t, db, "m", 0, 300)
			if _, err := db.CatchUpIndex(ctx, -1); err != nil {
				t.Fatal(err)
			}
			db.Close()
			copyFile(t, path, backup)
			db, err = sqlite.Open(ctx, path, sqlite.Options{AuditIndex: true})
			if err != nil {
				t.Fatal(err)
			}
			appendIndexed(t, db, "n", 1500, 1500)
			if _, err := db.CatchUpIndex(ctx, -1); err != nil {
				t.Fatal(err)
			}
			db.Close()

			tc.damage(t, path, backup, other)

			defer sqlite.SetIndexer(sqlite.SetIndexer(false)) // the index stays where open left it
			db, err = sqlite.Open(ctx, path, sqlite.Options{AuditIndex: true})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if why := db.IndexRebuilt(); (why != "") != tc.rebuilt {
				t.Fatalf("IndexRebuilt() = %q, want a reason: %v", why, tc.rebuilt)
			}
			heads := map[string]int64{}
			for _, c := range []string{"n", "m"} {
				if heads[c], err = db.TreeSize(ctx, c); err != nil {
					t.Fatal(err)
				}
			}
			marks, err := db.IndexedUpTo(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if tc.rebuilt && len(marks) != 0 || !tc.rebuilt && !maps.Equal(marks, heads) {
				t.Fatalf("marks at open %v (heads %v), rebuilt: %v", marks, heads, tc.rebuilt)
			}
			off, err := sqlite.Open(ctx, path, sqlite.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer off.Close()
			sameAnswers(t, db, off, "at open")
			if _, err := db.CatchUpIndex(ctx, -1); err != nil {
				t.Fatal(err)
			}
			if marks, err := db.IndexedUpTo(ctx); err != nil || !maps.Equal(marks, heads) {
				t.Fatalf("marks after catching up %v, %v; want %v", marks, err, heads)
			}
			sameAnswers(t, db, off, "caught up")
		})
	}
}

// The index file deleted while the store runs: no record is lost and
// every filter is still answered exactly (by a scan once the index
// cannot be read), appends go on, and the next open builds it again.
func TestIndexFileDeletedWhileOpen(t *testing.T) {
	ctx := context.Background()
	db, path := openIndexed(t)
	appendIndexed(t, db, "n", 0, 2000)
	if _, err := db.CatchUpIndex(ctx, -1); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"", "-wal", "-shm"} {
		if err := os.Remove(sqlite.IndexPath(path) + p); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
	appendIndexed(t, db, "n", 2000, 300)
	off, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer off.Close()
	sameAnswers(t, db, off, "deleted while open")
	db.Close()
	again, err := sqlite.Open(ctx, path, sqlite.Options{AuditIndex: true})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if again.IndexRebuilt() == "" {
		t.Fatal("the deleted index file was not built again")
	}
	if _, err := again.CatchUpIndex(ctx, -1); err != nil {
		t.Fatal(err)
	}
	if marks, err := again.IndexedUpTo(ctx); err != nil || marks["n"] != 2300 {
		t.Fatalf("marks %v, %v; want n at 2300", marks, err)
	}
	sameAnswers(t, again, off, "rebuilt")
}

// appendIndexed appends n records to chain, numbered from first: subject
// u<i%40>, jti j<i>, request id r<i>, every 50th an auth.denied.
func appendIndexed(t *testing.T, db *sqlite.DB, chain string, first, n int) {
	t.Helper()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var batch []*audit.Record
	for i := first; i < first+n; i++ {
		r := &audit.Record{Time: at.Add(time.Duration(i) * time.Millisecond), Event: audit.TokenIssue, Outcome: audit.OK, Actor: "c",
			Sub: "u" + strconv.Itoa(i%40), JTI: chain + "j" + strconv.Itoa(i), RequestID: chain + "r" + strconv.Itoa(i), Alg: "ES256"}
		if i%50 == 0 {
			r.Event, r.Outcome = audit.AuthDenied, "bad_client"
		}
		batch = append(batch, r)
		if len(batch) == 256 || i == first+n-1 {
			if err := db.Append(context.Background(), chain, batch); err != nil {
				t.Fatal(err)
			}
			batch = nil
		}
	}
}

// sameAnswers checks that db answers every filter as off (the index off:
// a scan of the records) does.
func sameAnswers(t *testing.T, db, off *sqlite.DB, when string) {
	t.Helper()
	ctx := context.Background()
	var filters []audit.Filter
	for _, f := range []audit.Filter{{Sub: "u7"}, {JTI: "nj1499"}, {JTI: "nj2999"}, {JTI: "mj10"}, {RequestID: "nr1501"}, {RequestID: "nr2299"},
		{Event: audit.AuthDenied}, {Outcome: "bad_client", Chain: "m"}, {Sub: "u3", Event: audit.TokenIssue}, {Sub: "nobody"}} {
		for _, limit := range []int{0, 7} {
			f.Limit = limit
			filters = append(filters, f)
			f.Newest = true
			filters = append(filters, f)
			f.Newest = false
		}
	}
	ids := func(rs []*audit.Record) []int64 {
		out := make([]int64, len(rs))
		for i, r := range rs {
			out[i] = r.ID
		}
		return out
	}
	for _, f := range filters {
		want, err := off.Query(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		got, err := db.Query(ctx, f)
		if err != nil {
			t.Fatalf("%s: filter %+v: %v", when, f, err)
		}
		if !slices.Equal(ids(got), ids(want)) {
			t.Errorf("%s: filter %+v: ids %v, the scan finds %v", when, f, ids(got), ids(want))
		}
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
