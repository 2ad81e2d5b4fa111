package jwtledger_test

import (
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jwtledger/jwtledger"
	"github.com/jwtledger/jwtledger/auditor"
	"github.com/jwtledger/jwtledger/internal/poll"
	"github.com/jwtledger/jwtledger/internal/store/pgtest"
	"github.com/jwtledger/jwtledger/token"
	"github.com/jwtledger/jwtledger/trail"
)

// openNodes opens n ledgers (nodes) on one PostgreSQL database, at the same
// time, each with a data directory and node id of its own and the one
// master key they share.
func openNodes(t *testing.T, dsn string, n int) []*jwtledger.Ledger {
	t.Helper()
	master := make([]byte, 32)
	rand.Read(master)
	nodes := make([]*jwtledger.Ledger, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range nodes {
		wg.Go(func() {
			nodes[i], errs[i] = jwtledger.Open(context.Background(), jwtledger.Config{
				DataDir: t.TempDir(), Store: dsn, MasterKey: master, NodeID: "node-" + string(rune('a'+i))})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("open node %d: %v", i, err)
		}
		t.Cleanup(func() { nodes[i].Close() })
	}
	return nodes
}

// within polls cond until it holds or d has passed, and returns how long
// it took.
func within(t *testing.T, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	took, ok := poll.Within(d, cond)
	if !ok {
		t.Fatalf("%s: not within %s", what, d)
	}
	return took
}

func TestNodesShareOnePostgres(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Database(t)
	nodes := openNodes(t, dsn, 3)
	a, b, c := nodes[0], nodes[1], nodes[2]

	// One first key for all, whichever node created it.
	kid := func(l *jwtledger.Ledger) string {
		iss, err := l.Issue(ctx, jwtledger.IssueRequest{Subject: "probe"})
		if err != nil {
			t.Fatal(err)
		}
		return iss.KID
	}
	if ka, kb, kc := kid(a), kid(b), kid(c); ka != kb || kb != kc {
		t.Fatalf("nodes sign with different keys: %s %s %s", ka, kb, kc)
	}

	// A token issued on A verifies on B and C.
	iss, err := a.Issue(ctx, jwtledger.IssueRequest{Subject: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range []*jwtledger.Ledger{b, c} {
		if _, err := n.Verify(ctx, iss.Token); err != nil {
			t.Fatalf("node %d refused A's token: %v", i+1, err)
		}
	}

	// Revoked on B, refused by A within a second (RevocationRefresh).
	if _, err := b.Revoke(ctx, "", iss.JTI, iss.ExpiresAt, jwtledger.Meta{}); err != nil {
		t.Fatal(err)
	}
	took := within(t, jwtledger.RevocationRefresh+300*time.Millisecond, "revocation on B seen by A", func() bool {
		_, err := a.Verify(ctx, iss.Token)
		return errors.Is(err, token.ErrRevoked)
	})
	t.Logf("revocation on B refused by A after %s", took.Round(time.Millisecond))

	// A rotation by C is used by every node within KeyRefresh; tokens of
	// the previous key keep verifying everywhere.
	old, err := b.Issue(ctx, jwtledger.IssueRequest{Subject: "before-rotation"})
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.RotateKey(ctx, "", jwtledger.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range nodes {
		took := within(t, jwtledger.KeyRefresh+time.Second, "new key used", func() bool { return kid(n) == info.KID })
		t.Logf("node %d signs with the new key after %s", i, took.Round(time.Millisecond))
		if _, err := n.Verify(ctx, old.Token); err != nil {
			t.Fatalf("node %d refused a token of the previous key: %v", i, err)
		}
	}

	// Every node writes its own chain; the audit of all chains verifies
	// from any node, with a checkpoint signed by each.
	for _, n := range nodes {
		if _, err := n.Trail().Checkpoint(ctx, trail.Meta{}); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := b.Trail().Verify(ctx, auditor.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK || len(rep.Chains) != 3 {
		t.Fatalf("audit verify: ok %v, %d chains, damage %+v", rep.OK, len(rep.Chains), rep.Damage)
	}
	for _, cr := range rep.Chains {
		if cr.Records == 0 || cr.Checkpoints == 0 {
			t.Fatalf("chain %+v has no records or no checkpoint", cr)
		}
	}
	recs, err := c.Trail().Query(ctx, trail.Filter{JTI: iss.JTI})
	if err != nil {
		t.Fatal(err)
	}
	var events []string
	for _, r := range recs {
		events = append(events, r.Chain+":"+string(r.Event))
	}
	want := map[string]bool{"node-a:token.issue": true, "node-b:token.verify": true, "node-c:token.verify": true, "node-b:token.revoke": true, "node-a:token.verify": true}
	for _, e := range events {
		delete(want, e)
	}
	if len(want) > 0 {
		t.Fatalf("records of the token across nodes: %v; missing %v", events, want)
	}
}

// A shared store needs one master key for every node.
func TestPostgresNeedsASharedMasterKey(t *testing.T) {
	dsn := pgtest.Database(t)
	t.Setenv("JWTLEDGER_MASTER_KEY", "")
	_, err := jwtledger.Open(context.Background(), jwtledger.Config{DataDir: t.TempDir(), Store: dsn})
	if err == nil || !strings.Contains(err.Error(), "JWTLEDGER_MASTER_KEY") {
		t.Fatalf("open without a shared master key: %v", err)
	}
}
