package server_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jwtledger/jwtledger"
	"github.com/jwtledger/jwtledger/auditor"
	"github.com/jwtledger/jwtledger/internal/clientauth"
	"github.com/jwtledger/jwtledger/internal/server"
	"github.com/jwtledger/jwtledger/internal/store/pgtest"
	"github.com/jwtledger/jwtledger/trail"
)

// cutProxy forwards TCP connections to a PostgreSQL server until it is cut:
// then it drops every open connection and refuses new ones, as a database
// that went away does, until it is restored.
type cutProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	down   bool
	conns  map[net.Conn]bool
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	t.Cleanup(func() { ln.Close(); p.cut() })
	go p.serve()
	return p
}

func (p *cutProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		down := p.down
		p.mu.Unlock()
		if down {
			c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns[c], p.conns[up] = true, true
		p.mu.Unlock()
		go func() { io.Copy(up, c); up.Close() }()
		go func() { io.Copy(c, up); c.Close() }()
	}
}

func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

func (p *cutProxy) restore() {
	p.mu.Lock()
	p.down = false
	p.mu.Unlock()
}

// The database goes away under load: issuance fails closed with 503 (no
// token without its record), /readyz turns unready, and once the database
// is back the node serves again without a restart; every token answered 200
// has exactly one audit record.
func TestPostgresOutageFailsClosedAndRecovers(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Database(t)
	u, _ := url.Parse(dsn)
	proxy := newCutProxy(t, u.Host)
	viaProxy := *u
	viaProxy.Host = proxy.ln.Addr().String()
	q := viaProxy.Query()
	q.Set("connect_timeout", "1")
	viaProxy.RawQuery = q.Encode()

	master := make([]byte, 32)
	rand.Read(master)
	l, err := jwtledger.Open(ctx, jwtledger.Config{DataDir: t.TempDir(), Store: viaProxy.String(), MasterKey: master, NodeID: "node-f"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	creds, _, err := l.CreateClient(ctx, jwtledger.NewClient{Name: "load", Scopes: []string{clientauth.ScopeIssue}}, jwtledger.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(server.New(server.Config{Ledger: l}).Handler())
	defer srv.Close()

	var phase atomic.Int32 // 0 before, 1 during, 2 after the outage
	var mu sync.Mutex
	acked := map[string]bool{}
	var status [3]map[int]int
	for i := range status {
		status[i] = map[int]int{}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 10 * time.Second}
	for range 8 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				ph := phase.Load()
				req, _ := http.NewRequest("POST", srv.URL+"/v1/tokens", strings.NewReader(`{"sub":"load"}`))
				req.Header.Set("Authorization", "Bearer "+creds.Secret)
				resp, err := client.Do(req)
				if err != nil {
					continue
				}
				var out struct{ JTI string }
				json.NewDecoder(resp.Body).Decode(&out)
				resp.Body.Close()
				mu.Lock()
				status[ph][resp.StatusCode]++
				if resp.StatusCode == http.StatusOK {
					if out.JTI == "" || acked[out.JTI] {
						t.Errorf("200 without a fresh jti: %q", out.JTI)
					}
					acked[out.JTI] = true
				}
				mu.Unlock()
				if resp.StatusCode != http.StatusOK {
					time.Sleep(20 * time.Millisecond)
				}
			}
		})
	}
	ready := func() int {
		resp, err := http.Get(srv.URL + "/readyz")
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	within(t, 10*time.Second, "issuance before the outage", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return status[0][http.StatusOK] > 20
	})
	phase.Store(1)
	proxy.cut()
	readyDuring := 0
	within(t, 10*time.Second, "refusals and readyz 503 during the outage", func() bool {
		mu.Lock()
		refused := status[1][http.StatusServiceUnavailable] > 0
		mu.Unlock()
		readyDuring = ready()
		return refused && readyDuring == http.StatusServiceUnavailable
	})
	proxy.restore()
	phase.Store(2)
	recovered := within(t, 10*time.Second, "issuance back after the database returned", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return status[2][http.StatusOK] > 50
	})
	readyAfter := 0
	within(t, 5*time.Second, "ready again", func() bool {
		readyAfter = ready()
		if readyAfter != http.StatusOK {
			t.Logf("readyz: %v", l.Ready(ctx))
		}
		return readyAfter == http.StatusOK
	})
	close(stop)
	wg.Wait()
	t.Logf("before: %v; during the outage: %v (readyz %d); after: %v (200s again after %s)",
		status[0], status[1], readyDuring, status[2], recovered.Round(time.Millisecond))

	if status[0][http.StatusOK] == 0 || status[2][http.StatusOK] == 0 {
		t.Fatalf("no successful issuance before or after the outage: %v %v", status[0], status[2])
	}
	if status[1][http.StatusServiceUnavailable] == 0 {
		t.Fatalf("no 503 while the database was away: %v", status[1])
	}
	for code := range status[1] {
		if code != http.StatusOK && code != http.StatusServiceUnavailable {
			t.Fatalf("status %d while the database was away: %v", code, status[1])
		}
	}
	if readyDuring != http.StatusServiceUnavailable {
		t.Fatalf("readyz during the outage: %d, want 503", readyDuring)
	}

	// Every acknowledged token has exactly one issuance record.
	direct, err := jwtledger.Open(ctx, jwtledger.Config{DataDir: t.TempDir(), Store: dsn, MasterKey: master, NodeID: "node-check"})
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close()
	recs, err := direct.Trail().Query(ctx, trail.Filter{Chain: "node-f", Event: trail.Event("token.issue")})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, r := range recs {
		if r.Outcome == "ok" {
			seen[r.JTI]++
		}
	}
	for jti := range acked {
		if seen[jti] != 1 {
			t.Fatalf("token %s answered 200 has %d issuance records", jti, seen[jti])
		}
	}
	rep, err := direct.Trail().Verify(ctx, auditor.VerifyOptions{})
	if err != nil || !rep.OK {
		t.Fatalf("audit verify after the outage: %v %+v", err, rep)
	}
	t.Logf("%d acknowledged tokens, each with exactly one record; %d issuance records in all", len(acked), len(recs))
}

// within polls cond until it holds or d has passed, and returns how long
// it took.
func within(t *testing.T, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > d {
			t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}
