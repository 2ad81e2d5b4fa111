package jwtledger

import (
	"context"
	"time"

	"github.com/jwtledger/jwtledger/internal/auditlog"
)

// PruneResult says what [Ledger.Prune] removed from one chain.
type PruneResult = auditlog.PruneResult

// Prune removes the bodies of records older than retain, in every chain,
// but only up to the newest checkpoint made at or before the cut, so every
// pruned record stays covered by a signed checkpoint. Leaf and tree hashes
// are kept: audit verify still checks the whole tree and reports the range
// as pruned. It works in small transactions.
func (l *Ledger) Prune(ctx context.Context, retain time.Duration) ([]PruneResult, error) {
	if retain <= 0 {
		return nil, invalidf("retention must be positive")
	}
	return auditlog.Prune(ctx, l.db, l.cfg.Now().Add(-retain), l.log)
}
