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
	storetest.BenchAppend(b, func(b *testing.B) store.Store { return warmDB(b, sqlite.Options{}) })
}

// BenchmarkAppendIndexed is BenchmarkAppend with the audit index on: its
// follower runs beside the appends, as in a server with --audit-index.
func BenchmarkAppendIndexed(b *testing.B) {
	storetest.BenchAppend(b, func(b *testing.B) store.Store { return warmDB(b, sqlite.Options{AuditIndex: true}) })
}

// BenchmarkBuildTree measures extending the Merkle tree over appended
// records, per record, in steps of 1,000 records (the checkpoint cadence).
func BenchmarkBuildTree(b *testing.B) {
	db := warmDB(b, sqlite.Options{})
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

// warmDB is a store opened with o holding 10,000 records (tree built),
// so index pages are realistic.
func warmDB(b *testing.B, o sqlite.Options) *sqlite.DB {
	db, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "a.db"), o)
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
