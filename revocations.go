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
// RevocationRefresh (see refreshShared). Entries are dropped a day after
// their token expired.
type revocationSet struct {
	mu         sync.RWMutex
	set        map[[2]string]time.Time
	since      int64        // newest revoked_at read (Unix ns)
	refreshed  atomic.Int64 // when (Unix ns)
	refreshing atomic.Bool
}

// RevocationRefresh is how often verification and client authentication
// look for revocations and client changes made by other processes.
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

// isRevoked reports whether (iss, jti) was revoked, after refreshing what
// other processes changed if that is due.
func (l *Ledger) isRevoked(ctx context.Context, iss, jti string) (bool, error) {
	if err := l.refreshShared(ctx); err != nil {
		return false, err
	}
	rs := &l.revoked
	rs.mu.RLock()
	_, ok := rs.set[[2]string{iss, jti}]
	rs.mu.RUnlock()
	return ok, nil
}

// refreshShared re-reads what other processes sharing the store may have
// changed and this ledger caches, at most once per RevocationRefresh (by
// one caller at a time): the new revocations, and whether the clients
// changed (store.MetaClientsChanged), in which case the client cache is
// dropped. Verification and client authentication both call it, so a
// revocation, a deleted client or a rotated secret takes effect in every
// process within RevocationRefresh. A shared store's notifications
// (Ledger.storeChanged) make the next call refresh at once.
func (l *Ledger) refreshShared(ctx context.Context) error {
	rs := &l.revoked
	if time.Since(time.Unix(0, rs.refreshed.Load())) <= RevocationRefresh || !rs.refreshing.CompareAndSwap(false, true) {
		return nil
	}
	defer rs.refreshing.Store(false)
	if err := l.clients.checkMark(ctx, l.db); err != nil {
		return err
	}
	return l.loadRevocations(ctx)
}

func (l *Ledger) noteRevoked(iss, jti string, exp time.Time) {
	l.revoked.mu.Lock()
	if l.revoked.set == nil {
		l.revoked.set = map[[2]string]time.Time{}
	}
	l.revoked.set[[2]string{iss, jti}] = exp
	l.revoked.mu.Unlock()
}
