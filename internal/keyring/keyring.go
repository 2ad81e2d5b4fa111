// Package keyring is a ledger's in-memory set of managed keys: the active
// signing key and the verify-only keys, unsealed from the store, re-read
// when another process or node may have changed them.
package keyring

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jwtledger/jwtledger/internal/keys"
)

// Refresh is how often the signing key is re-read from the store, so a
// rotation made by another process or node is followed within this time.
const Refresh = 2 * time.Second

// Ring holds the managed keys. Reload reads them again (see Unseal); Log
// receives the failures of the reloads the ring starts itself.
type Ring struct {
	Reload func(context.Context) error
	Log    *slog.Logger

	mu         sync.RWMutex
	byKID      map[string]*keys.Key // active and verify-only keys
	active     *keys.Key
	lastReload time.Time

	refreshing atomic.Bool
	tried      atomic.Int64 // Unix ns of the newest reload attempt
}

// Unseal opens the stored keys that are not retired with master, and
// returns them by kid with the newest active one.
func Unseal(master []byte, stored []keys.Stored) (map[string]*keys.Key, *keys.Key, error) {
	byKID := make(map[string]*keys.Key, len(stored))
	var active *keys.Key
	for _, s := range stored {
		if s.State == keys.Retired {
			continue
		}
		k, err := keys.Unseal(master, s.KID, s.Sealed)
		if err != nil {
			return nil, nil, fmt.Errorf("load key: %w (hint: is JWTLEDGER_MASTER_KEY or master.key the one this store was made with?)", err)
		}
		if k.Alg == "" {
			k.Alg = s.Alg
		}
		k.State, k.Created, k.Rotated = s.State, s.Created, s.Rotated
		byKID[k.KID] = k
		if s.State == keys.Active && (active == nil || s.Created.After(active.Created)) {
			active = k
		}
	}
	return byKID, active, nil
}

// Set replaces the keys with a fresh read.
func (r *Ring) Set(byKID map[string]*keys.Key, active *keys.Key) {
	r.mu.Lock()
	r.byKID, r.active, r.lastReload = byKID, active, time.Now()
	r.mu.Unlock()
}

// Stale makes the next Refresh read the keys again (a shared store said
// they changed).
func (r *Ring) Stale() {
	r.mu.Lock()
	r.lastReload = time.Time{}
	r.mu.Unlock()
	r.tried.Store(0)
}

// Active returns the active signing key, or nil.
func (r *Ring) Active() *keys.Key {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.active
}

// All returns the active and verify-only keys, in no order.
func (r *Ring) All() []*keys.Key {
	r.mu.RLock()
	defer r.mu.RUnlock()
	ks := make([]*keys.Key, 0, len(r.byKID))
	for _, k := range r.byKID {
		ks = append(ks, k)
	}
	return ks
}

// Refresh reloads the keys when they were read more than [Refresh] ago;
// one caller at a time does it, the others go on with the keys they have.
func (r *Ring) Refresh() {
	r.mu.RLock()
	stale := time.Since(r.lastReload) > Refresh
	r.mu.RUnlock()
	if !stale || time.Since(time.Unix(0, r.tried.Load())) < Refresh || !r.refreshing.CompareAndSwap(false, true) {
		return
	}
	defer r.refreshing.Store(false)
	r.tried.Store(time.Now().UnixNano())
	if err := r.Reload(context.Background()); err != nil {
		// Keep signing with the keys we have; try again after Refresh.
		r.Log.Warn("reload keys failed", "err", err)
	}
}

// Candidates implements the managed key source of verification: the key the
// token's kid names, reloading from the store (at most once a second) when
// another process may have added it.
func (r *Ring) Candidates(kid string) []*keys.Key {
	if kid == "" {
		return nil
	}
	r.mu.RLock()
	k := r.byKID[kid]
	stale := time.Since(r.lastReload) > time.Second
	r.mu.RUnlock()
	if k == nil && stale {
		if err := r.Reload(context.Background()); err != nil {
			r.Log.Warn("reload keys failed", "err", err)
		}
		r.mu.RLock()
		k = r.byKID[kid]
		r.mu.RUnlock()
	}
	if k == nil {
		return nil
	}
	return []*keys.Key{k}
}
