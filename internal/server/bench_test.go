package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jwtledger/jwtledger"
	"github.com/jwtledger/jwtledger/internal/baseline"
	"github.com/jwtledger/jwtledger/internal/clientauth"
	"github.com/jwtledger/jwtledger/internal/loadgen"
	"github.com/jwtledger/jwtledger/internal/server"
	"github.com/jwtledger/jwtledger/keys"
	"github.com/jwtledger/jwtledger/trail"
)

// httpBench is the set-up the HTTP benchmarks share: for each operation,
// jwtledger's server with its durable audit trail and the two baselines of
// internal/baseline, A (a log line, no sync) and D (a naive SQLite group
// commit), all behind the same request shapes and Bearer authentication.
type httpBench struct {
	ops []benchOp
}

type benchOp struct {
	name string
	l    *jwtledger.Ledger // jwtledger's ledger for this operation
	// a, d and our are the A and D baselines and jwtledger.
	a, d, our target
}

type target struct{ url, body, auth string }

const benchConns = 64

// benchLedger opens a ledger whose key has alg, served by jwtledger's
// server, with a client allowed to issue and verify.
func benchLedger(b *testing.B, alg keys.Alg) (l *jwtledger.Ledger, url, secret string) {
	l, err := jwtledger.Open(context.Background(), jwtledger.Config{DataDir: b.TempDir(), KeyAlg: alg})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	creds, _, err := l.CreateClient(context.Background(), jwtledger.NewClient{Name: "bench", Scopes: []string{clientauth.ScopeIssue, clientauth.ScopeVerify}}, jwtledger.Meta{})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(server.New(server.Config{Ledger: l}).Handler())
	b.Cleanup(srv.Close)
	return l, srv.URL, creds.Secret
}

