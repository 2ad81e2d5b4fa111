package server_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jwtledger/jwtledger"
	"github.com/jwtledger/jwtledger/auditor"
	"github.com/jwtledger/jwtledger/internal/clientauth"
	"github.com/jwtledger/jwtledger/internal/server"
	"github.com/jwtledger/jwtledger/internal/service"
	"github.com/jwtledger/jwtledger/store"
	"github.com/jwtledger/jwtledger/trail"
)

// answer is one response of the load.
type answer struct {
	at     time.Time
	status int
	jti    string
}

// issueLoad sends issue requests on n connections until stop is closed and
// returns every answer.
func issueLoad(url, secret string, n int, stop <-chan struct{}) (wait func() []answer, unavailable *atomic.Int64) {
	unavailable = new(atomic.Int64)
	var mu sync.Mutex
	var all []answer
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: n}}
	for range n {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequest("POST", url+"/v1/tokens", strings.NewReader(`{"sub":"load"}`))
				req.Header.Set("Authorization", "Bearer "+secret)
				resp, err := client.Do(req)
				if err != nil {
					continue
				}
				var out struct{ JTI string }
				json.NewDecoder(resp.Body).Decode(&out)
				resp.Body.Close()
				mu.Lock()
				all = append(all, answer{time.Now(), resp.StatusCode, out.JTI})
				mu.Unlock()
				if resp.StatusCode == http.StatusServiceUnavailable {
					unavailable.Add(1)
				}
			}
		})
	}
	return func() []answer {
		wg.Wait()
		return all
	}, unavailable
}

