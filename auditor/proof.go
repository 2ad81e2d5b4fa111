package auditor

import (
	"errors"
	"fmt"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Proof shows that one record is in a chain whose signed checkpoint an
// outsider holds (what jwtledger audit prove prints). It can be checked
// with the verifier key alone: see [VerifyProof], or any RFC 6962 / C2SP
// implementation.
type Proof struct {
	Chain      string      `json:"chain"`
	Seq        int64       `json:"seq"`
	Record     string      `json:"record"`     // the canonical encoding, exactly
	LeafIndex  int64       `json:"leaf_index"` // seq - 1
	TreeSize   int64       `json:"tree_size"`
	Hashes     []tlog.Hash `json:"proof"`      // RFC 6962 inclusion proof (base64 hashes)
	Checkpoint string      `json:"checkpoint"` // the signed note the proof is against
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
	c, err := ParseCheckpoint(n.Text)
	if err != nil {
		return nil, err
	}
	if c.Origin != Origin(p.Chain) {
		return nil, fmt.Errorf("checkpoint is of %q, not of chain %q", c.Origin, p.Chain)
	}
	if c.Size != p.TreeSize || p.LeafIndex != p.Seq-1 || p.Seq < 1 || p.Seq > c.Size {
		return nil, errors.New("proof does not match its checkpoint's tree size")
	}
	rec, err := Decode([]byte(p.Record))
	if err != nil {
		return nil, err
	}
	if int64(rec.Seq) != p.Seq || rec.Chain != p.Chain {
		return nil, fmt.Errorf("record says it is record %d of %q", rec.Seq, rec.Chain)
	}
	if err := tlog.CheckRecord(p.Hashes, c.Size, c.Root, p.LeafIndex, tlog.RecordHash([]byte(p.Record))); err != nil {
		return nil, fmt.Errorf("inclusion proof: %w", err)
	}
	return rec, nil
}
