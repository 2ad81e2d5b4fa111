// Package pgtest gives tests an empty PostgreSQL database of their own on
// the server named by JWTLEDGER_TEST_POSTGRES (which .ci/run starts), and
// skips them with a clear message when it is not set.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
)

// Env names the variable holding the test server's DSN.
const Env = "JWTLEDGER_TEST_POSTGRES"

// Require skips the test when no test server is configured, unless
// JWTLEDGER_REQUIRE_POSTGRES=1 (set by .ci/run, which starts a server) says
// the PostgreSQL tests must run.
func Require(t testing.TB) {
	t.Helper()
	if os.Getenv(Env) != "" {
		return
	}
	if os.Getenv("JWTLEDGER_REQUIRE_POSTGRES") == "1" {
		t.Fatal(Env + " is not set but JWTLEDGER_REQUIRE_POSTGRES=1: start PostgreSQL and export its URL")
	}
	t.Skip(Env + " is not set: no PostgreSQL to test against (.ci/run starts one)")
}

// Database creates an empty database, dropped when the test ends, and
// returns its DSN.
func Database(t testing.TB) string {
	Require(t)
	dsn := os.Getenv(Env)
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect to %s: %v", Env, err)
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
		t.Fatalf("%s must be a postgres:// URL: %v", Env, err)
	}
	u.Path = "/" + name
	return u.String()
}

// Exec runs one statement on the database at dsn, behind any store's back.
func Exec(t testing.TB, dsn, sql string, args ...any) {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), sql, args...); err != nil {
		t.Fatal(err)
	}
}

// QueryInt runs a query of one integer on the database at dsn, behind any
// store's back.
func QueryInt(t testing.TB, dsn, sql string, args ...any) int64 {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int64
	if err := conn.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// QueryInts runs a query of one integer column on the database at dsn,
// behind any store's back, and returns its rows.
func QueryInts(t testing.TB, dsn, sql string, args ...any) []int64 {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(context.Background(), sql, args...)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		t.Fatal(err)
	}
	return out
}
