package auditlog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/jwtledger/jwtledger/auditor"
	"github.com/jwtledger/jwtledger/internal/audit"
	"github.com/jwtledger/jwtledger/store"
	"github.com/jwtledger/jwtledger/token"
)

// Trail is a ledger's audit trail as package trail presents it: trail.Log
// is defined as this type, so the ledger makes a *trail.Log by conversion
// of [NewTrail]'s answer and trail exports no constructor. Its fields are
// unexported so that none shows through trail.Log.
type Trail struct{ p TrailParts }

// TrailParts are the parts of the ledger a [Trail] works with.
type TrailParts struct {
	DB           store.Store
	Caps         store.Capabilities
	Writer       *audit.Writer
	Checkpointer *Checkpointer
	Witnessing   *Witnessing // nil without witnesses
	Signer       note.Signer
	VerifierKey  string
	Chain        string // this node's
	Now          func() time.Time
	Log          *slog.Logger
	// Invalid makes the ledger's invalid-request error (jwtledger's
	// *RequestError); ErrAudit is the ledger's ErrAudit.
	Invalid  func(format string, args ...any) error
	ErrAudit error
}

// NewTrail returns the trail of p.
func NewTrail(p TrailParts) *Trail { return &Trail{p} }

// reader is the store's checkpoints with their witnesses' cosignatures.
func (t *Trail) reader() Reader { return WithCosignatures(t.p.DB, t.p.Caps.Cosignatures) }

// Tasks are the checkpointer's tasks ([Checkpointer.Run]) over t:
// checkpoints on the ledger's own account, the store's maintenance, and
// pruning to retain (none when zero), all held while paused says so.
func (t *Trail) Tasks(retain time.Duration, paused func() bool) Tasks {
	ts := Tasks{Checkpoint: func(ctx context.Context) { t.Checkpoint(ctx, &audit.Record{Actor: "jwtledger"}) }, Paused: paused}
	if m := t.p.Caps.Maintainer; m != nil {
		ts.Maintain = m.Maintain
	}
	if retain > 0 {
		ts.Prune = func(ctx context.Context) error {
			_, err := t.Prune(ctx, retain)
			return err
		}
	}
	return ts
}

// Query returns the records matching f, oldest first; an event or outcome
// that no record can have is an invalid request.
func (t *Trail) Query(ctx context.Context, f audit.Filter) ([]*audit.Record, error) {
	if f.Event != "" && !slices.Contains(audit.Events, f.Event) {
		names := make([]string, len(audit.Events))
		for i, e := range audit.Events {
			names[i] = string(e)
		}
		return nil, t.p.Invalid("unknown event %q (want one of %s)", f.Event, strings.Join(names, ", "))
	}
	if f.Outcome != "" && !slices.Contains(outcomes(), f.Outcome) {
		return nil, t.p.Invalid("unknown outcome %q (want one of %s)", f.Outcome, strings.Join(outcomes(), ", "))
	}
	return t.p.DB.Query(ctx, f)
}

// outcomes lists every outcome a record can have: ok, denied and error,
// and for token.verify the verification outcomes.
func outcomes() []string {
	out := []string{audit.OK, audit.Denied, audit.Error}
	for _, o := range token.Outcomes {
		out = append(out, string(o))
	}
	return out
}

// Record returns record seq of chain (an invalid request when there is
// none or its body was pruned).
func (t *Trail) Record(ctx context.Context, chain string, seq int64) (*audit.Record, error) {
	body, err := t.body(ctx, chain, seq)
	if err != nil {
		return nil, err
	}
	return audit.Decode(body)
}

func (t *Trail) body(ctx context.Context, chain string, seq int64) ([]byte, error) {
	body, err := t.p.DB.RecordBody(ctx, chain, seq)
	if errors.Is(err, store.ErrNotFound) {
		return nil, t.p.Invalid("chain %q has no record %d", chain, seq)
	}
	return body, err
}

// Stats returns the writer's counters and the records waiting for the
// next commit.
func (t *Trail) Stats() (audit.Stats, int) { return t.p.Writer.Stats(), t.p.Writer.QueueDepth() }

// VerifierKey is the note verifier key of the ledger's checkpoints.
func (t *Trail) VerifierKey() string { return t.p.VerifierKey }

// Checkpoint signs, stores and files a checkpoint of this node's chain,
// emits rec (who asked; made an audit.checkpoint event here) to the JSON
// sink and hands the checkpoint to the witnesses without waiting. A
// failure is the ledger's ErrAudit.
func (t *Trail) Checkpoint(ctx context.Context, rec *audit.Record) (*store.Checkpoint, error) {
	rec.Time, rec.Event, rec.Outcome = t.p.Now().UTC(), audit.AuditCheckpoint, audit.OK
	cp, now, err := t.p.Checkpointer.Make(ctx, t.p.Signer, func(size int64, root tlog.Hash) {
		rec.Reason = fmt.Sprintf("tree size %d root %s", size, root)
	})
	if err != nil {
		return nil, fmt.Errorf("%w: checkpoint: %v", t.p.ErrAudit, err)
	}
	rec.Chain = t.p.Chain
	t.p.Writer.EmitCheckpoint(rec)
	if t.p.Witnessing != nil {
		t.p.Witnessing.Notify(*cp)
	}
	cp.Time = now
	return cp, nil
}

