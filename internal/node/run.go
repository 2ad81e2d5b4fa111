package node

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/jwtledger/jwtledger/internal/audit"
	"github.com/jwtledger/jwtledger/internal/auditlog"
	"github.com/jwtledger/jwtledger/internal/service"
	"github.com/jwtledger/jwtledger/store"
)

const ledgerIDName = "ledger_id"

// load checks the store's file (Config.CheckIntegrity), reads or makes
// the store's ledger id and the audit signing key, and reads the
// checkpoint state.
func (n *Node) load(ctx context.Context) error {
	if d := n.Caps.Damage; n.Config.CheckIntegrity && d != nil {
		if err := d.CheckIntegrity(ctx); errors.Is(err, store.ErrDamaged) {
			if !n.Config.AllowDamaged {
				return fmt.Errorf("%w (hint: 'jwtledger audit verify' says which records can be read; restore the database from a backup, or start with --allow-damaged to open it read-only for inspection)", err)
			}
			n.Damaged = fmt.Errorf("%w: %w; opened read-only for inspection (--allow-damaged)", n.Config.ErrAudit, err)
			n.Config.Log.Error("the database is damaged; serving read-only: nothing is issued, verified or recorded", "err", err)
		} else if err != nil {
			return err
		}
	}
	if n.Damaged != nil {
		id, _, err := n.DB.Meta(ctx, ledgerIDName)
		n.Mon.LedgerID = string(id)
		if err != nil {
			return err
		}
	} else {
		var b [16]byte
		rand.Read(b[:])
		id, err := n.DB.SetMetaOnce(ctx, ledgerIDName, []byte(hex.EncodeToString(b[:])))
		if err != nil {
			return fmt.Errorf("store ledger id: %w", err)
		}
		n.Mon.LedgerID = string(id)
	}
	k, err := auditlog.LoadKey(ctx, n.DB, n.Master)
	if err != nil {
		return err
	}
	n.AuditKey = k
	return n.Cps.Load(ctx)
}

// Ready reports whether the node can serve (see health.Monitor.Ready); a
// store opened read-only never is.
func (n *Node) Ready(ctx context.Context) error {
	if err := n.Mon.Failed(); err != nil {
		return err
	}
	if n.Damaged != nil {
		return n.Damaged
	}
	return n.Mon.Ready(ctx)
}

// Watch passes the store's change notifications to changed until Stop,
// if the store gives them.
func (n *Node) Watch(changed func(topic string)) {
	wt := n.Caps.Watcher
	if wt == nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		wt.Watch(ctx, changed)
	}()
	n.stopWatch = func() { cancel(); <-done }
}

// Start runs the background work of a writable node until Stop: the
// checkpoint loop checkpoints (which closes its done channel when it
// returns), the summaries of suppressed denials, and the key schedule
// when Config.RotateEvery is set.
func (n *Node) Start(checkpoints func(stop <-chan struct{}, done chan<- struct{})) {
	n.started = true
	n.goLoop(checkpoints)
	n.goLoop(n.runDenialSummaries)
	if n.Config.RotateEvery > 0 {
		n.goLoop(n.runKeySchedule)
	}
}

func (n *Node) goLoop(run func(stop <-chan struct{}, done chan<- struct{})) {
	stop, done := make(chan struct{}), make(chan struct{})
	go run(stop, done)
	n.stops = append(n.stops, func() { close(stop); <-done })
}

// Stop ends the watcher and the background work, then writes the summary
// of suppressed denials and a last checkpoint if one is due.
func (n *Node) Stop() {
	if n.stopWatch != nil {
		n.stopWatch()
		n.stopWatch = nil
	}
	for i := len(n.stops) - 1; i >= 0; i-- {
		n.stops[i]()
	}
	n.stops = nil
	if !n.started {
		return
	}
	n.started = false
	ctx := context.Background()
	if n.Mon.Failed() == nil {
		n.flushDenials(ctx)
	}
	if n.AuditKey != nil && n.Cps.Due(ctx, false) {
		if err := n.hooks.Checkpoint(ctx); err != nil {
			n.Config.Log.Warn("closing checkpoint failed", "err", err)
		}
	}
}

// Close flushes pending records and closes the store (after Stop).
func (n *Node) Close() error {
	werr := n.W.Close()
	n.Mon.WaitRescue()
	return errors.Join(werr, n.DB.Close())
}

// record is a record of this node's chain, made now.
func (n *Node) record(ev audit.Event, outcome string, m service.Meta) *audit.Record {
	return &audit.Record{Time: n.Config.Now().UTC(), Event: ev, Outcome: outcome,
		Actor: m.Actor, Remote: m.Remote, RequestID: m.RequestID}
}

// flushDenials writes the summary of suppressed denials, if any.
func (n *Node) flushDenials(ctx context.Context) {
	reason, ok := n.Denied.Summary()
	if !ok {
		return
	}
	rec := n.record(audit.AuthDeniedSuppressed, audit.Denied, service.Meta{Actor: "jwtledger"})
	rec.Reason = reason
	if err := n.W.Record(ctx, func() *audit.Record { return rec }); err != nil {
		n.Config.Log.Warn("summary of suppressed denials not written", "err", err)
	}
}

// runDenialSummaries writes the summary every SummaryEvery until stop.
func (n *Node) runDenialSummaries(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(n.Config.Denial.SummaryEvery)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			n.flushDenials(context.Background())
		}
	}
}
