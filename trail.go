package jwtledger

import (
	"context"
	"io"
	"time"

	"github.com/jwtledger/jwtledger/auditor"
	"github.com/jwtledger/jwtledger/internal/audit"
	"github.com/jwtledger/jwtledger/internal/auditlog"
	"github.com/jwtledger/jwtledger/trail"
)

// Checkpoint cadence defaults (see [Config]).
const (
	defaultCheckpointEvery       = 1000
	defaultCheckpointMinInterval = time.Second
	defaultCheckpointInterval    = 10 * time.Second
)

// Trail returns the ledger's audit trail: its records, checkpoints,
// inclusion proofs, exports, verification, retention and witnessing (see
// package [trail]). It is cheap: call it where it is used.
func (l *Ledger) Trail() *trail.Log { return (*trail.Log)(l.trail()) }

func (l *Ledger) trail() *auditlog.Trail {
	return auditlog.NewTrail(auditlog.TrailParts{DB: l.db, Caps: l.caps, Writer: l.w, Checkpointer: l.cps,
		Witnessing: l.witnessing, Signer: l.auditSigner, VerifierKey: l.auditVKey, Chain: l.cfg.NodeID,
		Now: l.cfg.Now, Log: l.log, Invalid: invalidf, ErrAudit: ErrAudit})
}

// checkpoint makes a checkpoint on the ledger's own account.
func (l *Ledger) checkpoint(ctx context.Context) error {
	_, err := l.trail().Checkpoint(ctx, &audit.Record{Actor: "jwtledger"})
	return err
}

// export is the trail's Export with only the records whose body match
// accepts in full (all when match is nil).
func (l *Ledger) export(ctx context.Context, w io.Writer, format auditor.ExportFormat, since, until time.Time, match func(body []byte) bool) error {
	return l.trail().Export(ctx, w, format, since, until, match)
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

func (l *Ledger) cpFailure() *auditor.CheckpointFailure { return l.cps.Failure() }

func (l *Ledger) checkpointDue(ctx context.Context, force bool) bool { return l.cps.Due(ctx, force) }

func (l *Ledger) initCheckpointState(ctx context.Context) error { return l.cps.Load(ctx) }

// runCheckpoints makes checkpoints when they are due, extends the tree,
// maintains the store and prunes (Config.Retain) until stop is closed.
func (l *Ledger) runCheckpoints(stop <-chan struct{}, done chan<- struct{}) {
	l.cps.Run(stop, done, l.trail().Tasks(l.cfg.Retain, func() bool { return l.mon.Failed() != nil }))
}

// startWitnessing starts sending checkpoints to the configured witnesses.
func (l *Ledger) startWitnessing(ctx context.Context) (err error) {
	l.witnessing, err = auditlog.StartWitnessing(ctx, l.db, l.caps.Cosignatures, auditlog.WitnessingConfig{
		Chain: l.cfg.NodeID, Witnesses: l.cfg.Witnesses, Quorum: l.cfg.WitnessQuorum, Now: l.cfg.Now, Log: l.log})
	return err
}

// stopWitnessing ends the witnesses' goroutines (l.witnessing stays: a
// late Notify only kicks channels nobody reads).
func (l *Ledger) stopWitnessing() {
	if l.witnessing != nil {
		l.witnessing.Stop()
	}
}
