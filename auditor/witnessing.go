package auditor

import (
	"errors"
	"fmt"
	"strings"
)

// DamageUnwitnessed is the finding of a chain whose newest checkpoint is
// not witnessed under the policy, when witnessing is required (see
// [LogReport.CheckWitnessing]).
const DamageUnwitnessed = "unwitnessed"

// WitnessReport is what a witness [Policy] found in one chain's
// checkpoints.
type WitnessReport struct {
	Chain string `json:"chain"`
	// Newest is the size of the chain's newest checkpoint, Witnessed
	// whether that one meets the policy's quorum.
	Newest    int64 `json:"newest"`
	Witnessed bool  `json:"witnessed"`
	// NewestWitnessed is the size of the newest checkpoint that meets the
	// quorum (0: none), WitnessedBy the witnesses that cosigned it.
	NewestWitnessed int64    `json:"newest_witnessed"`
	WitnessedBy     []string `json:"witnessed_by,omitempty"`
	// Missing and Invalid name, for the newest checkpoint, the witnesses
	// without a cosignature and those whose cosignature does not verify.
	Missing []string `json:"missing,omitempty"`
	Invalid []string `json:"invalid,omitempty"`
}

// CheckWitnessing checks the checkpoints of chain against the witness
// policy: notes are its checkpoints with their cosignature lines, by size
// (the ledger's own, as [VerifyExport] or the ledger's verification read
// them), and external the checkpoints an auditor kept (opt.Checkpoints).
// It adds the chain's [WitnessReport], and findings:
//
//   - fork: an external checkpoint cosigned by policy witnesses whose tree
//     the chain does not have (the verification found a fork at its size):
//     the witnesses were shown another history; the finding names them.
//   - unwitnessed, when require is set: the newest checkpoint does not meet
//     the quorum.
//
// Call it after the chain's verification, before [LogReport.OK] is read
// (it updates OK).
func (r *LogReport) CheckWitnessing(p *Policy, chain string, notes, external [][]byte, require bool) {
	wr := WitnessReport{Chain: chain}
	for _, n := range notes {
		rep, err := p.Verify(n)
		var ue *UnwitnessedError
		if rep == nil || (err != nil && !errors.As(err, &ue)) {
			continue // not a checkpoint of a policy log: the chain's verification says so
		}
		if ChainOfOrigin(rep.Checkpoint.Origin) != chain || rep.Checkpoint.Size < wr.Newest {
			continue
		}
		wr.Newest, wr.Witnessed = rep.Checkpoint.Size, rep.Witnessed
		wr.Missing, wr.Invalid = rep.Missing, rep.Invalid
		if rep.Witnessed {
			wr.NewestWitnessed, wr.WitnessedBy = rep.Checkpoint.Size, rep.Cosigned()
		}
	}
	for _, n := range external {
		rep, _ := p.Verify(n)
		if rep == nil || ChainOfOrigin(rep.Checkpoint.Origin) != chain || len(rep.Cosignatures) == 0 {
			continue
		}
		for i := range r.Damage {
			d := &r.Damage[i]
			if d.Kind == DamageFork && d.Chain == chain && d.Seq == rep.Checkpoint.Size {
				d.Detail += fmt.Sprintf("; witness %s cosigned that checkpoint: the ledger showed the witnesses another history (a split view)", strings.Join(rep.Cosigned(), ", "))
				d.Witnesses = append(d.Witnesses, rep.Cosigned()...)
			}
		}
	}
	if require && !wr.Witnessed {
		detail := fmt.Sprintf("the newest checkpoint (%d records) is not witnessed (quorum %s)", wr.Newest, p.Quorum())
		if wr.Newest == 0 {
			detail = "the chain has no checkpoint to witness"
		}
		if len(wr.Missing) > 0 {
			detail += "; no cosignature from " + strings.Join(wr.Missing, ", ")
		}
		if len(wr.Invalid) > 0 {
			detail += "; invalid cosignature from " + strings.Join(wr.Invalid, ", ")
		}
		if wr.NewestWitnessed > 0 {
			detail += fmt.Sprintf("; the newest witnessed checkpoint has %d records", wr.NewestWitnessed)
		}
		r.Add(DamageUnwitnessed, chain, wr.Newest, detail)
	}
	r.Witnessing = append(r.Witnessing, wr)
	r.OK = len(r.Damage) == 0
}
