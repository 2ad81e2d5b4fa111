package keyring

import (
	"time"

	"github.com/jwtledger/jwtledger/internal/keys"
)

// Schedule is the scheduled rotation of a ledger's keys: the active key
// is rotated when it is RotateEvery old, its successor pre-published
// PrePublish before; with MaxTTL bounding token lifetimes, a verify-only
// key is retired once every token it signed has expired (plus Leeway).
type Schedule struct {
	RotateEvery, PrePublish, MaxTTL, Leeway time.Duration
}

// Steps are the due steps of a [Schedule].
type Steps struct {
	// Promote, if set, is the pre-published key whose time has come;
	// Active is the key it replaces (nil when none).
	Promote, Active *keys.Stored
	// PrePublish, if set, is the active key whose successor is due for
	// pre-publication (with the same algorithm).
	PrePublish *keys.Stored
	// Retire are the verify-only keys whose tokens have all expired.
	Retire []keys.Stored
}

// Due returns the steps of s due at now for the stored keys.
func (s Schedule) Due(stored []keys.Stored, now time.Time) Steps {
	var st Steps
	if s.RotateEvery <= 0 {
		return st
	}
	var active, pending *keys.Stored
	for i := range stored {
		k := &stored[i]
		switch {
		case k.State == keys.Active && (active == nil || k.Created.After(active.Created)):
			active = k
		case k.State == keys.VerifyOnly && !k.Activates.IsZero():
			pending = k
		}
	}
	switch {
	case pending != nil && !now.Before(pending.Activates):
		st.Promote, st.Active = pending, active
	case pending == nil && active != nil && !now.Before(active.Created.Add(s.RotateEvery-s.PrePublish)):
		st.PrePublish = active
	}
	if s.MaxTTL > 0 {
		for _, k := range stored {
			if k.State == keys.VerifyOnly && k.Activates.IsZero() && !k.Rotated.IsZero() &&
				now.After(k.Rotated.Add(s.MaxTTL+s.Leeway)) {
				st.Retire = append(st.Retire, k)
			}
		}
	}
	return st
}
