package console_test

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jwtledger/jwtledger"
	"github.com/jwtledger/jwtledger/internal/audit"
	"github.com/jwtledger/jwtledger/internal/clientauth"
	"github.com/jwtledger/jwtledger/internal/console"
	"github.com/jwtledger/jwtledger/internal/server"
	"github.com/jwtledger/jwtledger/internal/service"
	"github.com/jwtledger/jwtledger/keys"
	"github.com/jwtledger/jwtledger/token"
	"github.com/jwtledger/jwtledger/trail"
)

// The ledger of BenchmarkPages: JWTLEDGER_BENCH_RECORDS records (default
// 1,000,000) made through the ledger's own issue, verify and denial calls
// (so through the audit writer's group commit) by 8 goroutines, over about
// six days of a simulated clock, in JWTLEDGER_BENCH_LEDGER (a directory
// kept between runs; default a temporary one). Generation stops at
// JWTLEDGER_BENCH_DEADLINE (default 15m) whatever it reached.
func benchLedger(b *testing.B) (dir string, n int64) {
	want := int64(1_000_000)
	if v := os.Getenv("JWTLEDGER_BENCH_RECORDS"); v != "" {
		want, _ = strconv.ParseInt(v, 10, 64)
	}
	deadline := 15 * time.Minute
	if v := os.Getenv("JWTLEDGER_BENCH_DEADLINE"); v != "" {
		deadline, _ = time.ParseDuration(v)
	}
	dir = os.Getenv("JWTLEDGER_BENCH_LEDGER")
	if dir == "" {
		dir = b.TempDir()
	}
	ctx := context.Background()
	if _, err := os.Stat(filepath.Join(dir, "generated")); err == nil {
		l, err := jwtledger.Open(ctx, jwtledger.Config{DataDir: dir, TextLog: "off"})
		if err != nil {
			b.Fatal(err)
		}
		defer l.Close()
		cs, _ := service.Of(l).AuditChains(ctx)
		for _, c := range cs {
			n += c.Records
		}
		return dir, n
	}
	start := time.Now().Add(-6 * 24 * time.Hour)
	var ticks atomic.Int64
	step := 6 * 24 * time.Hour / time.Duration(3*want)
	now := func() time.Time { return start.Add(time.Duration(ticks.Add(1)) * step) }
	l, err := jwtledger.Open(ctx, jwtledger.Config{DataDir: dir, TextLog: "off", KeyAlg: keys.Alg("EdDSA"), Now: now})
	if err != nil {
		b.Fatal(err)
	}
	zipf := rand.NewZipf(rand.New(rand.NewPCG(1, 2)), 1.2, 1, 4999)
	var zmu sync.Mutex
	subject := func() string {
		zmu.Lock()
		defer zmu.Unlock()
		return fmt.Sprint("user-", zipf.Uint64())
	}
	var made atomic.Int64
	stop := time.Now().Add(deadline)
	began := time.Now()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 7))
			for made.Load() < want && time.Now().Before(stop) {
				m := jwtledger.Meta{Actor: fmt.Sprint("cl_gen_", r.IntN(8)), Remote: "127.0.0.1:1", RequestID: fmt.Sprint("g", g, "-", r.Uint64())}
				iss, err := l.Issue(ctx, jwtledger.IssueRequest{Subject: subject(), Audience: []string{"api"}, TTL: time.Hour, Meta: m})
				if err != nil {
					b.Error(err)
					return
				}
				n := int64(1)
				for range 1 + r.IntN(2) {
					tok, opts := iss.Token, []jwtledger.VerifyOption{jwtledger.WithMeta(m)}
					switch x := r.IntN(100); {
					case x < 12:
						opts = append(opts, jwtledger.WithTimeFunc(func() time.Time { return now().Add(2 * time.Hour) }))
					case x < 17:
						tok = tok[:len(tok)-4] + "AAAA"
					case x < 20:
						tok = "not-a-token"
					}
					if _, err := l.Verify(ctx, tok, opts...); err != nil && token.OutcomeOf(err) == "" {
						b.Error(err)
						return
					}
					n++
				}
				if r.IntN(100) == 0 {
					service.Of(l).RecordDenied(ctx, "POST /v1/tokens: invalid credentials", service.Meta(m))
					n++
				}
				made.Add(n)
			}
		}()
	}
	wg.Wait()
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	n = made.Load()
	b.Logf("generated %d records in %v (%.0f records/s) through the ledger", n, time.Since(began).Round(time.Second), float64(n)/time.Since(began).Seconds())
	os.WriteFile(filepath.Join(dir, "generated"), []byte(strconv.FormatInt(n, 10)), 0o600)
	return dir, n
}

