package jwtledger

import (
	"context"
	"errors"
	"fmt"

	"github.com/jwtledger/jwtledger/internal/auditlog"
	"github.com/jwtledger/jwtledger/store"
)

// WitnessingStatus is the state of this node's witnessing (see
// [Config.Witnesses]): the newest checkpoint, the newest one the quorum
// cosigned, and what each witness has cosigned.
type WitnessingStatus = auditlog.WitnessingStatus

// WitnessState is one witness's part of a [WitnessingStatus].
type WitnessState = auditlog.WitnessState

// startWitnessing starts sending checkpoints to the configured witnesses.
func (l *Ledger) startWitnessing(ctx context.Context) error {
	if len(l.cfg.Witnesses) == 0 {
		return nil
	}
	cs := l.caps.Cosignatures
	if cs == nil {
		return errors.New("witnesses: the store cannot keep cosignatures")
	}
	w, err := auditlog.NewWitnessing(witnessStore{cs, l.db}, auditlog.WitnessingConfig{
		Chain: l.cfg.NodeID, Witnesses: l.cfg.Witnesses, Quorum: l.cfg.WitnessQuorum, Now: l.cfg.Now, Log: l.log})
	if err != nil {
		return fmt.Errorf("witnesses: %w", err)
	}
	if err := w.Start(ctx); err != nil {
		return fmt.Errorf("witnesses: %w", err)
	}
	l.witnessing = w
	return nil
}

// witnessStore is the store's trees with its cosignatures.
type witnessStore struct {
	cosignatures
	store.Trees
}

type cosignatures = store.Cosignatures

// stopWitnessing ends the witnesses' goroutines (l.witnessing stays: a
// late Notify only kicks channels nobody reads).
func (l *Ledger) stopWitnessing() {
	if l.witnessing != nil {
		l.witnessing.Stop()
	}
}

// witness hands a new checkpoint to the witnesses, without waiting.
func (l *Ledger) witness(cp *store.Checkpoint) {
	if l.witnessing != nil {
		l.witnessing.Notify(*cp)
	}
}

// Witnessing reports this node's witnessing; ok is false when no witness
// is configured.
func (l *Ledger) Witnessing() (st WitnessingStatus, ok bool) {
	if l.witnessing == nil {
		return WitnessingStatus{}, false
	}
	return l.witnessing.Status(), true
}

// CosignedCheckpoints returns the stored checkpoints of chain (this
// node's when empty), each note followed by the witnesses' cosignature
// lines stored with it: what a [auditor.Policy] verifies.
func (l *Ledger) CosignedCheckpoints(ctx context.Context, chain string) ([]CheckpointInfo, error) {
	if chain == "" {
		chain = l.cfg.NodeID
	}
	cps, err := auditlog.WithCosignatures(l.db, l.caps.Cosignatures).Checkpoints(ctx, chain)
	if err != nil {
		return nil, err
	}
	out := make([]CheckpointInfo, len(cps))
	for i, c := range cps {
		out[i] = CheckpointInfo{Chain: c.Chain, Size: c.Size, Root: c.Root, Note: string(c.Note), Time: c.Time}
	}
	return out, nil
}

// proofCheckpoint is the index in cps (by size) of the checkpoint a proof
// of record seq is made against: the newest witnessed one of this node's
// chain when it covers seq, else the newest; -1 when none covers seq.
func (l *Ledger) proofCheckpoint(chain string, cps []store.Checkpoint, seq int64) int {
	n := len(cps)
	if n == 0 || cps[n-1].Size < seq {
		return -1
	}
	if st, ok := l.Witnessing(); ok && chain == l.cfg.NodeID && st.Witnessed >= seq {
		for i := n - 1; i >= 0; i-- {
			if cps[i].Size == st.Witnessed {
				return i
			}
		}
	}
	return n - 1
}
