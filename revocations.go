package jwtledger

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// revocationSet keeps the revoked (iss, jti) pairs in memory, so that
// verification needs no query. Revocations made by this ledger apply at
// once. Those made by other processes or nodes sharing the store are
// picked up so that no verdict rests on a view of the store older than
// [revocationMaxAge] (see freshView); a shared store's notification makes
// every verification that starts after it wait for a fresh view. The same
// read checks whether the clients changed (store.MetaClientsChanged), so a
// deleted client or a rotated secret reaches every process within the same
// bound. Entries are dropped a day after their token expired.
type revocationSet struct {
	mu    sync.RWMutex
	set   map[[2]string]time.Time
	since int64 // newest revoked_at read (Unix ns)

	// viewAt is when the newest successful read started (Unix ns): the
	// set holds every revocation committed before then.
	viewAt   atomic.Int64
	notified atomic.Int64 // when the store last said revocations changed (Unix ns)

	flight   sync.Mutex
	inflight *revocationRead
}

// revocationRead is one read of the store that callers may wait for.
type revocationRead struct {
	start time.Time
	done  chan struct{}
	err   error
}

// Revocation refresh bounds.
const (
	// revocationRefresh is the age of the view at which a verification
	// starts a refresh in the background (without waiting for it).
	revocationRefresh = 200 * time.Millisecond
	// revocationMaxAge bounds how old the view of other nodes'
	// revocations may be when a verdict is given: a verification finding
	// an older view waits for a fresh one, and fails closed (ErrAudit, no
	// verdict) when none can be read in time. So a token revoked anywhere
	// is refused everywhere within this time of the revocation's commit.
	revocationMaxAge = time.Second
	// revocationWait is the view age from which verifications wait for
	// the refresh instead of going on with the old view: the rest of
	// revocationMaxAge is left for recording the verdict.
	revocationWait = 400 * time.Millisecond
)

// revocationOverlap is how far back each refresh reads again.
const revocationOverlap = time.Minute

// errRevocationsStale is the failure of a verification whose view of the
// revocations could not be refreshed within revocationMaxAge.
var errRevocationsStale = errors.New("the revocations could not be read in time")

// loadShared reads what other processes sharing the store may have changed
// and this ledger caches: whether the clients changed (then the client
// cache is dropped), and the new revocations.
func (l *Ledger) loadShared(ctx context.Context) error {
	rs := &l.revoked
	start := time.Now()
	if err := l.clients.checkMark(ctx, l.db); err != nil {
		return err
	}
	rs.mu.RLock()
	since := rs.since
	rs.mu.RUnlock()
	// Read again the revocations of the last revocationOverlap: another
	// node's clock may be behind ours, or its transaction may commit after
	// one with a later time was read.
	// Expiry is in the ledger's time (Config.Now), as the tokens' exp.
	revs, err := l.db.RevocationsSince(ctx, since-int64(revocationOverlap), l.cfg.Now().Add(-24*time.Hour))
	if err != nil {
		return err
	}
	rs.mu.Lock()
	if rs.set == nil {
		rs.set = make(map[[2]string]time.Time, len(revs))
	}
	for _, r := range revs {
		rs.set[[2]string{r.Iss, r.JTI}] = r.Exp
		rs.since = max(rs.since, r.RevokedAt)
	}
	cutoff := l.cfg.Now().Add(-24 * time.Hour)
	for k, exp := range rs.set {
		if !exp.IsZero() && exp.Before(cutoff) {
			delete(rs.set, k)
		}
	}
	rs.mu.Unlock()
	for {
		v := rs.viewAt.Load()
		if start.UnixNano() <= v || rs.viewAt.CompareAndSwap(v, start.UnixNano()) {
			break
		}
	}
	return nil
}

// refresh returns the read of the store that is running, or starts one.
func (l *Ledger) refresh() *revocationRead {
	rs := &l.revoked
	rs.flight.Lock()
	defer rs.flight.Unlock()
	if rd := rs.inflight; rd != nil {
		return rd
	}
	rd := &revocationRead{start: time.Now(), done: make(chan struct{})}
	rs.inflight = rd
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), revocationMaxAge)
		rd.err = l.loadShared(ctx)
		cancel()
		rs.flight.Lock()
		rs.inflight = nil
		rs.flight.Unlock()
		close(rd.done)
	}()
	return rd
}

// freshView makes sure the view of what other processes changed
// (revocations, clients) started after any change notification received
// before the call and at most revocationMaxAge ago; otherwise it waits for
// a refresh (one read shared by all waiting callers), and fails when there
// is none in time. Verification and client authentication both call it.
func (l *Ledger) freshView(ctx context.Context) error {
	rs := &l.revoked
	for {
		now := time.Now()
		view := rs.viewAt.Load()
		age := now.Sub(time.Unix(0, view))
		fresh := view >= rs.notified.Load()
		if fresh && age < revocationWait {
			if age >= revocationRefresh {
				l.refresh() // in the background: this caller need not wait
			}
			break
		}
		rd := l.refresh()
		select {
		case <-rd.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		if rd.err != nil && time.Since(time.Unix(0, rs.viewAt.Load())) >= revocationMaxAge {
			return fmt.Errorf("%w: %v", errRevocationsStale, rd.err)
		}
		if !rd.start.Before(now) || rd.err != nil {
			// A read that started after this call began: current enough.
			break
		}
		// The read had started before this call: wait for the next one.
	}
	if time.Since(time.Unix(0, rs.viewAt.Load())) >= revocationMaxAge {
		return errRevocationsStale
	}
	return nil
}

// isRevoked reports whether (iss, jti) was revoked, from a fresh view (see
// freshView).
func (l *Ledger) isRevoked(ctx context.Context, iss, jti string) (bool, error) {
	if err := l.freshView(ctx); err != nil {
		return false, err
	}
	rs := &l.revoked
	rs.mu.RLock()
	_, ok := rs.set[[2]string{iss, jti}]
	rs.mu.RUnlock()
	return ok, nil
}

// revocationsChanged is told by a shared store that another node revoked
// a token: verifications from now on wait for a view read after this.
func (l *Ledger) revocationsChanged() {
	l.revoked.notified.Store(time.Now().UnixNano())
}

func (l *Ledger) noteRevoked(iss, jti string, exp time.Time) {
	l.revoked.mu.Lock()
	if l.revoked.set == nil {
		l.revoked.set = map[[2]string]time.Time{}
	}
	l.revoked.set[[2]string{iss, jti}] = exp
	l.revoked.mu.Unlock()
}
