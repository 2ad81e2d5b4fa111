package jwtledger

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jwtledger/jwtledger/internal/auditlog"
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
