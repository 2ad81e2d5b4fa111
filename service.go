package jwtledger

import (
	"context"
	"io"
	"slices"

	"github.com/jwtledger/jwtledger/auditor"
	"github.com/jwtledger/jwtledger/internal/audit"
	"github.com/jwtledger/jwtledger/internal/service"
)

// The side of a ledger for jwtledger serve (its HTTP server and web
// console) is its node's; they find it with service.Of. A library user has
// no need of it, so no exported name gives it.
func init() { service.Register(func(l any) service.Ops { return l.(*Ledger).node }) }

// exportMatching is Export with the records f selects in full.
func (l *Ledger) exportMatching(ctx context.Context, w io.Writer, format auditor.ExportFormat, f audit.Filter) error {
	return l.trail().Export(ctx, w, format, f.Since, f.Until, func(body []byte) bool {
		r, err := audit.Decode(body)
		return err == nil && f.Match(r)
	})
}

// tokenScopes lists, sorted, the scopes that some client may request.
func (l *Ledger) tokenScopes(ctx context.Context) ([]string, error) {
	if err := l.revoked.Fresh(ctx); err != nil {
		return nil, err
	}
	m, err := l.clients.Load(ctx, l.clientsByHash)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, c := range m {
		out = append(out, c.Policy.TokenScopes...)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}
