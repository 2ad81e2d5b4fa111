package server_test

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jwtledger/jwtledger"
	"github.com/jwtledger/jwtledger/internal/clientauth"
	"github.com/jwtledger/jwtledger/internal/console"
	"github.com/jwtledger/jwtledger/internal/loadgen"
	"github.com/jwtledger/jwtledger/internal/server"
)

// consoleSide is jwtledger's server on a ledger of its own, with or
// without the web console; with it, a signed-in browser watches the live
// tail and has opened the overview (so the aggregate counts are kept up).
func consoleSide(b *testing.B, on bool) (l *jwtledger.Ledger, issue, verify target) {
	ctx := context.Background()
	l, err := jwtledger.Open(ctx, jwtledger.Config{DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	creds, _, err := l.CreateClient(ctx, jwtledger.NewClient{Name: "bench", Scopes: []string{clientauth.ScopeAdmin}}, jwtledger.Meta{})
	if err != nil {
		b.Fatal(err)
	}
	cfg := server.Config{Ledger: l}
	var cons *console.Console
	if on {
		if cons, err = console.New(console.Config{Backend: console.FromLedger(l)}); err != nil {
			b.Fatal(err)
		}
		cfg.Console, cfg.ConsolePrefix = cons, cons.Prefix()
	}
	srv := httptest.NewUnstartedServer(server.New(cfg).Handler())
	if cons != nil {
		srv.Config.RegisterOnShutdown(cons.Close)
		b.Cleanup(cons.Close)
	}
	srv.Start()
	b.Cleanup(srv.Close)
	if on {
		watch(b, srv.URL, creds)
	}
	iss, err := l.Issue(ctx, jwtledger.IssueRequest{Subject: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	return l, target{srv.URL + "/v1/tokens", `{"sub":"bench"}`, creds.Secret},
		target{srv.URL + "/v1/tokens/verify", `{"token":"` + iss.Token + `"}`, creds.Secret}
}

// watch signs in to the console, opens the overview and keeps a live tail
// open (read and discarded) until the benchmark ends.
func watch(b *testing.B, base string, creds *jwtledger.ClientCredentials) {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	resp, err := c.Get(base + "/console/login")
	if err != nil {
		b.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	tok := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(page)
	form := url.Values{"csrf": {string(tok[1])}, "client_id": {creds.ID}, "client_secret": {creds.Secret}}
	req, _ := http.NewRequest("POST", base+"/console/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", base)
	if resp, err = c.Do(req); err != nil || resp.StatusCode != 200 {
		b.Fatalf("console sign-in: %v %v", resp.Status, err)
	}
	resp.Body.Close()
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	req, _ = http.NewRequestWithContext(ctx, "GET", base+"/console/audit/tail", nil)
	if resp, err = c.Do(req); err != nil || resp.Header.Get("Content-Type") != "text/event-stream" {
		b.Fatalf("live tail: %v", err)
	}
	go func() { io.Copy(io.Discard, resp.Body); resp.Body.Close() }()
}

// BenchmarkHTTPConsole compares jwtledger's server with the console off
// and on (a live tail open, the overview's counts kept), the two taking
// turns with 2,000 requests each per round, for ES256 issue and verify;
// ratio is on ÷ off throughput.
//
//	go test -run '^$' -bench HTTPConsole -benchtime 40000x ./internal/server
func BenchmarkHTTPConsole(b *testing.B) {
	const round = 2000
	_, offIssue, offVerify := consoleSide(b, false)
	_, onIssue, onVerify := consoleSide(b, true)
	client := loadgen.NewClient(benchConns)
	for _, op := range []struct {
		name    string
		off, on target
	}{{"issue", offIssue, onIssue}, {"verify", offVerify, onVerify}} {
		b.Run(op.name, func(b *testing.B) {
			var elapsed [2]time.Duration
			var p99 [2]time.Duration
			var done, rounds int64
			for done < int64(b.N) {
				n := min(int64(round), int64(b.N)-done)
				for i, t := range []target{op.off, op.on} {
					res := load(b, client, t, n)
					elapsed[i] += res.Elapsed
					p99[i] += res.P99
				}
				done += n
				rounds++
			}
			off, on := float64(done)/elapsed[0].Seconds(), float64(done)/elapsed[1].Seconds()
			b.ReportMetric(off, "off-req/s")
			b.ReportMetric(on, "on-req/s")
			b.ReportMetric(float64(p99[0].Microseconds())/float64(rounds)/1000, "off-p99-ms")
			b.ReportMetric(float64(p99[1].Microseconds())/float64(rounds)/1000, "on-p99-ms")
			b.ReportMetric(on/off, "ratio")
		})
	}
}
