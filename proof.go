package jwtledger

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/jwtledger/jwtledger/internal/audit"
	"github.com/jwtledger/jwtledger/store"
)

// Proof shows that one record is in a chain whose signed checkpoint an
// outsider holds. It can be checked with the verifier key alone: see
// [VerifyProof], or any RFC 6962 / C2SP implementation.
type Proof struct {
	Chain      string      `json:"chain"`
	Seq        int64       `json:"seq"`
	Record     string      `json:"record"`     // the canonical encoding, exactly
	LeafIndex  int64       `json:"leaf_index"` // seq - 1
	TreeSize   int64       `json:"tree_size"`
	Hashes     []tlog.Hash `json:"proof"`      // RFC 6962 inclusion proof (base64 hashes)
	Checkpoint string      `json:"checkpoint"` // the signed note the proof is against
}

// Prove builds the inclusion proof of record seq of chain (this node's when
// empty) against the newest checkpoint that covers it, making a checkpoint
// first when none does.
func (l *Ledger) Prove(ctx context.Context, chain string, seq int64) (*Proof, error) {
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
	cps, err := l.db.Checkpoints(ctx, chain)
	if err != nil {
		return nil, err
	}
	var cpNote []byte
	var size int64
	if n := len(cps); n > 0 && cps[n-1].Size >= seq {
		cpNote, size = cps[n-1].Note, cps[n-1].Size
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
	return &Proof{Chain: chain, Seq: seq, Record: string(body), LeafIndex: seq - 1,
		TreeSize: size, Hashes: hashes, Checkpoint: string(cpNote)}, nil
}

// VerifyProof checks p with only the ledger's note verifier key: the
// checkpoint's signature and origin, the record's place in the chain, and
// the inclusion proof. It returns the proved record.
func VerifyProof(p *Proof, verifierKey string) (*Record, error) {
	v, err := note.NewVerifier(verifierKey)
	if err != nil {
		return nil, fmt.Errorf("verifier key: %w", err)
	}
	n, err := note.Open([]byte(p.Checkpoint), note.VerifierList(v))
	if err != nil {
		return nil, fmt.Errorf("checkpoint signature does not verify: %w", err)
	}
	origin, size, root, err := audit.ParseCheckpoint(n.Text)
	if err != nil {
		return nil, err
	}
	if origin != audit.Origin(p.Chain) {
		return nil, fmt.Errorf("checkpoint is of %q, not of chain %q", origin, p.Chain)
	}
	if size != p.TreeSize || p.LeafIndex != p.Seq-1 || p.Seq < 1 || p.Seq > size {
		return nil, errors.New("proof does not match its checkpoint's tree size")
	}
	rec, err := audit.Decode([]byte(p.Record))
	if err != nil {
		return nil, err
	}
	if int64(rec.Seq) != p.Seq || rec.Chain != p.Chain {
		return nil, fmt.Errorf("record says it is record %d of %q", rec.Seq, rec.Chain)
	}
	if err := tlog.CheckRecord(p.Hashes, size, root, p.LeafIndex, tlog.RecordHash([]byte(p.Record))); err != nil {
		return nil, fmt.Errorf("inclusion proof: %w", err)
	}
	return rec, nil
}
