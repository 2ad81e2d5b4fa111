package postgres_test

import (
	"context"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/jwtledger/jwtledger/internal/audit"
	"github.com/jwtledger/jwtledger/internal/store/pgtest"
	"github.com/jwtledger/jwtledger/store/postgres"
)

// freezeProxy forwards TCP connections to a server until frozen: then it
// forwards nothing more and answers nothing, keeping every connection open,
// as a database whose machine vanished from the network does (no reset,
// no answer).
type freezeProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	frozen bool
	conns  []net.Conn
	held   []net.Conn // accepted while frozen
}

func newFreezeProxy(t *testing.T, target string) *freezeProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &freezeProxy{ln: ln, target: target}
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, c := range p.conns {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			p.conns = append(p.conns, c)
			frozen := p.frozen
			p.mu.Unlock()
			if frozen {
				p.mu.Lock()
				p.held = append(p.held, c) // held open, never answered
				p.mu.Unlock()
				continue
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, up)
			p.mu.Unlock()
			go p.copy(up, c)
			go p.copy(c, up)
		}
	}()
	return p
}

// copy forwards src to dst until frozen (then it drops what it reads);
// when either side ends it closes both.
func (p *freezeProxy) copy(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		p.mu.Lock()
		frozen := p.frozen
		p.mu.Unlock()
		if n > 0 && !frozen {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// freeze stops (on) or resumes forwarding; resuming closes the connections
// accepted while frozen, as their peer's timeouts would have by then.
func (p *freezeProxy) freeze(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.frozen = on
	if !on {
		for _, c := range p.held {
			c.Close()
		}
		p.held = nil
	}
}

// A database that stops answering without closing the connection (its
// machine gone from the network) must not hold an append forever: it fails
// within the store's commit timeout, so the node answers 503 instead of
// hanging, and appends succeed again once the database answers.
func TestAppendFailsWhenTheDatabaseStopsAnswering(t *testing.T) {
	srv := pgtest.StartServer(t)
	u, _ := url.Parse(srv.URL())
	proxy := newFreezeProxy(t, u.Host)
	u.Host = proxy.ln.Addr().String()
	q := u.Query()
	q.Set("connect_timeout", "2")
	u.RawQuery = q.Encode()
	ctx := context.Background()
	db, err := postgres.Open(ctx, u.String(), postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rec := func() []*audit.Record {
		return []*audit.Record{{Time: time.Now(), Event: audit.TokenIssue, Outcome: audit.OK}}
	}
	if err := db.Append(ctx, "n", rec()); err != nil {
		t.Fatal(err)
	}
	proxy.freeze(true)
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- db.Append(ctx, "n", rec()) }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("an append to a database that does not answer succeeded")
		}
		t.Logf("append failed after %v: %v", time.Since(start).Round(time.Millisecond), err)
	case <-time.After(30 * time.Second):
		t.Fatal("an append to a database that does not answer still waits after 30 s")
	}
	proxy.freeze(false)
	start = time.Now()
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := db.Append(ctx, "n", rec())
		if err == nil {
			t.Logf("appends succeed again %v after the database answers", time.Since(start).Round(time.Millisecond))
			break
		}
		t.Logf("after %v: %v", time.Since(start).Round(time.Millisecond), err)
		if time.Now().After(deadline) {
			t.Fatalf("appends still fail 20 s after the database answers again: %v", err)
		}
	}
}
