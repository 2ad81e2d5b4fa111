package jwtledger

import (
	"context"

	"github.com/jwtledger/jwtledger/internal/claims"
	"github.com/jwtledger/jwtledger/internal/keyring"
	"github.com/jwtledger/jwtledger/internal/revocation"
)

// Tuning bounds the external tests measure against.
const (
	RevocationRefresh = revocation.Refresh
	RevocationMaxAge  = revocation.MaxAge
	KeyRefresh        = keyring.Refresh
)

// PrepareIssue applies the rules for registered claims given among req's
// Claims and ClaimsJSON as Issue does, moving them into req's fields and
// leaving only the custom claims, in ClaimsJSON; the errors are
// [*RequestError]s.
func (l *Ledger) PrepareIssue(req *IssueRequest) error {
	merged, names, err := l.prepare(l.cfg.Now(), req)
	if err != nil {
		return err
	}
	req.Claims, req.ClaimsJSON = nil, claims.Encode(merged, names)
	return nil
}

// RunKeySchedule performs the due steps of the key schedule once.
func (l *Ledger) RunKeySchedule(ctx context.Context) error { return l.node.KeyScheduleStep(ctx) }