// BenchmarkPages measures the console's pages (handler, queries and
// templates; no network) on a ledger of a million records: the overview
// per window, and the explorer's first page, unfiltered and filtered.
// Run: go test -run '^$' -bench Pages -benchtime 20x ./internal/console
func BenchmarkPages(b *testing.B) {
	dir, n := benchLedger(b)
	ctx := context.Background()
	if os.Getenv("JWTLEDGER_BENCH_RECOUNT") != "" {
		// Count from scratch, as after the migration of an old ledger.
		db, err := sql.Open("sqlite3", filepath.Join(dir, "jwtledger.db"))
		if err != nil {
			b.Fatal(err)
		}
		for _, t := range []string{"audit_counted", "audit_minutes", "audit_hours", "audit_subjects"} {
			if _, err := db.Exec("DELETE FROM " + t); err != nil {
				b.Fatal(err)
			}
		}
		db.Close()
	}
	l, err := jwtledger.Open(ctx, jwtledger.Config{DataDir: dir, TextLog: "off"})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	// Counting: the aggregates of a ledger that never had them catch up.
	began := time.Now()
	for {
		c, err := service.Of(l).AuditCounts(ctx, audit.CountQuery{Since: time.Now().Add(-time.Hour), Step: time.Minute})
		if err != nil {
			b.Fatal(err)
		}
		if c.Pending == 0 {
			break
		}
	}
	b.Logf("%d records; counting them from scratch took %v", n, time.Since(began).Round(time.Millisecond))
	creds, _, err := l.CreateClient(ctx, jwtledger.NewClient{Name: "bench", Scopes: []string{clientauth.ScopeAdmin}}, jwtledger.Meta{})
	if err != nil {
		b.Fatal(err)
	}
	cons, err := console.New(console.Config{Backend: console.FromLedger(l)})
	if err != nil {
		b.Fatal(err)
	}
	defer cons.Close()
	srv := httptest.NewServer(server.New(server.Config{Ledger: l, Console: cons, ConsolePrefix: cons.Prefix()}).Handler())
	defer srv.Close()
	br := (&env{t: b, srv: srv, creds: map[string]*jwtledger.ClientCredentials{"bench": creds}}).browser()
	if a := br.signIn("bench"); a.code != http.StatusSeeOther {
		b.Fatalf("sign in: %d", a.code)
	}
	some := l.Trail().Query
	recs, _ := some(ctx, trail.Filter{Newest: true, Limit: 1000})
	mid := recs[500]
	for _, p := range []struct{ name, path string }{
		{"overview-hour", "/console/?window=hour"},
		{"overview-day", "/console/?window=day"},
		{"overview-week", "/console/?window=week"},
		{"explorer", "/console/audit"},
		{"explorer-event-outcome", "/console/audit?event=token.verify&outcome=expired"},
		{"explorer-actor", "/console/audit?actor=cl_gen_3"},
		{"explorer-sub", "/console/audit?sub=" + url.QueryEscape(mid.Sub)},
		{"explorer-jti-recent", "/console/audit?jti=" + url.QueryEscape(mid.JTI)},
		{"explorer-next-page", "/console/audit?before=" + strconv.FormatInt(recs[0].ID, 10)},
		{"record", fmt.Sprintf("/console/record/%s/%d", mid.Chain, mid.Seq)},
		{"integrity", "/console/integrity"},
	} {
		b.Run(p.name, func(b *testing.B) {
			var worst time.Duration
			for b.Loop() {
				t0 := time.Now()
				a := br.get(p.path)
				if a.code != 200 {
					b.Fatalf("%s: %d", p.path, a.code)
				}
				worst = max(worst, time.Since(t0))
			}
			b.ReportMetric(float64(worst.Microseconds())/1000, "worst-ms")
		})
	}
}
