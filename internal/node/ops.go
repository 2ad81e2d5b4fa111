package node

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/jwtledger/jwtledger/auditor"
	"github.com/jwtledger/jwtledger/internal/audit"
	"github.com/jwtledger/jwtledger/internal/service"
)

var _ service.Ops = (*Node)(nil)

// Recording wraps the handler of requests that record an event: while one
// is served, from its first byte to its last, the audit writer counts it
// among the callers that can be expected to join a group commit.
func (n *Node) Recording(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer n.W.Busy()()
		h.ServeHTTP(w, r)
	})
}

func (n *Node) Failed() error { return n.Mon.Failed() }

func (n *Node) ReadOnly() error { return n.Damaged }

func (n *Node) CheckpointHealth() service.CheckpointStatus {
	f, failing := n.Cps.Health()
	return service.CheckpointStatus{Failures: f, Failing: failing}
}

func (n *Node) AuditCounts(ctx context.Context, q audit.CountQuery) (*audit.Counts, error) {
	return n.DB.Counts(ctx, q)
}

func (n *Node) SubscribeAudit() (wake <-chan struct{}, cancel func()) { return n.W.Subscribe() }

func (n *Node) RecordDenied(ctx context.Context, reason string, m service.Meta) error {
	if n.Damaged != nil {
		return n.Damaged
	}
	if !n.Denied.Allow(time.Now(), m.Remote, m.Actor) {
		return nil
	}
	rec := n.record(audit.AuthDenied, audit.Denied, m)
	rec.Reason = reason
	return n.W.Record(ctx, func() *audit.Record { return rec })
}

func (n *Node) RecordSession(ctx context.Context, ev audit.Event, reason string, m service.Meta) error {
	if ev != audit.ConsoleLogin && ev != audit.ConsoleLogout {
		return n.Config.ErrInvalid(fmt.Sprintf("%q is not a session event", ev))
	}
	rec := n.record(ev, audit.OK, m)
	rec.Reason = reason
	if err := n.W.Record(ctx, func() *audit.Record { return rec }); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%w: %w", n.Config.ErrAudit, err)
	}
	return nil
}

func (n *Node) AuditChains(ctx context.Context) ([]service.ChainStatus, error) {
	chains, err := n.DB.Chains(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]service.ChainStatus, 0, len(chains))
	for _, c := range chains {
		size, err := n.DB.TreeSize(ctx, c)
		if err != nil {
			return nil, err
		}
		out = append(out, service.ChainStatus{Chain: c, Records: size, Local: c == n.Config.NodeID})
	}
	return out, nil
}

func (n *Node) ExportMatching(ctx context.Context, w io.Writer, format auditor.ExportFormat, f audit.Filter) error {
	return n.hooks.Export(ctx, w, format, f)
}

func (n *Node) TokenScopes(ctx context.Context) ([]string, error) { return n.hooks.TokenScopes(ctx) }
