//go:build cgo

package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/jwtledger/jwtledger/internal/audit"
	"github.com/jwtledger/jwtledger/store/sqlite"
)

// benchLedgerBase is the time of the first record of the query benchmark's
// ledger; record i is i ms later.
var benchLedgerBase = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

// benchLedgerRecord is record i of the query benchmark's ledger: pairs of
// token.issue and token.verify sharing a jti (one verify in ten expired),
// one record in a hundred an auth.denied, 20,000 subjects (50 records
// each at a million), five clients, two key ids, a request id each.
func benchLedgerRecord(i int) *audit.Record {
	at := benchLedgerBase.Add(time.Duration(i) * time.Millisecond)
	r := &audit.Record{Time: at, Event: audit.TokenIssue, Outcome: audit.OK, Actor: "client-" + strconv.Itoa(i%5),
		Sub: fmt.Sprintf("user-%05d", i%20000), Aud: []string{"api"}, JTI: fmt.Sprintf("jti-%08d", i/2),
		KID: "kid-" + strconv.Itoa(i/2%2) + "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", Alg: "ES256", Exp: at.Add(time.Hour),
		TokenSHA256: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", RequestID: fmt.Sprintf("req-%08d", i)}
	switch {
	case i%100 == 99:
		r.Event, r.Outcome, r.Sub, r.JTI, r.KID, r.Alg, r.Aud, r.Exp, r.TokenSHA256 = audit.AuthDenied, audit.Denied, "", "", "", "", nil, time.Time{}, ""
	case i%2 == 1:
		r.Event, r.Outcome = audit.TokenVerify, "valid"
		if i/2%10 == 3 {
			r.Outcome = "expired"
		}
	}
	return r
}

// catchUpIndex indexes every record of db (a no-op for a store without an
// index, so that the benchmark builds on a store before it).
func catchUpIndex(b *testing.B, db any) {
	if ix, ok := db.(interface {
		CatchUpIndex(context.Context, int) (int64, error)
	}); ok {
		if _, err := ix.CatchUpIndex(context.Background(), -1); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkQueryFirstPage measures the first page (100 records, oldest
// and newest first) of each filter on a ledger of
// JWTLEDGER_BENCH_RECORDS records (default 1,000,000) appended through
// Append, kept at JWTLEDGER_BENCH_LEDGER when set (made when missing,
// reused after) and in a temporary directory otherwise; "size" reports
// the store's bytes per record (page_count × page_size / records).
func BenchmarkQueryFirstPage(b *testing.B) {
	ctx := context.Background()
	n := 1_000_000
	if v := os.Getenv("JWTLEDGER_BENCH_RECORDS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			b.Fatal(err)
		}
	}
	path := os.Getenv("JWTLEDGER_BENCH_LEDGER")
	if path == "" {
		path = filepath.Join(b.TempDir(), "q.db")
	}
	if _, err := os.Stat(path); err != nil {
		db, err := sqlite.Open(ctx, path, sqlite.Options{AuditIndex: true})
		if err != nil {
			b.Fatal(err)
		}
		const batch = 256
		recs := make([]*audit.Record, 0, batch)
		for i := 0; i < n; i++ {
			recs = append(recs, benchLedgerRecord(i))
			if len(recs) == batch || i == n-1 {
				if err := db.Append(ctx, "n", recs); err != nil {
					b.Fatal(err)
				}
				recs = recs[:0]
			}
		}
		if _, err := db.BuildTree(ctx, "n"); err != nil {
			b.Fatal(err)
		}
		catchUpIndex(b, db)
		db.Close()
	}
	db, err := sqlite.Open(ctx, path, sqlite.Options{AuditIndex: true})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	catchUpIndex(b, db)
	mid := n / 2
	filters := []struct {
		name string
		f    audit.Filter
	}{
		{"event=token.verify", audit.Filter{Event: audit.TokenVerify}},
		{"event=auth.denied", audit.Filter{Event: audit.AuthDenied}},
		{"outcome=expired", audit.Filter{Outcome: "expired"}},
		{"event+outcome", audit.Filter{Event: audit.TokenVerify, Outcome: "expired"}},
		{"sub", audit.Filter{Sub: benchLedgerRecord(mid).Sub}},
		{"sub+outcome", audit.Filter{Sub: benchLedgerRecord(7).Sub, Outcome: "expired"}},
		{"jti", audit.Filter{JTI: benchLedgerRecord(mid).JTI}},
		{"actor", audit.Filter{Actor: "client-3"}},
		{"kid", audit.Filter{KID: benchLedgerRecord(1).KID}},
		{"request_id", audit.Filter{RequestID: benchLedgerRecord(mid).RequestID}},
		{"time", audit.Filter{Since: benchLedgerBase.Add(time.Duration(mid) * time.Millisecond), Until: benchLedgerBase.Add(time.Duration(mid)*time.Millisecond + time.Minute)}},
	}
	for _, tc := range filters {
		for _, newest := range []bool{false, true} {
			name := tc.name + "/oldest"
			if newest {
				name = tc.name + "/newest"
			}
			b.Run(name, func(b *testing.B) {
				f := tc.f
				f.Limit, f.Newest = 100, newest
				for b.Loop() {
					recs, err := db.Query(ctx, f)
					if err != nil || len(recs) == 0 {
						b.Fatalf("%d records, %v", len(recs), err)
					}
				}
			})
		}
	}
	b.Run("size", func(b *testing.B) {
		raw, err := sql.Open("sqlite3", path)
		if err != nil {
			b.Fatal(err)
		}
		defer raw.Close()
		var pages, size, records int64
		if err := raw.QueryRow("SELECT (SELECT page_count FROM pragma_page_count), (SELECT page_size FROM pragma_page_size), (SELECT COUNT(*) FROM audit)").Scan(&pages, &size, &records); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
		}
		b.ReportMetric(float64(pages*size)/float64(records), "B/record")
	})
}
