package console

import (
	"context"
	"errors"
	"io"

	"github.com/jwtledger/jwtledger"
	"github.com/jwtledger/jwtledger/auditor"
	"github.com/jwtledger/jwtledger/internal/api"
	"github.com/jwtledger/jwtledger/internal/audit"
	"github.com/jwtledger/jwtledger/internal/service"
	"github.com/jwtledger/jwtledger/keys"
	"github.com/jwtledger/jwtledger/token"
)

// FromLedger is the [Backend] of a ledger: each method is the call the
// HTTP API makes for the same thing. This file is the only one of the
// console that knows the jwtledger package.
func FromLedger(l *jwtledger.Ledger) Backend { return ledger{l, service.Of(l)} }

type ledger struct {
	l   *jwtledger.Ledger
	ops service.Ops
}

var _ Backend = ledger{}

// mapErr turns the ledger's errors into the console's.
func mapErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, jwtledger.ErrUnauthenticated):
		return ErrUnauthenticated
	case errors.Is(err, jwtledger.ErrAudit):
		return errors.Join(ErrUnavailable, err)
	case errors.Is(err, jwtledger.ErrInvalidRequest), errors.Is(err, jwtledger.ErrNoActiveKey):
		return &RequestError{Msg: err.Error()}
	}
	return err
}

func meta(m Meta) jwtledger.Meta {
	return jwtledger.Meta{Actor: m.Actor, Remote: m.Remote, RequestID: m.RequestID}
}

func client(c *jwtledger.Client) *Client {
	return &Client{ID: c.ID, Name: c.Name, Scopes: c.Scopes, Created: c.Created, Policy: ClientPolicy{
		Audiences: c.Policy.Audiences, MaxTTL: c.Policy.MaxTTL, Claims: c.Policy.Claims, TokenScopes: c.Policy.TokenScopes}}
}

func (b ledger) Authenticate(ctx context.Context, id, secret string) (*Client, error) {
	c, err := b.l.Authenticate(ctx, id, secret)
	if err != nil {
		return nil, mapErr(err)
	}
	return client(c), nil
}

func (b ledger) Client(ctx context.Context, id string) (*Client, error) {
	cs, err := b.l.Clients(ctx)
	if err != nil {
		return nil, mapErr(err)
	}
	for _, c := range cs {
		if c.ID == id {
			return client(c), nil
		}
	}
	return nil, ErrNotFound
}

func (b ledger) RecordDenied(ctx context.Context, reason string, m Meta) error {
	if err := b.ops.RecordDenied(ctx, reason, service.Meta(m)); err != nil {
		return errors.Join(ErrUnavailable, err)
	}
	return nil
}

func (b ledger) RecordSession(ctx context.Context, ev audit.Event, reason string, m Meta) error {
	return mapErr(b.ops.RecordSession(ctx, ev, reason, service.Meta(m)))
}

func (b ledger) Records(ctx context.Context, f audit.Filter) ([]*audit.Record, error) {
	recs, err := b.l.Trail().Query(ctx, f)
	return recs, mapErr(err)
}

func (b ledger) Record(ctx context.Context, chain string, seq int64) (*audit.Record, error) {
	r, err := b.l.Trail().Record(ctx, chain, seq)
	if errors.Is(err, jwtledger.ErrInvalidRequest) {
		return nil, ErrNotFound
	}
	return r, mapErr(err)
}

func (b ledger) Subscribe() (<-chan struct{}, func()) { return b.ops.SubscribeAudit() }

func (b ledger) Export(ctx context.Context, w io.Writer, format string, f audit.Filter) error {
	return mapErr(b.ops.ExportMatching(ctx, w, auditor.ExportFormat(format), f))
}

func (b ledger) Counts(ctx context.Context, q audit.CountQuery) (*audit.Counts, error) {
	c, err := b.ops.AuditCounts(ctx, q)
	return c, mapErr(err)
}

func (b ledger) Chains(ctx context.Context) ([]ChainStatus, error) {
	cs, err := b.ops.AuditChains(ctx)
	if err != nil {
		return nil, mapErr(err)
	}
	out := make([]ChainStatus, len(cs))
	for i, c := range cs {
		out[i] = ChainStatus{Chain: c.Chain, Records: c.Records, Local: c.Local}
	}
	return out, nil
}

func (b ledger) WriterStats() (audit.Stats, int) { return b.l.Trail().Stats() }

func (b ledger) Checkpoints(ctx context.Context, chain string) ([]Checkpoint, error) {
	cps, err := b.l.Trail().Checkpoints(ctx, chain)
	if err != nil {
		return nil, mapErr(err)
	}
	out := make([]Checkpoint, len(cps))
	for i, c := range cps {
		out[i] = Checkpoint{Chain: c.Chain, Size: c.Size, Root: c.Root[:], Note: c.Note, Time: c.Time}
	}
	return out, nil
}

