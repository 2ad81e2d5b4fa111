package jwtledger

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/jwtledger/jwtledger/auditor"
	"github.com/jwtledger/jwtledger/internal/audit"
	"github.com/jwtledger/jwtledger/internal/auditlog"
)

// Checkpoint cadence defaults (see [Config]).
const (
	defaultCheckpointEvery       = 1000
	defaultCheckpointMinInterval = time.Second
	defaultCheckpointInterval    = 10 * time.Second
)

// CheckpointInfo describes a signed checkpoint of one chain.
type CheckpointInfo struct {
	Chain string    `json:"chain"`
	Size  int64     `json:"size"`
	Root  tlog.Hash `json:"root"`
	Note  string    `json:"note"` // the signed note
	Time  time.Time `json:"time"`
}

// loadAuditKey loads, or creates on first use, the ledger's audit signing
// key (see [auditlog.LoadKey]).
func (l *Ledger) loadAuditKey(ctx context.Context) error {
	k, err := auditlog.LoadKey(ctx, l.db, l.master)
	if err != nil {
		return err
	}
	l.auditSigner, l.auditVKey = k.Signer, k.VerifierKey
	return nil
}

// AuditVerifierKey is the note verifier key ("name+hash+base64") that checks
// this ledger's checkpoints.
func (l *Ledger) AuditVerifierKey() string { return l.auditVKey }

// Checkpoint signs a checkpoint of this node's chain at its current size,
// stores it, appends it to the checkpoint file and emits an
// audit.checkpoint event to the JSON sink. The event is not a record of the
// chain: a chain holds what happened to tokens and keys, and a checkpoint
// is a statement about the chain.
func (l *Ledger) Checkpoint(ctx context.Context, m Meta) (*CheckpointInfo, error) {
	rec := l.record(audit.AuditCheckpoint, audit.OK, m)
	cp, now, err := l.cps.Make(ctx, l.auditSigner, func(size int64, root tlog.Hash) {
		rec.Reason = fmt.Sprintf("tree size %d root %s", size, root)
	})
	if err != nil {
		return nil, fmt.Errorf("%w: checkpoint: %v", ErrAudit, err)
	}
	rec.Chain = l.cfg.NodeID
	l.w.EmitCheckpoint(rec)
	l.witness(cp)
	return &CheckpointInfo{Chain: cp.Chain, Size: cp.Size, Root: cp.Root, Note: string(cp.Note), Time: now}, nil
}

// Checkpoints returns the stored checkpoints of chain (this node's when empty).
func (l *Ledger) Checkpoints(ctx context.Context, chain string) ([]CheckpointInfo, error) {
	if chain == "" {
		chain = l.cfg.NodeID
	}
	cps, err := l.db.Checkpoints(ctx, chain)
	if err != nil {
		return nil, err
	}
	out := make([]CheckpointInfo, len(cps))
	for i, c := range cps {
		out[i] = CheckpointInfo{Chain: c.Chain, Size: c.Size, Root: c.Root, Note: string(c.Note), Time: c.Time}
	}
	return out, nil
}

func (l *Ledger) cpFailure() *auditor.CheckpointFailure { return l.cps.Failure() }

func (l *Ledger) checkpointDue(ctx context.Context, force bool) bool { return l.cps.Due(ctx, force) }

func (l *Ledger) initCheckpointState(ctx context.Context) error { return l.cps.Load(ctx) }

// runCheckpoints makes checkpoints when they are due, extends the tree,
// maintains the store and prunes (Config.Retain) until stop is closed.
func (l *Ledger) runCheckpoints(stop <-chan struct{}, done chan<- struct{}) {
	t := auditlog.Tasks{
		Checkpoint: func(ctx context.Context) { l.Checkpoint(ctx, Meta{Actor: "jwtledger"}) },
		Paused:     func() bool { return l.mon.Failed() != nil },
	}
	if m := l.caps.Maintainer; m != nil {
		t.Maintain = m.Maintain
	}
	if l.cfg.Retain > 0 {
		t.Prune = func(ctx context.Context) error {
			_, err := l.Prune(ctx, l.cfg.Retain)
			return err
		}
	}
	l.cps.Run(stop, done, t)
}
