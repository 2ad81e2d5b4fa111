package jwtledger

import (
	"context"
	"fmt"
	"time"

	"github.com/jwtledger/jwtledger/internal/audit"
)

// Revoke revokes the token (iss, jti): from then on it verifies as
// [Revoked]. exp (may be zero) lets the revocation be forgotten once the
// token expired. It reports whether the token was already revoked.
func (l *Ledger) Revoke(ctx context.Context, iss, jti string, exp time.Time, m Meta) (already bool, err error) {
	if jti == "" {
		return false, invalidf("revocation needs a jti")
	}
	if iss == "" {
		iss = l.cfg.Issuer
	}
	rec := l.record(audit.TokenRevoke, audit.OK, m)
	rec.JTI, rec.Exp = jti, exp
	already, err = l.db.Revoke(ctx, iss, jti, exp, l.cfg.Now(), l.cfg.NodeID, []*audit.Record{rec})
	if err != nil {
		return false, fmt.Errorf("%w: %v", ErrAudit, err)
	}
	l.revoked.Note(iss, jti, exp)
	l.w.Emit([]*audit.Record{rec})
	return already, nil
}
