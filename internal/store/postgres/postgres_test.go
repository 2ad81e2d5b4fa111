package postgres_test

import (
	"context"
	"testing"

	"github.com/jwtledger/jwtledger/internal/store"
	"github.com/jwtledger/jwtledger/internal/store/pgtest"
	"github.com/jwtledger/jwtledger/internal/store/postgres"
	"github.com/jwtledger/jwtledger/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	pgtest.Require(t)
	storetest.Run(t, storetest.Backend{New: func(t *testing.T) storetest.Location {
		dsn := pgtest.Database(t)
		return storetest.Location{
			Open: func(t *testing.T) store.Store {
				s, err := postgres.Open(context.Background(), dsn)
				if err != nil {
					t.Fatal(err)
				}
				return s
			},
			DeleteRecord: func(t *testing.T, chain string, seq int64) {
				pgtest.Exec(t, dsn, "DELETE FROM audit WHERE chain = $1 AND seq = $2", chain, seq)
			},
		}
	}})
}
