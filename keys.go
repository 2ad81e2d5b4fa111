package jwtledger

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jwtledger/jwtledger/internal/audit"
	"github.com/jwtledger/jwtledger/internal/keyring"
	ikeys "github.com/jwtledger/jwtledger/internal/keys"
	"github.com/jwtledger/jwtledger/keys"
	"github.com/jwtledger/jwtledger/store"
)

// KeyInfo describes a managed key without its material.
type KeyInfo struct {
	KID       string     `json:"kid"`
	Alg       keys.Alg   `json:"alg"`
	State     keys.State `json:"state"`
	Created   time.Time  `json:"created"`
	Rotated   time.Time  `json:"rotated,omitzero"`
	Activates time.Time  `json:"activates,omitzero"` // a pre-published key's start
}

// Meta describes who asks, for the audit record.
type Meta struct {
	Actor     string // client id or local user
	Remote    string // remote address
	RequestID string
}

func (l *Ledger) record(ev audit.Event, outcome string, m Meta) *audit.Record {
	return &audit.Record{Time: l.cfg.Now().UTC(), Event: ev, Outcome: outcome,
		Actor: m.Actor, Remote: m.Remote, RequestID: m.RequestID}
}

// ErrHMACSigning refuses an HMAC key as the signing key of a ledger
// configured with Config.RefuseHMACSigning (serve).
var ErrHMACSigning = errors.New("an HMAC key cannot be the active signing key here: HMAC keys are never published in the JWKS, so no relying party could verify its tokens")

// checkSigner refuses k as the active signing key when HMAC keys may not sign.
func (l *Ledger) checkSigner(k *ikeys.Key) error {
	if l.cfg.RefuseHMACSigning && k != nil && k.Family() == ikeys.FamilyHMAC {
		return fmt.Errorf("%w (key %s, %s; hint: 'jwtledger keys rotate --alg ES256' makes an asymmetric key active, or start serve with --allow-hmac-signing)", ErrHMACSigning, k.KID, k.Alg)
	}
	return nil
}

// loadKeys reads the managed keys; with create it generates the first key
// when the store has none.
func (l *Ledger) loadKeys(ctx context.Context, create bool) error {
	stored, err := l.db.Keys(ctx)
	if err != nil {
		return err
	}
	if len(stored) == 0 && create {
		if _, err := l.addKey(ctx, l.cfg.KeyAlg, nil, keys.Active, false, true, audit.KeyCreate, "first use: generated", Meta{Actor: "jwtledger"}); err != nil && !errors.Is(err, store.ErrExists) {
			return fmt.Errorf("create first key: %w", err)
		}
		return l.loadKeys(ctx, false)
	}
	byKID, active, err := keyring.Unseal(l.master, stored)
	if err != nil {
		return err
	}
	l.ring.Set(byKID, active)
	return nil
}

// addKey seals and stores k (generating one for alg when k is nil).
func (l *Ledger) addKey(ctx context.Context, alg keys.Alg, k *ikeys.Key, state keys.State, demote, ifEmpty bool, ev audit.Event, reason string, m Meta) (*KeyInfo, error) {
	if k == nil {
		var err error
		if k, err = ikeys.Generate(alg); err != nil {
			return nil, err
		}
	}
	return l.storeKey(ctx, k, state, time.Time{}, demote, ifEmpty, ev, reason, m)
}

// addKeyAt stores k as a key that becomes active at activates.
func (l *Ledger) addKeyAt(ctx context.Context, k *ikeys.Key, state keys.State, activates time.Time, ev audit.Event, reason string, m Meta) (*KeyInfo, error) {
	return l.storeKey(ctx, k, state, activates, false, false, ev, reason, m)
}

