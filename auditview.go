package jwtledger

import (
	"context"
	"errors"

	"github.com/jwtledger/jwtledger/internal/audit"
	"github.com/jwtledger/jwtledger/store"
)

// AuditRecord returns record seq of chain (an [ErrInvalidRequest] error
// when there is none or its body was pruned).
func (l *Ledger) AuditRecord(ctx context.Context, chain string, seq int64) (*Record, error) {
	body, err := l.db.RecordBody(ctx, chain, seq)
	if errors.Is(err, store.ErrNotFound) {
		return nil, invalidf("chain %q has no record %d", chain, seq)
	}
	if err != nil {
		return nil, err
	}
	return audit.Decode(body)
}
