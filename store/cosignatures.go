package store

import (
	"context"
	"time"
)

// A Cosignature is a witness's cosignature of a stored checkpoint: the
// signature line the witness returned (C2SP tlog-cosignature), verified
// by the ledger before it was stored.
type Cosignature struct {
	Chain   string
	Size    int64     // the checkpoint's tree size
	Witness string    // the witness's name in the ledger's configuration
	Line    []byte    // the signature line, "— name base64\n"
	Time    time.Time // when the ledger stored it
}

// Cosignatures are the witnesses' cosignatures of a chain's checkpoints and
// what the ledger knows of each witness's view of the chain.
type Cosignatures interface {
	// AddCosignature stores c (nothing when the witness already has a
	// cosignature of that checkpoint) and records c.Size as the size the
	// witness has cosigned of c.Chain, in one transaction.
	AddCosignature(ctx context.Context, c Cosignature) error
	// Cosignatures returns chain's cosignatures by size, then witness.
	Cosignatures(ctx context.Context, chain string) ([]Cosignature, error)
	// WitnessSize is the size of chain the witness is known to have
	// cosigned (0 when none).
	WitnessSize(ctx context.Context, chain, witness string) (int64, error)
	// SetWitnessSize records size as what the witness has of chain (its
	// 409 answer told a size the ledger did not know).
	SetWitnessSize(ctx context.Context, chain, witness string, size int64) error
}
