package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/jwtledger/jwtledger/internal/store"
	"github.com/jwtledger/jwtledger/internal/store/postgres"
	"github.com/jwtledger/jwtledger/internal/store/storetest"
)

// testDSN is the PostgreSQL server the tests use (JWTLEDGER_TEST_POSTGRES,
// set by .ci/run); every test gets a database of its own on it.
func testDSN(t *testing.T) string {
	dsn := os.Getenv("JWTLEDGER_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("JWTLEDGER_TEST_POSTGRES is not set: no PostgreSQL to test against (.ci/run starts one)")
	}
	return dsn
}

// freshDatabase creates an empty database on the test server and returns
// its DSN; it is dropped when the test ends.
func freshDatabase(t *testing.T, dsn string) string {
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect to JWTLEDGER_TEST_POSTGRES: %v", err)
	}
	var b [6]byte
	rand.Read(b[:])
	name := "jwtledger_test_" + hex.EncodeToString(b[:])
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		admin.Close(ctx)
		t.Fatal(err)
	}
	t.Cleanup(func() {
		admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		admin.Close(ctx)
	})
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("JWTLEDGER_TEST_POSTGRES must be a postgres:// URL: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

func TestConformance(t *testing.T) {
	dsn := testDSN(t)
	storetest.Run(t, storetest.Backend{New: func(t *testing.T) storetest.Location {
		db := freshDatabase(t, dsn)
		return storetest.Location{
			Open: func(t *testing.T) store.Store {
				s, err := postgres.Open(context.Background(), db)
				if err != nil {
					t.Fatal(err)
				}
				return s
			},
			DeleteRecord: func(t *testing.T, chain string, seq int64) {
				conn, err := pgx.Connect(context.Background(), db)
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close(context.Background())
				if _, err := conn.Exec(context.Background(), "DELETE FROM audit WHERE chain = $1 AND seq = $2", chain, seq); err != nil {
					t.Fatal(err)
				}
			},
		}
	}})
}
