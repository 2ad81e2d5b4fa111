package auditlog

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jwtledger/jwtledger/store"
)

// PruneStore is what [Prune] uses of the store.
type PruneStore interface {
	Chains(ctx context.Context) ([]string, error)
	Checkpoints(ctx context.Context, chain string) ([]store.Checkpoint, error)
	// Prune removes the bodies of chain's records up to seq upTo with time
	// before cut, keeping their leaf and tree hashes.
	Prune(ctx context.Context, chain string, upTo int64, cut time.Time) (int64, error)
}

// PruneResult says what [Prune] removed from one chain.
type PruneResult struct {
	Chain  string `json:"chain"`
	UpTo   int64  `json:"up_to"` // the size of the checkpoint pruning stopped at
	Pruned int64  `json:"pruned"`
}

// Prune removes the bodies of records older than cut, in every chain, but
// only up to the newest checkpoint made at or before cut, so every pruned
// record stays covered by a signed checkpoint.
func Prune(ctx context.Context, db PruneStore, cut time.Time, log *slog.Logger) ([]PruneResult, error) {
	chains, err := db.Chains(ctx)
	if err != nil {
		return nil, err
	}
	var out []PruneResult
	for _, chain := range chains {
		cps, err := db.Checkpoints(ctx, chain)
		if err != nil {
			return out, err
		}
		var upTo int64
		for _, cp := range cps {
			if !cp.Time.After(cut) && cp.Size > upTo {
				upTo = cp.Size
			}
		}
		if upTo == 0 {
			continue
		}
		n, err := db.Prune(ctx, chain, upTo, cut)
		if err != nil {
			return out, fmt.Errorf("prune chain %s: %w", chain, err)
		}
		out = append(out, PruneResult{Chain: chain, UpTo: upTo, Pruned: n})
		if n > 0 {
			log.Info("audit records pruned", "chain", chain, "records", n, "up_to", upTo)
		}
	}
	return out, nil
}
