package jwtledger

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ParseRetention reads a retention period: a Go duration ("720h") or a
// number of days ("400d").
func ParseRetention(s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseInt(d, 10, 64)
		if err != nil || n <= 0 || n > 100*365 {
			return 0, fmt.Errorf("invalid retention %q (want for example 400d or 720h)", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("invalid retention %q (want for example 400d or 720h)", s)
	}
	return d, nil
}

// PruneResult says what [Ledger.Prune] removed from one chain.
type PruneResult struct {
	Chain  string `json:"chain"`
	UpTo   int64  `json:"up_to"` // the size of the checkpoint pruning stopped at
	Pruned int64  `json:"pruned"`
}

// Prune removes the bodies of records older than retain, in every chain,
// but only up to the newest checkpoint made at or before the cut, so every
// pruned record stays covered by a signed checkpoint. Leaf and tree hashes
// are kept: audit verify still checks the whole tree and reports the range
// as pruned. It works in small transactions.
func (l *Ledger) Prune(ctx context.Context, retain time.Duration) ([]PruneResult, error) {
	if retain <= 0 {
		return nil, invalidf("retention must be positive")
	}
	cut := l.cfg.Now().Add(-retain)
	chains, err := l.db.Chains(ctx)
	if err != nil {
		return nil, err
	}
	var out []PruneResult
	for _, chain := range chains {
		cps, err := l.db.Checkpoints(ctx, chain)
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
		n, err := l.db.Prune(ctx, chain, upTo, cut)
		if err != nil {
			return out, fmt.Errorf("prune chain %s: %w", chain, err)
		}
		out = append(out, PruneResult{Chain: chain, UpTo: upTo, Pruned: n})
		if n > 0 {
			l.log.Info("audit records pruned", "chain", chain, "records", n, "up_to", upTo)
		}
	}
	return out, nil
}
