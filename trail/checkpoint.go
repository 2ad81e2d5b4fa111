package trail

import (
	"context"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/jwtledger/jwtledger/auditor"
	"github.com/jwtledger/jwtledger/internal/audit"
	"github.com/jwtledger/jwtledger/internal/auditlog"
	"github.com/jwtledger/jwtledger/store"
)

// Checkpoint is a signed checkpoint of one chain: its tree Size and Root,
// Note, the signed note (with, from [Log.Cosigned], the witnesses'
// cosignature lines), and when it was made.
type Checkpoint struct {
	Chain string    `json:"chain"`
	Size  int64     `json:"size"`
	Root  tlog.Hash `json:"root"`
	Note  string    `json:"note"` // the signed note
	Time  time.Time `json:"time"`
}

func checkpointOf(c *store.Checkpoint) Checkpoint {
	return Checkpoint{Chain: c.Chain, Size: c.Size, Root: c.Root, Note: string(c.Note), Time: c.Time}
}

// WitnessingStatus is the state of this node's witnessing (see
// Config.Witnesses): Quorum in words, the size of the newest Checkpoint,
// the size (and signing time) of the newest one the quorum cosigned
// (Witnessed, WitnessedTime), since when newer checkpoints wait for the
// quorum (UnwitnessedSince), and what each witness has cosigned.
type WitnessingStatus = auditlog.WitnessingStatus

// WitnessState is one witness's part of a [WitnessingStatus]: its Name,
// the newest Size of the chain it cosigned, when this process stored that
// cosignature (At), its Failures and newest Error.
type WitnessState = auditlog.WitnessState

// VerifierKey is the note verifier key ("name+hash+base64") that checks
// this ledger's checkpoints.
func (l *Log) VerifierKey() string { return l.t().VerifierKey() }

// Checkpoint signs a checkpoint of this node's chain at its current size,
// stores it, appends it to the checkpoint file and emits an
// audit.checkpoint event to the JSON sink. The event is not a record of the
// chain: a chain holds what happened to tokens and keys, and a checkpoint
// is a statement about the chain. A failure is the ledger's ErrAudit.
func (l *Log) Checkpoint(ctx context.Context, m Meta) (*Checkpoint, error) {
	cp, err := l.t().Checkpoint(ctx, &audit.Record{Actor: m.Actor, Remote: m.Remote, RequestID: m.RequestID})
	if err != nil {
		return nil, err
	}
	c := checkpointOf(cp)
	return &c, nil
}

// Checkpoints returns the stored checkpoints of chain (this node's when
// empty), oldest first.
func (l *Log) Checkpoints(ctx context.Context, chain string) ([]Checkpoint, error) {
	return l.checkpoints(ctx, chain, false)
}

// Cosigned returns the stored checkpoints of chain (this node's when
// empty), each note followed by the witnesses' cosignature lines stored
// with it: what an [auditor.Policy] verifies.
func (l *Log) Cosigned(ctx context.Context, chain string) ([]Checkpoint, error) {
	return l.checkpoints(ctx, chain, true)
}

func (l *Log) checkpoints(ctx context.Context, chain string, cosigned bool) ([]Checkpoint, error) {
	cps, err := l.t().Checkpoints(ctx, chain, cosigned)
	if err != nil {
		return nil, err
	}
	out := make([]Checkpoint, len(cps))
	for i := range cps {
		out[i] = checkpointOf(&cps[i])
	}
	return out, nil
}

// Witnessing reports this node's witnessing; ok is false when no witness
// is configured.
func (l *Log) Witnessing() (st WitnessingStatus, ok bool) { return l.t().Witnessing() }

// Prove builds the inclusion proof of record seq of chain (this node's when
// empty) against the newest checkpoint that covers it (with witnesses: the
// newest witnessed one when it covers the record, its note carrying the
// cosignatures), making a checkpoint first when none does.
// [auditor.VerifyProof] checks it with the verifier key alone.
func (l *Log) Prove(ctx context.Context, chain string, seq int64) (*auditor.Proof, error) {
	return l.t().Prove(ctx, chain, seq)
}
