package jwtledger

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jwtledger/jwtledger/internal/audit"
	"github.com/jwtledger/jwtledger/token"
)

// Record is one audit record.
type Record = audit.Record

// AuditFilter selects audit records.
type AuditFilter = audit.Filter

// AuditEvent names what a record is about.
type AuditEvent = audit.Event

// AuditStats counts what the audit writer did (see [Ledger.AuditStats]).
type AuditStats = audit.Stats

// AuditStats returns the audit writer's counters and histograms, and the
// number of records waiting for the next commit.
func (l *Ledger) AuditStats() (AuditStats, int) { return l.w.Stats(), l.w.QueueDepth() }

// Audit returns the records matching f, oldest first. An event or outcome
// that no record can have is an error ([ErrInvalidRequest]), not an empty
// answer.
func (l *Ledger) Audit(ctx context.Context, f AuditFilter) ([]*Record, error) {
	if err := checkFilter(f); err != nil {
		return nil, err
	}
	return l.db.Query(ctx, f)
}

// auditOutcomes lists every outcome a record can have: ok, denied and
// error, and for token.verify the verification outcomes.
func auditOutcomes() []string {
	out := []string{audit.OK, audit.Denied, audit.Error}
	for _, o := range token.Outcomes {
		out = append(out, string(o))
	}
	return out
}

func checkFilter(f AuditFilter) error {
	if f.Event != "" && !slices.Contains(audit.Events, f.Event) {
		names := make([]string, len(audit.Events))
		for i, e := range audit.Events {
			names[i] = string(e)
		}
		return invalidf("unknown event %q (want one of %s)", f.Event, strings.Join(names, ", "))
	}
	if f.Outcome != "" && !slices.Contains(auditOutcomes(), f.Outcome) {
		return invalidf("unknown outcome %q (want one of %s)", f.Outcome, strings.Join(auditOutcomes(), ", "))
	}
	return nil
}

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
