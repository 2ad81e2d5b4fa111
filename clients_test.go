package jwtledger_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jwtledger/jwtledger"
	"github.com/jwtledger/jwtledger/internal/store/pgtest"
	"github.com/jwtledger/jwtledger/trail"
)

// clientChangesReach creates, re-keys and deletes a client through ledger
// a and checks each change in a at once and in every other ledger within
// one second (they share a's store: other processes on one SQLite file, or
// other nodes on one PostgreSQL database).
func clientChangesReach(t *testing.T, a *jwtledger.Ledger, others ...*jwtledger.Ledger) {
	t.Helper()
	ctx := context.Background()
	authOK := func(l *jwtledger.Ledger, creds *jwtledger.ClientCredentials) bool {
		c, err := l.Authenticate(ctx, creds.ID, creds.Secret)
		if err != nil && !errors.Is(err, jwtledger.ErrUnauthenticated) {
			t.Fatalf("authenticate: %v", err)
		}
		return c != nil
	}
	// Fill every cache first, so a stale one would show.
	admin, _, err := a.CreateClient(ctx, jwtledger.NewClient{Name: "admin", Scopes: []string{"admin"}}, jwtledger.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range others {
		within(t, time.Second, "the first client on another process", func() bool { return authOK(o, admin) })
	}

	creds, _, err := a.CreateClient(ctx, jwtledger.NewClient{Name: "svc", Scopes: []string{"tokens:verify"}}, jwtledger.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	if !authOK(a, creds) {
		t.Fatal("a new client is refused by the ledger that made it")
	}
	for _, o := range others {
		d := within(t, time.Second, "a new client on another process", func() bool { return authOK(o, creds) })
		t.Logf("created: seen by another process after %s", d)
	}

	rotated, err := a.RotateClientSecret(ctx, creds.ID, jwtledger.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	if authOK(a, creds) || !authOK(a, rotated) {
		t.Fatal("after rotate-secret the ledger that rotated it takes the old secret or refuses the new one")
	}
	for _, o := range others {
		d := within(t, time.Second, "the old secret refused by another process", func() bool { return !authOK(o, creds) })
		t.Logf("rotated: old secret refused by another process after %s", d)
		if !authOK(o, rotated) {
			t.Fatal("the new secret is refused by another process")
		}
	}

	if err := a.DeleteClient(ctx, creds.ID, jwtledger.Meta{}); err != nil {
		t.Fatal(err)
	}
	if authOK(a, rotated) {
		t.Fatal("a deleted client is accepted by the ledger that deleted it")
	}
	for _, o := range others {
		d := within(t, time.Second, "a deleted client refused by another process", func() bool { return !authOK(o, rotated) })
		t.Logf("deleted: refused by another process after %s", d)
	}
}

func TestClientChangesAcrossProcesses(t *testing.T) {
	dir := t.TempDir()
	open := func() *jwtledger.Ledger {
		l, err := jwtledger.Open(context.Background(), jwtledger.Config{DataDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		return l
	}
	clientChangesReach(t, open(), open())
}

func TestClientChangesReachEveryNode(t *testing.T) {
	nodes := openNodes(t, pgtest.Database(t), 3)
	clientChangesReach(t, nodes[0], nodes[1:]...)
}

// TestDeleteClientIsImmediate authenticates a client over and over while
// it is deleted: no authentication that starts after DeleteClient returned
// may succeed, even one racing with a cache reload.
func TestDeleteClientIsImmediate(t *testing.T) {
	l := openLedger(t, func(c *jwtledger.Config) { c.Now = time.Now })
	ctx := context.Background()
	for range 20 {
		creds, _, err := l.CreateClient(ctx, jwtledger.NewClient{Name: "svc", Scopes: []string{"tokens:verify"}}, jwtledger.Meta{})
		if err != nil {
			t.Fatal(err)
		}
		var deleted atomic.Bool
		var late atomic.Int64
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				// Until the deletion, then 50 tries more, across the
				// cache reload the next change causes.
				for n := 0; n < 50; {
					after := deleted.Load()
					if c, _ := l.Authenticate(ctx, creds.ID, creds.Secret); c != nil && after {
						late.Add(1)
					}
					if after {
						n++
					}
				}
			})
		}
		if err := l.DeleteClient(ctx, creds.ID, jwtledger.Meta{}); err != nil {
			t.Fatal(err)
		}
		deleted.Store(true)
		if _, _, err := l.CreateClient(ctx, jwtledger.NewClient{Name: "other", Scopes: []string{"tokens:verify"}}, jwtledger.Meta{}); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		if n := late.Load(); n > 0 {
			t.Fatalf("%d authentications that started after DeleteClient returned succeeded", n)
		}
	}
}

// TestIssuePolicy issues on behalf of a client through the library: the
// ledger applies the client's policy (no HTTP server involved), refusals
// are *PolicyError values recorded as auth.denied, and the defaults of
// audience and lifetime come from the policy.
func TestIssuePolicy(t *testing.T) {
	ctx := context.Background()
	l := openLedger(t, func(c *jwtledger.Config) { c.TTL, c.DenialLimit.Off = time.Hour, true })
	_, cl, err := l.CreateClient(ctx, jwtledger.NewClient{Name: "svc", Scopes: []string{"tokens:issue"}, Policy: jwtledger.ClientPolicy{
		Audiences: []string{"api", "web"}, DefaultAudience: "api", MaxTTL: 15 * time.Minute,
		Claims: []string{"role"}, TokenScopes: []string{"read", "write"},
	}}, jwtledger.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		req      jwtledger.IssueRequest
		rule     string        // the refused rule, "" when issued
		wantAud  []string      // of an issued token
		wantTTL  time.Duration // of an issued token
		wantClms map[string]any
	}{
		{name: "defaults", req: jwtledger.IssueRequest{Subject: "u"}, wantAud: []string{"api"}, wantTTL: 15 * time.Minute},
		{name: "allowed audience and claim", req: jwtledger.IssueRequest{Audience: []string{"web"}, TTL: time.Minute, ClaimsJSON: []byte(`{"role":"r"}`)}, wantAud: []string{"web"}, wantTTL: time.Minute, wantClms: map[string]any{"role": "r"}},
		{name: "audience", req: jwtledger.IssueRequest{Audience: []string{"billing"}}, rule: "audience"},
		{name: "audience as a claim", req: jwtledger.IssueRequest{ClaimsJSON: []byte(`{"aud":"billing"}`)}, rule: "audience"},
		{name: "lifetime", req: jwtledger.IssueRequest{TTL: 2 * time.Hour}, rule: "lifetime"},
		{name: "expiry beyond the maximum", req: jwtledger.IssueRequest{Expiry: time.Now().Add(time.Hour)}, rule: "lifetime"},
		{name: "custom claim", req: jwtledger.IssueRequest{Claims: map[string]any{"admin": true}}, rule: "claim"},
		{name: "scope", req: jwtledger.IssueRequest{Type: "at+jwt", Scopes: []string{"delete"}}, rule: "scope"},
		{name: "access token", req: jwtledger.IssueRequest{Type: "at+jwt", Scopes: []string{"read"}}, wantAud: []string{"api"}, wantTTL: 15 * time.Minute, wantClms: map[string]any{"client_id": cl.ID, "scope": "read"}},
		{name: "access token, every scope", req: jwtledger.IssueRequest{Type: "at+jwt"}, wantAud: []string{"api"}, wantTTL: 15 * time.Minute, wantClms: map[string]any{"client_id": cl.ID, "scope": "read write"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, _ := l.Trail().Query(ctx, trail.Filter{Event: "auth.denied"})
			tt.req.Client = cl
			iss, err := l.Issue(ctx, tt.req)
			if tt.rule != "" {
				var pe *jwtledger.PolicyError
				if !errors.As(err, &pe) || pe.Rule != tt.rule || pe.Detail == "" {
					t.Fatalf("Issue(%+v) = %v, want a refusal of rule %s", tt.req, err, tt.rule)
				}
				after, _ := l.Trail().Query(ctx, trail.Filter{Event: "auth.denied"})
				if len(after) != len(before)+1 || after[len(after)-1].Actor != cl.ID {
					t.Fatalf("%d auth.denied records after the refusal, want %d, by %s", len(after), len(before)+1, cl.ID)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tok, err := l.Verify(ctx, iss.Token)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(tok.Claims.Audience, tt.wantAud) || iss.ExpiresAt.Sub(iss.IssuedAt) != tt.wantTTL {
				t.Fatalf("aud %q, lifetime %v; want %q, %v", tok.Claims.Audience, iss.ExpiresAt.Sub(iss.IssuedAt), tt.wantAud, tt.wantTTL)
			}
			var got map[string]any
			json.Unmarshal(tok.Claims.Raw, &got)
			for k, v := range tt.wantClms {
				if got[k] != v {
					t.Fatalf("claim %s = %v, want %v (%s)", k, got[k], v, tok.Claims.Raw)
				}
			}
		})
	}
}
