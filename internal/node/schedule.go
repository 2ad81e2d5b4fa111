package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jwtledger/jwtledger/internal/audit"
	"github.com/jwtledger/jwtledger/internal/defaults"
	"github.com/jwtledger/jwtledger/internal/keyring"
	"github.com/jwtledger/jwtledger/internal/keys"
	"github.com/jwtledger/jwtledger/internal/service"
	"github.com/jwtledger/jwtledger/store"
)

// KeyScheduleStep performs the due steps of scheduled key rotation
// (Config.RotateEvery): pre-publish the next key PrePublish before the
// active key is RotateEvery old, make it active once its time comes, and
// retire verify-only keys once every token they signed has expired (known
// only when Config.MaxTTL bounds token lifetimes). A running node calls it
// every few seconds; it is safe to call from several processes.
func (n *Node) KeyScheduleStep(ctx context.Context) error {
	cfg := n.Config
	if cfg.RotateEvery <= 0 {
		return nil
	}
	now := cfg.Now().UTC()
	stored, err := n.DB.Keys(ctx)
	if err != nil {
		return err
	}
	due := keyring.Schedule{RotateEvery: cfg.RotateEvery, PrePublish: cfg.PrePublish, MaxTTL: cfg.MaxTTL, Leeway: defaults.Leeway}.Due(stored, now)
	changed := false
	if pending, active := due.Promote, due.Active; pending != nil {
		rec := n.record(audit.KeyRotate, audit.OK, service.Meta{Actor: "jwtledger"})
		rec.KID, rec.Alg, rec.Reason = pending.KID, string(pending.Alg), "scheduled rotation: pre-published key is now active"
		if active != nil {
			rec.Reason += "; previous active key " + active.KID + " is now verify-only"
		}
		if err := n.DB.PromoteKey(ctx, pending.KID, now, cfg.NodeID, []*audit.Record{rec}); err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("promote key: %w", err)
		} else if err == nil {
			n.W.Emit([]*audit.Record{rec})
		}
		changed = true
	} else if active := due.PrePublish; active != nil {
		k, err := keys.Generate(active.Alg)
		if err != nil {
			return err
		}
		activates := now.Add(cfg.PrePublish)
		if err := n.hooks.AddKey(ctx, k, activates,
			"pre-published for scheduled rotation; signs from "+activates.Format(time.RFC3339)); err != nil && !errors.Is(err, store.ErrExists) {
			// ErrExists: another process or node pre-published one first.
			return fmt.Errorf("pre-publish key: %w", err)
		}
		changed = true
	}
	// Retire verify-only keys whose tokens have all expired.
	for _, k := range due.Retire {
		if err := n.hooks.RetireKey(ctx, k.KID); err != nil {
			return fmt.Errorf("retire key: %w", err)
		}
		changed = true
	}
	if changed {
		return n.hooks.ReloadKeys(ctx)
	}
	return nil
}

// runKeySchedule calls KeyScheduleStep regularly until stop is closed.
func (n *Node) runKeySchedule(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	every := min(n.Config.PrePublish/4, time.Minute)
	if every < time.Second {
		every = time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := n.KeyScheduleStep(context.Background()); err != nil {
			n.Config.Log.Warn("scheduled key rotation failed", "err", err)
		}
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}
