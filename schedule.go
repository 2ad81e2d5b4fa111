package jwtledger

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jwtledger/jwtledger/internal/audit"
	"github.com/jwtledger/jwtledger/internal/defaults"
	"github.com/jwtledger/jwtledger/internal/keyring"
	"github.com/jwtledger/jwtledger/internal/keys"
	"github.com/jwtledger/jwtledger/store"
)

// keyScheduleStep performs the due steps of scheduled key rotation
// (Config.RotateEvery): pre-publish the next key PrePublish before the
// active key is RotateEvery old, make it active once its time comes, and
// retire verify-only keys once every token they signed has expired (known
// only when Config.MaxTTL bounds token lifetimes). A long-running ledger
// calls it every few seconds; it is safe to call from several processes.
func (l *Ledger) keyScheduleStep(ctx context.Context) error {
	if l.cfg.RotateEvery <= 0 {
		return nil
	}
	now := l.cfg.Now().UTC()
	stored, err := l.db.Keys(ctx)
	if err != nil {
		return err
	}
	due := keyring.Schedule{RotateEvery: l.cfg.RotateEvery, PrePublish: l.cfg.PrePublish, MaxTTL: l.cfg.MaxTTL, Leeway: defaults.Leeway}.Due(stored, now)
	m := Meta{Actor: "jwtledger"}
	changed := false
	if pending, active := due.Promote, due.Active; pending != nil {
		rec := l.record(audit.KeyRotate, audit.OK, m)
		rec.KID, rec.Alg, rec.Reason = pending.KID, string(pending.Alg), "scheduled rotation: pre-published key is now active"
		if active != nil {
			rec.Reason += "; previous active key " + active.KID + " is now verify-only"
		}
		if err := l.db.PromoteKey(ctx, pending.KID, now, l.cfg.NodeID, []*audit.Record{rec}); err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("promote key: %w", err)
		} else if err == nil {
			l.w.Emit([]*audit.Record{rec})
		}
		changed = true
	} else if active := due.PrePublish; active != nil {
		k, err := keys.Generate(active.Alg)
		if err != nil {
			return err
		}
		activates := now.Add(l.cfg.PrePublish)
		if _, err := l.addKeyAt(ctx, k, keys.VerifyOnly, activates, audit.KeyCreate,
			"pre-published for scheduled rotation; signs from "+activates.Format(time.RFC3339), m); err != nil && !errors.Is(err, store.ErrExists) {
			// ErrExists: another process or node pre-published one first.
			return fmt.Errorf("pre-publish key: %w", err)
		}
		changed = true
	}
	// Retire verify-only keys whose tokens have all expired.
	for _, k := range due.Retire {
		if err := l.RetireKey(ctx, k.KID, m); err != nil && !errors.Is(err, ErrInvalidRequest) {
			return fmt.Errorf("retire key: %w", err)
		}
		changed = true
	}
	if changed {
		return l.loadKeys(ctx, false)
	}
	return nil
}

// runKeySchedule calls keyScheduleStep regularly until stop is closed.
func (l *Ledger) runKeySchedule(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	every := min(l.cfg.PrePublish/4, time.Minute)
	if every < time.Second {
		every = time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := l.keyScheduleStep(context.Background()); err != nil {
			l.log.Warn("scheduled key rotation failed", "err", err)
		}
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}
