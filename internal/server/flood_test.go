package server_test

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jwtledger/jwtledger"
	"github.com/jwtledger/jwtledger/internal/clientauth"
	"github.com/jwtledger/jwtledger/internal/server"
	"github.com/jwtledger/jwtledger/trail"
)

// dirSize is the space the files under dir take (as du counts it).
func dirSize(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

// A 10 s flood of requests without valid credentials on 64 connections
// grows the data directory by less than 1 MiB (the denials beyond the
// limit are summarized, not recorded one by one), and a legitimate client
// keeps getting 200 throughout.
func TestUnauthenticatedFlood(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l, err := jwtledger.Open(ctx, jwtledger.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	creds, _, err := l.CreateClient(ctx, jwtledger.NewClient{Name: "legit", Scopes: []string{clientauth.ScopeIssue}}, jwtledger.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(server.New(server.Config{Ledger: l}).Handler())
	defer srv.Close()
	walCheckpoint(t, filepath.Join(dir, "jwtledger.db"))
	before := dirSize(t, dir)

	const floodFor = 10 * time.Second
	stop := make(chan struct{})
	var flood, unauthorized atomic.Int64
	var wg sync.WaitGroup
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	fc := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	shapes := []func(*http.Request){
		func(*http.Request) {},
		func(r *http.Request) { r.Header.Set("Authorization", "Bearer jls_not-a-secret") },
		func(r *http.Request) { r.SetBasicAuth("cl_someone", "guess") },
	}
	for i := range 64 {
		wg.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequest("POST", srv.URL+"/v1/tokens", strings.NewReader(`{"sub":"x"}`))
				shapes[(i+n)%len(shapes)](req)
				resp, err := fc.Do(req)
				if err != nil {
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				flood.Add(1)
				if resp.StatusCode == http.StatusUnauthorized {
					unauthorized.Add(1)
				}
			}
		})
	}
	legit := map[int]int{}
	var worst time.Duration
	start := time.Now()
	pace := time.NewTicker(50 * time.Millisecond) // a client at ~20 requests a second
	defer pace.Stop()
	for time.Since(start) < floodFor {
		<-pace.C
		req, _ := http.NewRequest("POST", srv.URL+"/v1/tokens", strings.NewReader(`{"sub":"legit"}`))
		req.Header.Set("Authorization", "Bearer "+creds.Secret)
		t0 := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		worst = max(worst, time.Since(t0))
		legit[resp.StatusCode]++
	}
	close(stop)
	wg.Wait()
	denied, _ := l.Trail().Query(ctx, trail.Filter{Event: "auth.denied"})
	l.Close() // writes the pending summary
	// Closing folded the write-ahead log into the database.
	grown := dirSize(t, dir) - before
	t.Logf("flood: %d requests (%d answered 401) in %s; legitimate: %v (slowest %s); %d auth.denied records; data dir grew by %d bytes",
		flood.Load(), unauthorized.Load(), floodFor, legit, worst.Round(time.Millisecond), len(denied), grown)
	if unauthorized.Load() < 1000 || unauthorized.Load() != flood.Load() {
		t.Fatalf("the flood got %d answers, %d of them 401", flood.Load(), unauthorized.Load())
	}
	if len(legit) != 1 || legit[http.StatusOK] == 0 {
		t.Fatalf("legitimate client: %v, want only 200", legit)
	}
	if grown >= 1<<20 {
		t.Fatalf("data dir grew by %d bytes during the flood, want < 1 MiB", grown)
	}
	l2, err := jwtledger.Open(ctx, jwtledger.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	sums, _ := l2.Trail().Query(ctx, trail.Filter{Event: "auth.denied.suppressed"})
	var counted int
	for _, s := range sums {
		var n int
		if _, err := fmtSscan(s.Reason, &n); err != nil {
			t.Fatalf("summary %q: %v", s.Reason, err)
		}
		counted += n
	}
	if int64(counted+len(denied)) != unauthorized.Load() {
		t.Fatalf("%d denials recorded + %d summarized, want the %d refused", len(denied), counted, unauthorized.Load())
	}
	t.Logf("%d summary records account for the other %d denials", len(sums), counted)
}

func fmtSscan(s string, n *int) (int, error) { return fmt.Sscan(s, n) }
