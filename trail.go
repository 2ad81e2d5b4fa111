package jwtledger

import (
	"context"

	"github.com/jwtledger/jwtledger/internal/audit"
	"github.com/jwtledger/jwtledger/internal/auditlog"
	"github.com/jwtledger/jwtledger/trail"
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