func (l *Ledger) storeKey(ctx context.Context, k *ikeys.Key, state keys.State, activates time.Time, demote, ifEmpty bool, ev audit.Event, reason string, m Meta) (*KeyInfo, error) {
	if !k.IsPrivate() {
		return nil, invalidf("key %s has no private part; only keys that can sign are managed", k.KID)
	}
	if k.Alg == "" {
		k2, err := k.Bind(k.DefaultAlg())
		if err != nil {
			return nil, err
		}
		k = k2
	}
	sealed, err := ikeys.Seal(l.master, k)
	if err != nil {
		return nil, err
	}
	var pub []byte
	if k.Family() != ikeys.FamilyHMAC {
		if pub, err = k.PublicJWK(); err != nil {
			return nil, err
		}
	}
	now := l.cfg.Now().UTC()
	s := ikeys.Stored{KID: k.KID, Alg: k.Alg, State: state, Created: now, Activates: activates, Public: pub, Sealed: sealed}
	rec := l.record(ev, audit.OK, m)
	rec.KID, rec.Alg, rec.Reason = k.KID, string(k.Alg), reason
	if err := l.db.AddKey(ctx, s, demote, ifEmpty, l.cfg.NodeID, []*audit.Record{rec}); err != nil {
		return nil, err
	}
	l.w.Emit([]*audit.Record{rec})
	return &KeyInfo{KID: k.KID, Alg: k.Alg, State: state, Created: now}, nil
}

// Keys lists the managed keys, oldest first.
func (l *Ledger) Keys(ctx context.Context) ([]KeyInfo, error) {
	stored, err := l.db.Keys(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]KeyInfo, len(stored))
	for i, s := range stored {
		out[i] = KeyInfo{KID: s.KID, Alg: s.Alg, State: s.State, Created: s.Created, Rotated: s.Rotated, Activates: s.Activates}
	}
	return out, nil
}

// RotateKey generates a new active key (alg, or the configured KeyAlg when
// empty) and turns the previous active keys verify-only, so tokens they
// signed keep verifying until they expire.
func (l *Ledger) RotateKey(ctx context.Context, alg keys.Alg, m Meta) (*KeyInfo, error) {
	if alg == "" {
		alg = l.cfg.KeyAlg
		if active := l.ring.Active(); active != nil {
			alg = active.Alg
		}
	}
	if !alg.Valid() {
		return nil, invalidf("unsupported algorithm %q", alg)
	}
	if l.cfg.RefuseHMACSigning && alg.Family() == ikeys.FamilyHMAC {
		return nil, invalidf("%w", ErrHMACSigning)
	}
	prev := l.activeKID()
	reason := "rotation"
	if prev != "" {
		reason = "rotation; previous active key " + prev + " is now verify-only"
	}
	info, err := l.addKey(ctx, alg, nil, keys.Active, true, false, audit.KeyRotate, reason, m)
	if err != nil {
		return nil, err
	}
	return info, l.loadKeys(ctx, false)
}

// ImportKey stores an external private key as a managed key in state
// (active makes it the signing key and the current one verify-only).
func (l *Ledger) ImportKey(ctx context.Context, k *keys.Key, state keys.State, m Meta) (*KeyInfo, error) {
	if state == "" {
		state = keys.VerifyOnly
	}
	if _, err := ikeys.ParseState(string(state)); err != nil {
		return nil, invalidf("%v", err)
	}
	if state == keys.Active && l.cfg.RefuseHMACSigning && k.Family() == ikeys.FamilyHMAC {
		return nil, invalidf("%w", ErrHMACSigning)
	}
	info, err := l.addKey(ctx, "", k, state, state == keys.Active, false, audit.KeyCreate, "imported", m)
	if err != nil {
		return nil, err
	}
	return info, l.loadKeys(ctx, false)
}

// RetireKey stops key kid from signing or verifying; it stays in the store
// for the record.
func (l *Ledger) RetireKey(ctx context.Context, kid string, m Meta) error {
	rec := l.record(audit.KeyRetire, audit.OK, m)
	rec.KID = kid
	if err := l.db.SetKeyState(ctx, kid, keys.Retired, l.cfg.Now(), l.cfg.NodeID, []*audit.Record{rec}); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("managed key %q: %w", kid, ErrNotFound)
		}
		return err
	}
	l.w.Emit([]*audit.Record{rec})
	return l.loadKeys(ctx, false)
}

// JWKS returns the public JWK Set of the active and verify-only keys (HMAC
// keys are never published).
func (l *Ledger) JWKS(ctx context.Context) ([]byte, error) {
	if err := l.loadKeys(ctx, false); err != nil {
		return nil, err
	}
	ks := l.ring.All()
	slices.SortFunc(ks, func(a, b *ikeys.Key) int { return a.Created.Compare(b.Created) })
	return ikeys.JWKS(ks)
}

func (l *Ledger) activeKID() string {
	if k := l.ring.Active(); k != nil {
		return k.KID
	}
	return ""
}
