package server_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/jwtledger/jwtledger"
	"github.com/jwtledger/jwtledger/internal/loadgen"
	"github.com/jwtledger/jwtledger/internal/server"
)

// baseline is the plain service the issue compares against: net/http,
// golang-jwt ES256, one log/slog line per request to a file, no fsync, no
// audit durability, no authentication.
func baseline(b *testing.B) http.Handler {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	f, err := os.Create(filepath.Join(b.TempDir(), "baseline.log"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.Close() })
	log := slog.New(slog.NewTextHandler(f, nil))
	mux := http.NewServeMux()
	mux.HandleFunc("POST /issue", func(w http.ResponseWriter, r *http.Request) {
		var req struct{ Sub string }
		if json.NewDecoder(r.Body).Decode(&req) != nil {
			http.Error(w, "bad", 400)
			return
		}
		now := time.Now()
		t, err := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.RegisteredClaims{Issuer: "baseline", Subject: req.Sub,
			ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)), IssuedAt: jwt.NewNumericDate(now), ID: rand.Text()}).SignedString(key)
		if err != nil {
			http.Error(w, "sign", 500)
			return
		}
		log.Info("token issued", "sub", req.Sub)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{"token": t})
	})
	mux.HandleFunc("POST /verify", func(w http.ResponseWriter, r *http.Request) {
		var req struct{ Token string }
		if json.NewDecoder(r.Body).Decode(&req) != nil {
			http.Error(w, "bad", 400)
			return
		}
		_, err := jwt.Parse(req.Token, func(*jwt.Token) (any, error) { return &key.PublicKey, nil }, jwt.WithValidMethods([]string{"ES256"}))
		log.Info("token verified", "valid", err == nil)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]bool{"valid": err == nil})
	})
	return mux
}

// httpBench is the set-up both HTTP benchmarks share: jwtledger's server
// with its durable audit trail and the baseline, each with an issue and a
// verify target.
type httpBench struct {
	l   *jwtledger.Ledger
	ops []benchOp
}

type benchOp struct {
	name      string
	base, our target
}

type target struct{ url, body, auth string }

const benchConns = 64

func newHTTPBench(b *testing.B) *httpBench {
	l, err := jwtledger.Open(context.Background(), jwtledger.Config{DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	creds, _, err := l.CreateClient(context.Background(), jwtledger.NewClient{Name: "bench", Scopes: []string{jwtledger.ScopeIssue, jwtledger.ScopeVerify}}, jwtledger.Meta{})
	if err != nil {
		b.Fatal(err)
	}
	ours := httptest.NewServer(server.New(server.Config{Ledger: l}).Handler())
	b.Cleanup(ours.Close)
	base := httptest.NewServer(baseline(b))
	b.Cleanup(base.Close)
	iss, err := l.Issue(context.Background(), jwtledger.IssueRequest{Subject: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	baseTok := issueBaseline(b, base.URL)
	return &httpBench{l: l, ops: []benchOp{
		{"issue", target{base.URL + "/issue", `{"sub":"bench"}`, ""}, target{ours.URL + "/v1/tokens", `{"sub":"bench"}`, creds.Secret}},
		{"verify", target{base.URL + "/verify", `{"token":"` + baseTok + `"}`, ""}, target{ours.URL + "/v1/tokens/verify", `{"token":"` + iss.Token + `"}`, creds.Secret}},
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
// time since before.
func (h *httpBench) reportCommits(b *testing.B, before jwtledger.AuditStats) {
	after, _ := h.l.AuditStats()
	if n := after.Batches - before.Batches; n > 0 {
		b.ReportMetric(float64(after.Records-before.Records)/float64(n), "recs/commit")
		b.ReportMetric(float64((after.CommitTime-before.CommitTime).Microseconds())/float64(n), "commit-µs")
	}
}

// BenchmarkHTTP runs the same load (64 concurrent connections over
// loopback, load generator in the same process) against the baseline and
// against jwtledger's server with its durable audit trail. ns/op is wall
// time per request (the inverse of throughput); p99 is reported.
//
//	go test -run '^$' -bench HTTP -benchtime 20000x ./internal/server
func BenchmarkHTTP(b *testing.B) {
	h := newHTTPBench(b)
	for _, op := range h.ops {
		for _, side := range []struct {
			name string
			t    target
		}{{"baseline", op.base}, {"jwtledger", op.our}} {
			b.Run(side.name+"/"+op.name, func(b *testing.B) {
				before, _ := h.l.AuditStats()
				res := load(b, nil, side.t, int64(b.N))
				if side.name == "jwtledger" {
					h.reportCommits(b, before)
				}
				b.ReportMetric(float64(res.P99.Microseconds())/1000, "p99-ms")
				b.ReportMetric(res.PerSecond, "req/s")
			})
		}
	}
}

// BenchmarkHTTPInterleaved gives the throughput ratio jwtledger ÷
// baseline robustly on a VM whose speed drifts: the two servers take turns,
// 2,000 requests each per round, and the totals are compared. It reports
// both servers' req/s, the ratio and the mean of the rounds' p99 latencies.
//
//	go test -run '^$' -bench HTTPInterleaved -benchtime 40000x ./internal/server
func BenchmarkHTTPInterleaved(b *testing.B) {
	const round = 2000
	h := newHTTPBench(b)
	client := loadgen.NewClient(benchConns)
	for _, op := range h.ops {
		b.Run(op.name, func(b *testing.B) {
			var baseT, ourT, baseP99, ourP99 time.Duration
			var done, rounds int64
			before, _ := h.l.AuditStats()
			for done < int64(b.N) {
				n := min(int64(round), int64(b.N)-done)
				rb := load(b, client, op.base, n)
				ro := load(b, client, op.our, n)
				baseT += rb.Elapsed
				ourT += ro.Elapsed
				baseP99 += rb.P99
				ourP99 += ro.P99
				done += n
				rounds++
			}
			h.reportCommits(b, before)
			baseRate := float64(done) / baseT.Seconds()
			ourRate := float64(done) / ourT.Seconds()
			b.ReportMetric(baseRate, "base-req/s")
			b.ReportMetric(ourRate, "req/s")
			b.ReportMetric(ourRate/baseRate, "ratio")
			b.ReportMetric(float64(baseP99.Microseconds())/float64(rounds)/1000, "base-p99-ms")
			b.ReportMetric(float64(ourP99.Microseconds())/float64(rounds)/1000, "p99-ms")
		})
	}
}

func issueBaseline(b *testing.B, url string) string {
	resp, err := http.Post(url+"/issue", "application/json", strings.NewReader(`{"sub":"bench"}`))
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ Token string }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		b.Fatal(fmt.Errorf("baseline issue: %w", err))
	}
	return out.Token
}
