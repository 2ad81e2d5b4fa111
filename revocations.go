package jwtledger

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// revocationSet keeps the revoked (iss, jti) pairs in memory, so that
// verification needs no query. Revocations made by this ledger apply at
// once; those made by other processes sharing the store are picked up within
// RevocationRefresh. Entries are dropped a day after their token expired.
type revocationSet struct {
	mu         sync.RWMutex
	set        map[[2]string]time.Time
	since      int64        // newest revoked_at read (Unix ns)
	refreshed  atomic.Int64 // when (Unix ns)
	refreshing atomic.Bool
}

// RevocationRefresh is how often verification looks for revocations made
// by other processes.
const RevocationRefresh = 500 * time.Millisecond

// RevocationOverlap is how far back each refresh reads again.
const RevocationOverlap = time.Minute

func (l *Ledger) loadRevocations(ctx context.Context) error {
	rs := &l.revoked
	// Read again the revocations of the last RevocationOverlap: another
	// node's clock may be behind ours, or its transaction may commit after
	// one with a later time was read.
	revs, err := l.db.RevocationsSince(ctx, rs.since-int64(RevocationOverlap), time.Now().Add(-24*time.Hour))
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
	cutoff := time.Now().Add(-24 * time.Hour)
	for k, exp := range rs.set {
		if !exp.IsZero() && exp.Before(cutoff) {
			delete(rs.set, k)
		}
	}
	rs.mu.Unlock()
	rs.refreshed.Store(time.Now().UnixNano())
	return nil
}

// isRevoked reports whether (iss, jti) was revoked, refreshing from the
// store at most once per RevocationRefresh (by one caller at a time).
func (l *Ledger) isRevoked(ctx context.Context, iss, jti string) (bool, error) {
	rs := &l.revoked
	if time.Since(time.Unix(0, rs.refreshed.Load())) > RevocationRefresh && rs.refreshing.CompareAndSwap(false, true) {
		err := l.loadRevocations(ctx)
		rs.refreshing.Store(false)
		if err != nil {
			return false, err
		}
	}
	rs.mu.RLock()
	_, ok := rs.set[[2]string{iss, jti}]
	rs.mu.RUnlock()
	return ok, nil
}

func (l *Ledger) noteRevoked(iss, jti string, exp time.Time) {
	l.revoked.mu.Lock()
	if l.revoked.set == nil {
		l.revoked.set = map[[2]string]time.Time{}
	}
	l.revoked.set[[2]string{iss, jti}] = exp
	l.revoked.mu.Unlock()
}