// Checkpoints returns the stored checkpoints of chain (this node's when
// empty), with the witnesses' cosignature lines after each note when
// cosigned.
func (t *Trail) Checkpoints(ctx context.Context, chain string, cosigned bool) ([]store.Checkpoint, error) {
	if chain == "" {
		chain = t.p.Chain
	}
	if cosigned {
		return t.reader().Checkpoints(ctx, chain)
	}
	return t.p.DB.Checkpoints(ctx, chain)
}

// Witnessing reports this node's witnessing; ok is false without
// witnesses.
func (t *Trail) Witnessing() (st WitnessingStatus, ok bool) {
	if t.p.Witnessing == nil {
		return WitnessingStatus{}, false
	}
	return t.p.Witnessing.Status(), true
}

// Prove builds the inclusion proof of record seq of chain (this node's when
// empty) against the newest checkpoint that covers it (the newest
// witnessed one when that covers it), making one first when none does.
func (t *Trail) Prove(ctx context.Context, chain string, seq int64) (*auditor.Proof, error) {
	if chain == "" {
		chain = t.p.Chain
	}
	if seq < 1 {
		return nil, t.p.Invalid("sequence numbers start at 1")
	}
	body, err := t.body(ctx, chain, seq)
	if err != nil {
		return nil, err
	}
	cps, err := t.reader().Checkpoints(ctx, chain)
	if err != nil {
		return nil, err
	}
	var cpNote []byte
	var size int64
	if i := t.proofCheckpoint(chain, cps, seq); i >= 0 {
		cpNote, size = cps[i].Note, cps[i].Size
	} else if chain == t.p.Chain {
		cp, err := t.Checkpoint(ctx, &audit.Record{Actor: "jwtledger"})
		if err != nil {
			return nil, err
		}
		cpNote, size = cp.Note, cp.Size
	} else {
		return nil, t.p.Invalid("no checkpoint of chain %q covers record %d yet", chain, seq)
	}
	hashes, err := tlog.ProveRecord(size, seq-1, t.p.DB.HashReader(ctx, chain))
	if err != nil {
		return nil, fmt.Errorf("prove record %d: %w", seq, err)
	}
	return &auditor.Proof{Chain: chain, Seq: seq, Record: string(body), LeafIndex: seq - 1,
		TreeSize: size, Hashes: hashes, Checkpoint: string(cpNote)}, nil
}

// proofCheckpoint is the index in cps (by size) of the checkpoint a proof
// of record seq is made against: the newest witnessed one of this node's
// chain when it covers seq, else the newest; -1 when none covers seq.
func (t *Trail) proofCheckpoint(chain string, cps []store.Checkpoint, seq int64) int {
	n := len(cps)
	if n == 0 || cps[n-1].Size < seq {
		return -1
	}
	if st, ok := t.Witnessing(); ok && chain == t.p.Chain && st.Witnessed >= seq {
		for i := n - 1; i >= 0; i-- {
			if cps[i].Size == st.Witnessed {
				return i
			}
		}
	}
	return n - 1
}

// Verify checks the whole trail in the store (see [Verify]) and marks
// what the newest failed checkpoint leaves uncovered.
func (t *Trail) Verify(ctx context.Context, opt auditor.VerifyOptions) (*auditor.LogReport, error) {
	rep, err := Verify(ctx, t.reader(), t.p.Caps.Damage, t.p.Caps.Ranges, t.p.VerifierKey, opt)
	if err != nil {
		return nil, err
	}
	MarkUncovered(rep, t.p.Chain, t.p.Checkpointer.Failure())
	return rep, nil
}

// Export streams the trail to w (see [Export]); when match is not nil,
// only the records whose body it accepts are written in full.
func (t *Trail) Export(ctx context.Context, w io.Writer, format auditor.ExportFormat, since, until time.Time, match func(body []byte) bool) error {
	err := Export(ctx, t.reader(), w, format, t.p.VerifierKey, since, until, match)
	if errors.Is(err, auditor.ErrExportFormat) {
		return t.p.Invalid("unknown export format %q (want jsonl or csv)", format)
	}
	return err
}

// Prune removes the bodies of records older than retain (see [Prune]).
func (t *Trail) Prune(ctx context.Context, retain time.Duration) ([]PruneResult, error) {
	if retain <= 0 {
		return nil, t.p.Invalid("retention must be positive")
	}
	return Prune(ctx, t.p.DB, t.p.Now().Add(-retain), t.p.Log)
}
