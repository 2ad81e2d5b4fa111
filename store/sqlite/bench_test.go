//go:build cgo

package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/jwtledger/jwtledger/internal/audit"
	"github.com/jwtledger/jwtledger/internal/store/storetest"
	"github.com/jwtledger/jwtledger/store"
	"github.com/jwtledger/jwtledger/store/sqlite"
)

// BenchmarkAppend measures the store's cost per record at several batch
// sizes (ns/op is per record; each batch is one transaction and fsync).
// Records are appended without tree hashes; BenchmarkBuildTree measures
// extending the tree over them, which checkpoints do in bulk.
func BenchmarkAppend(b *testing.B) {
	storetest.BenchAppend(b, func(b *testing.B) store.Store { return warmDB(b) })
}

// BenchmarkBuildTree measures extending the Merkle tree over appended
// records, per record, in steps of 1,000 records (the checkpoint cadence).
func BenchmarkBuildTree(b *testing.B) {
	db := warmDB(b)
	const step = 1000
	for i := 0; i < b.N; i += step {
		b.StopTimer()
		recs := make([]*audit.Record, step)
		for j := range recs {
			recs[j] = storetest.BenchRecord()
		}
		if err := db.Append(context.Background(), "n", recs); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := db.BuildTree(context.Background(), "n"); err != nil {
			b.Fatal(err)
		}
	}
}

// warmDB is a store holding 10,000 records (tree built), so index pages
// are realistic.
func warmDB(b *testing.B) *sqlite.DB {
	db, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "a.db"), sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	for range 100 {
		recs := make([]*audit.Record, 100)
		for i := range recs {
			recs[i] = storetest.BenchRecord()
		}
		if err := db.Append(context.Background(), "n", recs); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := db.BuildTree(context.Background(), "n"); err != nil {
		b.Fatal(err)
	}
	return db
}
