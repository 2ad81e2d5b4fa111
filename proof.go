package jwtledger

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/jwtledger/jwtledger/auditor"
	"github.com/jwtledger/jwtledger/internal/auditlog"
	"github.com/jwtledger/jwtledger/store"
)

// Prove builds the inclusion proof of record seq of chain (this node's when
// empty) against the newest checkpoint that covers it (with witnesses: the
// newest witnessed one when it covers the record, its note carrying the
// cosignatures), making a checkpoint first when none does. [auditor.VerifyProof] checks it with the verifier
// key alone.
func (l *Ledger) Prove(ctx context.Context, chain string, seq int64) (*auditor.Proof, error) {
	if chain == "" {
		chain = l.cfg.NodeID
	}
	if seq < 1 {
		return nil, invalidf("sequence numbers start at 1")
	}
	body, err := l.db.RecordBody(ctx, chain, seq)
	if errors.Is(err, store.ErrNotFound) {
		return nil, invalidf("chain %q has no record %d", chain, seq)
	}
	if err != nil {
		return nil, err
	}
	cps, err := auditlog.WithCosignatures(l.db, l.caps.Cosignatures).Checkpoints(ctx, chain)
	if err != nil {
		return nil, err
	}
	var cpNote []byte
	var size int64
	if i := l.proofCheckpoint(chain, cps, seq); i >= 0 {
		cpNote, size = cps[i].Note, cps[i].Size
	} else if chain == l.cfg.NodeID {
		cp, err := l.Checkpoint(ctx, Meta{Actor: "jwtledger"})
		if err != nil {
			return nil, err
		}
		cpNote, size = []byte(cp.Note), cp.Size
	} else {
		return nil, invalidf("no checkpoint of chain %q covers record %d yet", chain, seq)
	}
	hashes, err := tlog.ProveRecord(size, seq-1, l.db.HashReader(ctx, chain))
	if err != nil {
		return nil, fmt.Errorf("prove record %d: %w", seq, err)
	}
	return &auditor.Proof{Chain: chain, Seq: seq, Record: string(body), LeafIndex: seq - 1,
		TreeSize: size, Hashes: hashes, Checkpoint: string(cpNote)}, nil
}
