package postgres_test

import (
	"context"
	"testing"

	"github.com/jwtledger/jwtledger/internal/store/pgtest"
	"github.com/jwtledger/jwtledger/internal/store/storetest"
	"github.com/jwtledger/jwtledger/store"
	"github.com/jwtledger/jwtledger/store/postgres"
)

// BenchmarkAppend is the PostgreSQL twin of the SQLite store's
// BenchmarkAppend: ns/op per record, one transaction per batch.
func BenchmarkAppend(b *testing.B) {
	pgtest.Require(b)
	storetest.BenchAppend(b, func(b *testing.B) store.Store {
		db, err := postgres.Open(context.Background(), pgtest.Database(b), postgres.Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { db.Close() })
		return db
	})
}
