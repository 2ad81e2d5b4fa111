package jwtledger

import (
	"context"
	"io"
	"slices"
	"time"

	"github.com/jwtledger/jwtledger/auditor"
	"github.com/jwtledger/jwtledger/internal/audit"
	"github.com/jwtledger/jwtledger/internal/service"
)

// Service returns the ledger's side for jwtledger serve (its HTTP server
// and web console): the writer's load hint, health, the records of
// refusals and console sessions, and the console's views of the trail. A
// library user has no need of it.
func (l *Ledger) Service() service.Ops { return serviceOps{l} }

type serviceOps struct{ l *Ledger }

var _ service.Ops = serviceOps{}

func (s serviceOps) Busy() (done func()) { return s.l.w.Busy() }

func (s serviceOps) Failed() error { return s.l.mon.Failed() }

func (s serviceOps) ReadOnly() error { return s.l.readOnly }

func (s serviceOps) CheckpointHealth() service.CheckpointStatus {
	n, f := s.l.cps.Health()
	return service.CheckpointStatus{Failures: n, Failing: f}
}

func (s serviceOps) AuditCounts(ctx context.Context, q audit.CountQuery) (*audit.Counts, error) {
	return s.l.db.Counts(ctx, q)
}

func (s serviceOps) SubscribeAudit() (wake <-chan struct{}, cancel func()) { return s.l.w.Subscribe() }

func (s serviceOps) RecordDenied(ctx context.Context, reason string, m service.Meta) error {
	l := s.l
	if l.readOnly != nil {
		return l.readOnly
	}
	if !l.denied.Allow(time.Now(), m.Remote, m.Actor) {
		return nil
	}
	rec := l.record(audit.AuthDenied, audit.Denied, Meta(m))
	rec.Reason = reason
	return l.w.Record(ctx, func() *audit.Record { return rec })
}

func (s serviceOps) RecordSession(ctx context.Context, ev audit.Event, reason string, m service.Meta) error {
	if ev != audit.ConsoleLogin && ev != audit.ConsoleLogout {
		return invalidf("%q is not a session event", ev)
	}
	rec := s.l.record(ev, audit.OK, Meta(m))
	rec.Reason = reason
	if err := s.l.w.Record(ctx, func() *audit.Record { return rec }); err != nil {
		return auditErr(ctx, err)
	}
	return nil
}

func (s serviceOps) AuditChains(ctx context.Context) ([]service.ChainStatus, error) {
	l := s.l
	chains, err := l.db.Chains(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]service.ChainStatus, 0, len(chains))
	for _, c := range chains {
		n, err := l.db.TreeSize(ctx, c)
		if err != nil {
			return nil, err
		}
		out = append(out, service.ChainStatus{Chain: c, Records: n, Local: c == l.cfg.NodeID})
	}
	return out, nil
}

func (s serviceOps) ExportMatching(ctx context.Context, w io.Writer, format auditor.ExportFormat, f audit.Filter) error {
	return s.l.export(ctx, w, format, f.Since, f.Until, func(body []byte) bool {
		r, err := audit.Decode(body)
		return err == nil && f.Match(r)
	})
}

func (s serviceOps) TokenScopes(ctx context.Context) ([]string, error) {
	l := s.l
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