// benchBaseline starts a baseline service.
func benchBaseline(b *testing.B, mode baseline.Mode, alg string) (url, secret string) {
	svc, err := baseline.New(baseline.Config{Mode: mode, Alg: alg, Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { svc.Close() })
	srv := httptest.NewServer(svc.Handler())
	b.Cleanup(srv.Close) // runs before svc.Close
	return srv.URL, svc.Secret()
}

func newHTTPBench(b *testing.B) *httpBench {
	const issueBody = `{"sub":"bench"}`
	es, esURL, esSecret := benchLedger(b, "ES256")
	hs, hsURL, hsSecret := benchLedger(b, "HS256")
	iss, err := es.Issue(context.Background(), jwtledger.IssueRequest{Subject: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	var base [2][2]target // [A, D][issue, verify] of ES256
	var hsBase [2]target  // [A, D] issue of HS256
	for i, mode := range []baseline.Mode{baseline.ModeA, baseline.ModeD} {
		url, secret := benchBaseline(b, mode, "ES256")
		tok := issueBaseline(b, url, secret)
		base[i] = [2]target{{url + "/v1/tokens", issueBody, secret}, {url + "/v1/tokens/verify", `{"token":"` + tok + `"}`, secret}}
		url, secret = benchBaseline(b, mode, "HS256")
		hsBase[i] = target{url + "/v1/tokens", issueBody, secret}
	}
	return &httpBench{ops: []benchOp{
		{"issue", es, base[0][0], base[1][0], target{esURL + "/v1/tokens", issueBody, esSecret}},
		{"verify", es, base[0][1], base[1][1], target{esURL + "/v1/tokens/verify", `{"token":"` + iss.Token + `"}`, esSecret}},
		{"hs256-issue", hs, hsBase[0], hsBase[1], target{hsURL + "/v1/tokens", issueBody, hsSecret}},
	}}
}

// load sends n requests to t over benchConns connections.
func load(b *testing.B, client *http.Client, t target, n int64) *loadgen.Result {
	res, err := loadgen.Run(context.Background(), loadgen.Config{
		Concurrency: benchConns, Duration: 10 * time.Minute, MaxRequests: n, Client: client,
		Request: func(ctx context.Context) (*http.Request, error) {
			r, err := http.NewRequestWithContext(ctx, "POST", t.url, strings.NewReader(t.body))
			if err == nil && t.auth != "" {
				r.Header.Set("Authorization", "Bearer "+t.auth)
			}
			return r, err
		},
		Check: func(status int, body []byte) bool {
			return status == 200 && !strings.Contains(string(body), `"valid":false`)
		},
	})
	if err != nil {
		b.Fatal(err)
	}
	if res.Errors > 0 {
		b.Fatalf("%d errors, first: %s", res.Errors, res.FirstError)
	}
	return res
}

// reportCommits reports the audit writer's records per commit and commit
// time of l since before.
func reportCommits(b *testing.B, l *jwtledger.Ledger, before trail.Stats) {
	after, _ := l.Trail().Stats()
	if n := after.Batches - before.Batches; n > 0 {
		b.ReportMetric(float64(after.Records-before.Records)/float64(n), "recs/commit")
		b.ReportMetric(float64((after.CommitTime-before.CommitTime).Microseconds())/float64(n), "commit-µs")
	}
}

// BenchmarkHTTP runs the same load (64 concurrent connections over
// loopback, load generator in the same process) against the A and D
// baselines and against jwtledger's server with its durable audit trail,
// one after the other. ns/op is wall time per request (the inverse of
// throughput); p99 is reported.
//
//	go test -run '^$' -bench 'HTTP$' -benchtime 20000x ./internal/server
func BenchmarkHTTP(b *testing.B) {
	h := newHTTPBench(b)
	for _, op := range h.ops {
		for _, side := range []struct {
			name string
			t    target
		}{{"A", op.a}, {"D", op.d}, {"jwtledger", op.our}} {
			b.Run(side.name+"/"+op.name, func(b *testing.B) {
				before, _ := op.l.Trail().Stats()
				res := load(b, nil, side.t, int64(b.N))
				if side.name == "jwtledger" {
					reportCommits(b, op.l, before)
				}
				b.ReportMetric(float64(res.P99.Microseconds())/1000, "p99-ms")
				b.ReportMetric(res.PerSecond, "req/s")
			})
		}
	}
}

// BenchmarkHTTPInterleaved gives the throughput ratios jwtledger ÷ A and
// jwtledger ÷ D robustly on a VM whose speed drifts: the three servers take
// turns (A, D, jwtledger), 2,000 requests each per round, and the totals
// are compared. It reports the three servers' req/s (A-req/s, D-req/s,
// req/s), the ratios (ratio is ÷ A, ratio-D is ÷ D) and the mean of the
// rounds' p99 latencies. A small -benchtime (200x) makes it a smoke test.
//
//	go test -run '^$' -bench HTTPInterleaved -benchtime 40000x ./internal/server
func BenchmarkHTTPInterleaved(b *testing.B) {
	const round = 2000
	h := newHTTPBench(b)
	client := loadgen.NewClient(benchConns)
	for _, op := range h.ops {
		b.Run(op.name, func(b *testing.B) {
			sides := []struct {
				name string
				t    target
			}{{"A-", op.a}, {"D-", op.d}, {"", op.our}}
			elapsed := make([]time.Duration, len(sides))
			p99 := make([]time.Duration, len(sides))
			var done, rounds int64
			before, _ := op.l.Trail().Stats()
			for done < int64(b.N) {
				n := min(int64(round), int64(b.N)-done)
				for i, side := range sides {
					res := load(b, client, side.t, n)
					elapsed[i] += res.Elapsed
					p99[i] += res.P99
				}
				done += n
				rounds++
			}
			reportCommits(b, op.l, before)
			rate := make([]float64, len(sides))
			for i, side := range sides {
				rate[i] = float64(done) / elapsed[i].Seconds()
				b.ReportMetric(rate[i], side.name+"req/s")
				b.ReportMetric(float64(p99[i].Microseconds())/float64(rounds)/1000, side.name+"p99-ms")
			}
			b.ReportMetric(rate[2]/rate[0], "ratio")
			b.ReportMetric(rate[2]/rate[1], "ratio-D")
		})
	}
}

// issueBaseline gets a token from a baseline for its verify target.
func issueBaseline(b *testing.B, url, secret string) string {
	req, err := http.NewRequest("POST", url+"/v1/tokens", strings.NewReader(`{"sub":"bench"}`))
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ Token string }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.Token == "" {
		b.Fatalf("baseline issue: %s, %v", resp.Status, err)
	}
	return out.Token
}