func readyStatus(url string) int {
	resp, err := http.Get(url + "/readyz")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// copyDB writes a consistent copy of the SQLite database at src to dst.
func copyDB(t *testing.T, src, dst string) {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+src+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("VACUUM INTO ?", dst); err != nil {
		t.Fatal(err)
	}
}

// The database file is deleted or replaced by an older copy of itself
// under load: within a second every answer is 503 and readiness is red,
// no 200 follows; the process saves a copy of the database it had open
// that holds every acknowledged token's record (and says which records
// were not delivered); a restart on the data directory refuses to make a
// new ledger, and once the copy is moved into place the ledger verifies.
func TestDatabaseLostUnderLoad(t *testing.T) {
	cases := []struct {
		name string
		lose func(t *testing.T, db, older string)
	}{
		{"deleted", func(t *testing.T, db, _ string) { os.Remove(db) }},
		{"replaced by an older copy", func(t *testing.T, db, older string) {
			if err := os.Rename(older, db); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			dbPath := filepath.Join(dir, "jwtledger.db")
			l, err := jwtledger.Open(ctx, jwtledger.Config{DataDir: dir})
			if err != nil {
				t.Fatal(err)
			}
			closed := false
			defer func() {
				if !closed {
					l.Close()
				}
			}()
			creds, _, err := l.CreateClient(ctx, jwtledger.NewClient{Name: "load", Scopes: []string{clientauth.ScopeIssue}}, jwtledger.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(server.New(server.Config{Ledger: l}).Handler())
			defer srv.Close()
			older := filepath.Join(t.TempDir(), "older.db")
			copyDB(t, dbPath, older)

			stop := make(chan struct{})
			wait, unavailable := issueLoad(srv.URL, creds.Secret, 16, stop)
			within(t, 10*time.Second, "load running", func() bool {
				st, _ := l.Trail().Stats()
				return st.Records > 500
			})
			lostAt := time.Now()
			c.lose(t, dbPath, older)
			var red time.Duration
			within(t, 5*time.Second, "readiness red", func() bool {
				red = time.Since(lostAt)
				return readyStatus(srv.URL) == http.StatusServiceUnavailable
			})
			// Keep the load on for a while after the loss.
			within(t, 10*time.Second, "answers after the loss", func() bool {
				return time.Since(lostAt) > 1500*time.Millisecond && unavailable.Load() > 200
			})
			close(stop)
			answers := wait()
			var last200 time.Time
			acked := map[string]bool{}
			after := map[int]int{}
			for _, a := range answers {
				if a.status == http.StatusOK {
					acked[a.jti] = true
					if a.at.After(last200) {
						last200 = a.at
					}
				}
				if a.at.After(lostAt.Add(time.Second)) {
					after[a.status]++
				}
			}
			if last200.Sub(lostAt) > time.Second {
				t.Fatalf("a 200 %s after the database was lost", last200.Sub(lostAt))
			}
			if len(after) != 1 || after[http.StatusServiceUnavailable] == 0 {
				t.Fatalf("answers from 1 s after the loss: %v, want only 503", after)
			}
			if err := service.Of(l).Failed(); !errors.Is(err, store.ErrIdentity) {
				t.Fatalf("Failed() = %v", err)
			}
			code, _ := getJSON(t, srv.URL+"/.well-known/jwks.json")
			if code != http.StatusServiceUnavailable {
				t.Fatalf("JWKS after the loss: %d, want 503", code)
			}
			l.Close()
			closed = true
			t.Logf("%d answers, %d acknowledged; readiness red %s after the loss, last 200 %s after it; after 1 s: %v",
				len(answers), len(acked), red.Round(time.Millisecond), last200.Sub(lostAt).Round(time.Millisecond), after)
			if red > time.Second {
				t.Fatalf("readiness red only %s after the loss", red)
			}

			// The restart refuses, and names the rescued copy.
			if c.name == "deleted" {
				_, err = jwtledger.Open(ctx, jwtledger.Config{DataDir: dir})
				if !errors.Is(err, jwtledger.ErrMissingDatabase) || !strings.Contains(err.Error(), ".rescued-") {
					t.Fatalf("restart on the data directory: %v, want ErrMissingDatabase naming the rescued copy", err)
				}
			}
			rescued, _ := filepath.Glob(dbPath + ".rescued-*")
			if len(rescued) != 1 {
				t.Fatalf("rescued copies: %v", rescued)
			}
			if info, err := os.Stat(rescued[0]); err != nil || info.Mode().Perm() != 0o600 {
				t.Fatalf("rescued copy: %v, mode %v, want 0600", err, info.Mode())
			}
			// Exactly what the refusal's hint says: move the copy into place
			// (the lost file's write-ahead log must not be replayed onto it).
			if err := os.Rename(rescued[0], dbPath); err != nil {
				t.Fatal(err)
			}
			l2, err := jwtledger.Open(ctx, jwtledger.Config{DataDir: dir})
			if err != nil {
				t.Fatal(err)
			}
			defer l2.Close()
			recs, err := l2.Trail().Query(ctx, trail.Filter{Event: "token.issue"})
			if err != nil {
				t.Fatal(err)
			}
			have := map[string]bool{}
			for _, r := range recs {
				have[r.JTI] = true
			}
			for jti := range acked {
				if !have[jti] {
					t.Fatalf("acknowledged token %s has no record in the rescued database", jti)
				}
			}
			rep, err := l2.Trail().Verify(ctx, auditor.VerifyOptions{})
			if err != nil || !rep.OK {
				t.Fatalf("audit verify of the rescued database: %v %+v", err, rep)
			}
			marks, _ := l2.Trail().Query(ctx, trail.Filter{Event: "audit.undelivered"})
			t.Logf("rescued database: %d issuance records for %d acknowledged tokens, %d undelivered markers", len(recs), len(acked), len(marks))
		})
	}
}

func walCheckpoint(t *testing.T, path string) {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var busy, frames, done int
	if err := db.QueryRow("PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &frames, &done); err != nil || busy != 0 {
		t.Fatalf("wal checkpoint: %v (busy %d)", err, busy)
	}
}

func getJSON(t *testing.T, url string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// The same losses on an idle server: readiness (the probe, at most one
// small write a second) turns red within a second without any traffic,
// and stays red.
func TestDatabaseLostIdle(t *testing.T) {
	cases := []struct {
		name string
		lose func(db, older string) error
	}{
		{"deleted", func(db, _ string) error { return os.Remove(db) }},
		{"replaced by an older copy", func(db, older string) error { return os.Rename(older, db) }},
		{"overwritten in place by an older copy", func(db, older string) error {
			b, err := os.ReadFile(older)
			if err != nil {
				return err
			}
			return os.WriteFile(db, b, 0o600)
		}},
		{"truncated", func(db, _ string) error { return os.Truncate(db, 4096) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			dbPath := filepath.Join(dir, "jwtledger.db")
			l, err := jwtledger.Open(ctx, jwtledger.Config{DataDir: dir})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			older := filepath.Join(t.TempDir(), "older.db")
			copyDB(t, dbPath, older)
			for range 50 {
				if _, err := l.Issue(ctx, jwtledger.IssueRequest{Subject: "s"}); err != nil {
					t.Fatal(err)
				}
			}
			// Let SQLite move the log into the database file (as its own
			// checkpoints do every 1000 pages), so that the file holds
			// the records.
			walCheckpoint(t, dbPath)
			srv := httptest.NewServer(server.New(server.Config{Ledger: l}).Handler())
			defer srv.Close()
			if code := readyStatus(srv.URL); code != http.StatusOK {
				t.Fatalf("readyz before: %d", code)
			}
			lostAt := time.Now()
			if err := c.lose(dbPath, older); err != nil {
				t.Fatal(err)
			}
			red := within(t, 3*time.Second, "readiness red", func() bool { return readyStatus(srv.URL) == http.StatusServiceUnavailable })
			t.Logf("readiness red %s after the loss", time.Since(lostAt).Round(time.Millisecond))
			if red > time.Second+100*time.Millisecond {
				t.Fatalf("readiness red %s after the loss, want within 1 s", red)
			}
			if _, err := l.Issue(ctx, jwtledger.IssueRequest{Subject: "s"}); !errors.Is(err, jwtledger.ErrAudit) {
				t.Fatalf("issue after the loss: %v, want ErrAudit", err)
			}
		})
	}
}
