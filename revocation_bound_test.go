package jwtledger_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jwtledger/jwtledger"
	"github.com/jwtledger/jwtledger/internal/store/pgtest"
	"github.com/jwtledger/jwtledger/token"
)

// A token revoked on node A is refused on node B within RevocationMaxAge
// of the revocation's commit, under load on both nodes: for each of 100
// revocations, the window is how long after Revoke returned on A a
// verification that started on B after that return still answered valid.
func TestRevocationPropagationUnderLoad(t *testing.T) {
	ctx := context.Background()
	nodes := openNodes(t, pgtest.Database(t), 2)
	a, b := nodes[0], nodes[1]
	other, err := a.Issue(ctx, jwtledger.IssueRequest{Subject: "load"})
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var loadOps atomic.Int64
	for i := range 24 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if i%3 == 0 {
					a.Issue(ctx, jwtledger.IssueRequest{Subject: "load"})
				} else {
					b.Verify(ctx, other.Token)
				}
				loadOps.Add(1)
			}
		})
	}
	defer func() { close(stop); wg.Wait() }()

	const rounds = 100
	var windows []time.Duration
	start := time.Now()
	for range rounds {
		tok, err := a.Issue(ctx, jwtledger.IssueRequest{Subject: "revoked"})
		if err != nil {
			t.Fatal(err)
		}
		var revokedAt atomic.Int64 // Unix ns when Revoke returned on A
		var worst atomic.Int64
		checker := make(chan struct{})
		go func() {
			defer close(checker)
			for {
				began := time.Now()
				_, err := b.Verify(ctx, tok.Token)
				end := time.Now()
				if errors.Is(err, token.ErrRevoked) {
					return
				}
				if r := revokedAt.Load(); r != 0 && err == nil && began.UnixNano() >= r {
					worst.Store(max(worst.Load(), end.UnixNano()-r))
				}
				if r := revokedAt.Load(); r != 0 && time.Since(time.Unix(0, r)) > 5*time.Second {
					return
				}
			}
		}()
		if _, err := a.Revoke(ctx, "", tok.JTI, tok.ExpiresAt, jwtledger.Meta{}); err != nil {
			t.Fatal(err)
		}
		revokedAt.Store(time.Now().UnixNano())
		<-checker
		if time.Since(time.Unix(0, revokedAt.Load())) > 5*time.Second {
			t.Fatal("the revocation never reached node B")
		}
		windows = append(windows, time.Duration(worst.Load()))
	}
	slices.Sort(windows)
	p := func(q float64) time.Duration { return windows[int(q*float64(len(windows)-1))] }
	t.Logf("%d revocations under load (%d load operations, %.0f/s): valid answers on B after the revocation returned on A: p50 %s, p99 %s, max %s",
		rounds, loadOps.Load(), float64(loadOps.Load())/time.Since(start).Seconds(), p(0.5), p(0.99), windows[len(windows)-1])
	if raceEnabled {
		return // the race detector slows everything 5-10 times: figures only
	}
	if windows[len(windows)-1] >= jwtledger.RevocationMaxAge {
		t.Fatalf("a revoked token was answered valid %s after its revocation, bound %s", windows[len(windows)-1], jwtledger.RevocationMaxAge)
	}
}
