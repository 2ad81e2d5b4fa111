// Package revocation is a ledger's in-memory view of the revoked (iss, jti)
// pairs, so that verification needs no query. Revocations made by this
// ledger apply at once ([View.Note]). Those made by other processes or
// nodes sharing the store are picked up so that no verdict rests on a view
// of the store older than [MaxAge] (see [View.Fresh]); a shared store's
// notification ([View.Changed]) makes every verification that starts after
// it wait for a fresh view. Entries are dropped a day after their token
// expired.
package revocation

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jwtledger/jwtledger/store"
)

// Source is the store's side of the view.
type Source interface {
	RevocationsSince(ctx context.Context, since int64, notExpiredAt time.Time) ([]store.Revocation, error)
}

// View is the revocation view of one ledger. Set its fields before use.
type View struct {
	Source Source
	// Before, if set, is read at the start of every refresh: other shared
	// state whose changes reach this process within the same bound (the
	// ledger's clients).
	Before func(context.Context) error
	// Now is the ledger's clock, in which tokens expire.
	Now func() time.Time

	mu    sync.RWMutex
	set   map[[2]string]time.Time
	since int64 // newest revoked_at read (Unix ns)

	// viewAt is when the newest successful read started (Unix ns): the
	// set holds every revocation committed before then.
	viewAt   atomic.Int64
	notified atomic.Int64 // when the store last said revocations changed (Unix ns)

	flight   sync.Mutex
	inflight *read
}

// read is one read of the store that callers may wait for.
type read struct {
	start time.Time
	done  chan struct{}
	err   error
}

// Refresh bounds.
const (
	// Refresh is the age of the view at which a verification
	// starts a refresh in the background (without waiting for it).
	Refresh = 200 * time.Millisecond
	// MaxAge bounds how old the view of other nodes'
	// revocations may be when a verdict is given: a verification finding
	// an older view waits for a fresh one, and fails closed (ErrAudit, no
	// verdict) when none can be read in time. So a token revoked anywhere
	// is refused everywhere within this time of the revocation's commit.
	MaxAge = time.Second
	// wait is the view age from which verifications wait for
	// the refresh instead of going on with the old view: the rest of
	// MaxAge is left for recording the verdict.
	wait = 400 * time.Millisecond
)

// overlap is how far back each refresh reads again.
const overlap = time.Minute

// ErrStale is the failure of a verification whose view of the
// revocations could not be refreshed within MaxAge.
var ErrStale = errors.New("the revocations could not be read in time")

// Load reads what other processes sharing the store may have changed:
// Before, then the new revocations.
func (rs *View) Load(ctx context.Context) error {
	start := time.Now()
	if rs.Before != nil {
		if err := rs.Before(ctx); err != nil {
			return err
		}
	}
	rs.mu.RLock()
	since := rs.since
	rs.mu.RUnlock()
	// Read again the revocations of the last overlap: another
	// node's clock may be behind ours, or its transaction may commit after
	// one with a later time was read.
	// Expiry is in the ledger's time (Config.Now), as the tokens' exp.
	revs, err := rs.Source.RevocationsSince(ctx, since-int64(overlap), rs.Now().Add(-24*time.Hour))
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
	cutoff := rs.Now().Add(-24 * time.Hour)
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
func (rs *View) refresh() *read {
	rs.flight.Lock()
	defer rs.flight.Unlock()
	if rd := rs.inflight; rd != nil {
		return rd
	}
	rd := &read{start: time.Now(), done: make(chan struct{})}
	rs.inflight = rd
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), MaxAge)
		rd.err = rs.Load(ctx)
		cancel()
		rs.flight.Lock()
		rs.inflight = nil
		rs.flight.Unlock()
		close(rd.done)
	}()
	return rd
}

// Fresh makes sure the view of what other processes changed
// (revocations, clients) started after any change notification received
// before the call and at most MaxAge ago; otherwise it waits for
// a refresh (one read shared by all waiting callers), and fails when there
// is none in time. Verification and client authentication both call it.
func (rs *View) Fresh(ctx context.Context) error {
	for {
		now := time.Now()
		view := rs.viewAt.Load()
		age := now.Sub(time.Unix(0, view))
		fresh := view >= rs.notified.Load()
		if fresh && age < wait {
			if age >= Refresh {
				rs.refresh() // in the background: this caller need not wait
			}
			break
		}
		rd := rs.refresh()
		select {
		case <-rd.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		if rd.err != nil && time.Since(time.Unix(0, rs.viewAt.Load())) >= MaxAge {
			return fmt.Errorf("%w: %v", ErrStale, rd.err)
		}
		if !rd.start.Before(now) || rd.err != nil {
			// A read that started after this call began: current enough.
			break
		}
		// The read had started before this call: wait for the next one.
	}
	if time.Since(time.Unix(0, rs.viewAt.Load())) >= MaxAge {
		return ErrStale
	}
	return nil
}

// IsRevoked reports whether (iss, jti) was revoked, from a fresh view (see
// [View.Fresh]).
func (rs *View) IsRevoked(ctx context.Context, iss, jti string) (bool, error) {
	if err := rs.Fresh(ctx); err != nil {
		return false, err
	}
	rs.mu.RLock()
	_, ok := rs.set[[2]string{iss, jti}]
	rs.mu.RUnlock()
	return ok, nil
}

// Changed is told by a shared store that another node revoked a token:
// verifications from now on wait for a view read after this.
func (rs *View) Changed() {
	rs.notified.Store(time.Now().UnixNano())
}

// Note adds a revocation made by this ledger.
func (rs *View) Note(iss, jti string, exp time.Time) {
	rs.mu.Lock()
	if rs.set == nil {
		rs.set = map[[2]string]time.Time{}
	}
	rs.set[[2]string{iss, jti}] = exp
	rs.mu.Unlock()
}
