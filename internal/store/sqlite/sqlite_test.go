package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/jwtledger/jwtledger/internal/audit"
	"github.com/jwtledger/jwtledger/internal/store/sqlite"
)

func openAt(t *testing.T, path string) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func batch(n int) []*audit.Record {
	recs := make([]*audit.Record, n)
	for i := range recs {
		recs[i] = benchRecord()
	}
	return recs
}

// Two handles on one file stand for two processes on one data directory:
// each remembers the chain head of its own last commit, and the other's
// appends must neither collide with nor leave gaps in the sequence.
func TestAppendFromTwoHandlesStaysGapless(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "a.db")
	a, b := openAt(t, path), openAt(t, path)
	sizes := []struct {
		db *sqlite.DB
		n  int
	}{{a, 3}, {b, 5}, {a, 1}, {a, 70}, {b, 2}, {a, 4}, {b, 64}, {b, 1}}
	total := 0
	for i, s := range sizes {
		recs := batch(s.n)
		if err := s.db.Append(ctx, "n", recs); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		for j, r := range recs {
			if want := uint64(total + j + 1); r.Seq != want {
				t.Fatalf("append %d record %d: seq %d, want %d", i, j, r.Seq, want)
			}
		}
		total += s.n
	}
	var seqs []int64
	if err := a.ScanChain(ctx, "n", func(seq int64, body, leaf []byte) error {
		seqs = append(seqs, seq)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(seqs) != total {
		t.Fatalf("%d records stored, want %d", len(seqs), total)
	}
	for i, s := range seqs {
		if s != int64(i+1) {
			t.Fatalf("record %d has seq %d", i, s)
		}
	}
}

// Records are appended without tree hashes; BuildTree extends the tree over
// them in bulk, and the stored tree gives the root computed from the leaves.
func TestBuildTreeCoversAppendedRecords(t *testing.T) {
	ctx := context.Background()
	db := openAt(t, filepath.Join(t.TempDir(), "a.db"))
	var leaves []tlog.Hash
	for _, n := range []int{1, 6, 4097, 30} {
		recs := batch(n)
		if err := db.Append(ctx, "n", recs); err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			leaves = append(leaves, tlog.Hash(r.LeafHash))
		}
		if built, err := db.TreeBuilt(ctx, "n"); err != nil || built != int64(len(leaves)-n) {
			t.Fatalf("before BuildTree: built %d, %v; want %d", built, err, len(leaves)-n)
		}
		size, err := db.BuildTree(ctx, "n")
		if err != nil || size != int64(len(leaves)) {
			t.Fatalf("BuildTree = %d, %v; want %d", size, err, len(leaves))
		}
		got, err := tlog.TreeHash(size, db.HashReader(ctx, "n"))
		if err != nil {
			t.Fatal(err)
		}
		if want := rootOf(leaves); got != want {
			t.Fatalf("root of %d records: stored tree %x, leaves %x", size, got, want)
		}
	}
	// Nothing new: BuildTree is a no-op.
	if size, err := db.BuildTree(ctx, "n"); err != nil || size != int64(len(leaves)) {
		t.Fatalf("second BuildTree = %d, %v", size, err)
	}
}

// A missing record stops the tree where it is, with an error naming it.
func TestBuildTreeStopsAtMissingRecord(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "a.db")
	db := openAt(t, path)
	if err := db.Append(ctx, "n", batch(10)); err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec("DELETE FROM audit WHERE chain = 'n' AND seq = 7"); err != nil {
		t.Fatal(err)
	}
	size, err := db.BuildTree(ctx, "n")
	if err == nil || size != 0 {
		t.Fatalf("BuildTree over a gap = %d, %v; want 0 and an error", size, err)
	}
	if want := "record 7 is missing"; !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not say %q", err, want)
	}
}

// rootOf computes the RFC 6962 root of leaves independently of the store.
func rootOf(leaves []tlog.Hash) tlog.Hash {
	if len(leaves) == 1 {
		return leaves[0]
	}
	k := 1
	for k*2 < len(leaves) {
		k *= 2
	}
	return tlog.NodeHash(rootOf(leaves[:k]), rootOf(leaves[k:]))
}