func (b ledger) VerifierKey() string { return b.l.Trail().VerifierKey() }

func (b ledger) VerifyAudit(ctx context.Context, progress func(done, total int64)) (*Report, error) {
	rep, err := b.l.Trail().Verify(ctx, auditor.VerifyOptions{Progress: progress})
	if err != nil {
		return nil, mapErr(err)
	}
	out := &Report{OK: rep.OK, Records: rep.Records}
	for _, c := range rep.Chains {
		out.Chains = append(out.Chains, ChainReport{Chain: c.Chain, Records: c.Records, Pruned: c.Pruned, Checkpoints: c.Checkpoints})
	}
	for _, d := range rep.Damage {
		out.Damage = append(out.Damage, Damage{Kind: d.Kind, Chain: d.Chain, Seq: d.Seq, Detail: d.Detail})
	}
	return out, nil
}

func (b ledger) Prove(ctx context.Context, chain string, seq int64) (*Proof, error) {
	p, err := b.l.Trail().Prove(ctx, chain, seq)
	if err != nil {
		return nil, mapErr(err)
	}
	out := &Proof{Chain: p.Chain, Seq: p.Seq, Record: p.Record, LeafIndex: p.LeafIndex, TreeSize: p.TreeSize, Checkpoint: p.Checkpoint}
	for _, h := range p.Hashes {
		out.Hashes = append(out.Hashes, h[:])
	}
	return out, nil
}

func (b ledger) VerifyToken(ctx context.Context, raw, aud, iss string, m Meta) (*Verdict, error) {
	tok, err := b.l.Verify(ctx, raw, jwtledger.WithMeta(meta(m)), jwtledger.WithAudience(aud), jwtledger.WithIssuer(iss))
	if err != nil && token.OutcomeOf(err) == "" {
		return nil, mapErr(err) // no verdict: the audit trail failed
	}
	v := api.NewVerdict(tok, err)
	return &Verdict{Valid: v.Valid, Outcome: string(v.Outcome), Reason: v.Reason, Header: v.Header, Claims: v.Claims}, nil
}

func (b ledger) Keys(ctx context.Context) ([]Key, error) {
	ks, err := b.l.Keys(ctx)
	if err != nil {
		return nil, mapErr(err)
	}
	out := make([]Key, len(ks))
	for i, k := range ks {
		out[i] = Key{KID: k.KID, Alg: string(k.Alg), State: string(k.State), Created: k.Created, Rotated: k.Rotated, Activates: k.Activates}
	}
	return out, nil
}

func (b ledger) RotateKey(ctx context.Context, alg string, m Meta) (*Key, error) {
	var a keys.Alg
	if alg != "" {
		var err error
		if a, err = keys.ParseAlg(alg); err != nil {
			return nil, &RequestError{Msg: err.Error()}
		}
	}
	k, err := b.l.RotateKey(ctx, a, meta(m))
	if err != nil {
		return nil, mapErr(err)
	}
	return &Key{KID: k.KID, Alg: string(k.Alg), State: string(k.State), Created: k.Created, Rotated: k.Rotated, Activates: k.Activates}, nil
}

func (b ledger) Clients(ctx context.Context) ([]Client, error) {
	cs, err := b.l.Clients(ctx)
	if err != nil {
		return nil, mapErr(err)
	}
	out := make([]Client, len(cs))
	for i, c := range cs {
		out[i] = *client(c)
	}
	return out, nil
}

func (b ledger) CreateClient(ctx context.Context, nc NewClient, m Meta) (*Credentials, error) {
	creds, _, err := b.l.CreateClient(ctx, jwtledger.NewClient{Name: nc.Name, Scopes: nc.Scopes, Policy: jwtledger.ClientPolicy{
		Audiences: nc.Policy.Audiences, MaxTTL: nc.Policy.MaxTTL, Claims: nc.Policy.Claims, TokenScopes: nc.Policy.TokenScopes}}, meta(m))
	if err != nil {
		return nil, mapErr(err)
	}
	return &Credentials{ID: creds.ID, Secret: creds.Secret}, nil
}

func (b ledger) DeleteClient(ctx context.Context, id string, m Meta) error {
	return mapErr(b.l.DeleteClient(ctx, id, meta(m)))
}

func (b ledger) RotateClientSecret(ctx context.Context, id string, m Meta) (*Credentials, error) {
	creds, err := b.l.RotateClientSecret(ctx, id, meta(m))
	if err != nil {
		return nil, mapErr(err)
	}
	return &Credentials{ID: creds.ID, Secret: creds.Secret}, nil
}
