package jwtledger

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jwtledger/jwtledger/internal/audit"
	"github.com/jwtledger/jwtledger/internal/clientauth"
	"github.com/jwtledger/jwtledger/store"
)

// ClientPolicy limits what a client may ask for. Zero values allow anything.
type ClientPolicy struct {
	Audiences   []string      `json:"audiences,omitempty"`    // allowed aud values
	MaxTTL      time.Duration `json:"max_ttl,omitempty"`      // longest token lifetime
	Claims      []string      `json:"claims,omitempty"`       // allowed custom claims; empty: none; "*": any
	TokenScopes []string      `json:"token_scopes,omitempty"` // scopes it may request at /oauth2/token; empty: none
	// DefaultAudience is the aud of this client's tokens when a request
	// names none (one of Audiences, when those are set). Without it,
	// access tokens from /oauth2/token get the issuer as their audience.
	DefaultAudience string `json:"default_audience,omitempty"`
}

// check refuses a policy that cannot work.
func (p *ClientPolicy) check() error {
	if p.MaxTTL < 0 {
		return errors.New("negative max TTL")
	}
	for _, a := range p.Audiences {
		if a == "" {
			return errors.New("an empty audience")
		}
	}
	if p.DefaultAudience != "" && len(p.Audiences) > 0 && !slices.Contains(p.Audiences, p.DefaultAudience) {
		return fmt.Errorf("the default audience %q is not one of the allowed audiences %q", p.DefaultAudience, p.Audiences)
	}
	for _, sc := range p.TokenScopes {
		if !clientauth.ValidScopeToken(sc) {
			return fmt.Errorf("token scope %q: want printable ASCII without spaces, quotes or backslashes (RFC 6749 3.3)", sc)
		}
	}
	return nil
}

func encodePolicy(p ClientPolicy) []byte { return clientauth.EncodePolicy(clientauth.Policy(p)) }

func decodePolicy(b []byte) (ClientPolicy, error) {
	p, err := clientauth.DecodePolicy(b)
	return ClientPolicy(p), err
}

// Client is an API client, without its secret.
type Client struct {
	ID      string       `json:"client_id"`
	Name    string       `json:"name"`
	Scopes  []string     `json:"scopes"`
	Policy  ClientPolicy `json:"policy"`
	Created time.Time    `json:"created"`

	secretHash [32]byte
}

// Has reports whether c holds scope (admin holds every scope).
func (c *Client) Has(scope string) bool {
	return slices.Contains(c.Scopes, scope) || slices.Contains(c.Scopes, clientauth.ScopeAdmin)
}

// NewClient is a client to create. Its Scopes are among:
//
//	tokens:issue   issue tokens (HTTP: POST /v1/tokens)
//	tokens:verify  verify and introspect tokens
//	tokens:revoke  revoke tokens, other clients' ones too
//	audit:read     read the audit trail; sign in to the console
//	admin          all of the above, and manage keys and clients
type NewClient struct {
	Name   string
	Scopes []string
	Policy ClientPolicy
}

// ClientCredentials are a new client id and its secret. The secret is shown
// once and stored only as a hash.
type ClientCredentials struct {
	ID     string `json:"client_id"`
	Secret string `json:"client_secret"`
}

// ErrUnauthenticated means the credentials do not name a client.
var ErrUnauthenticated = errors.New("invalid client credentials")

// CreateClient registers a client and returns its credentials.
func (l *Ledger) CreateClient(ctx context.Context, nc NewClient, m Meta) (*ClientCredentials, *Client, error) {
	if strings.TrimSpace(nc.Name) == "" {
		return nil, nil, invalidf("a client needs a name")
	}
	if len(nc.Scopes) == 0 {
		return nil, nil, invalidf("a client needs at least one scope (%s)", strings.Join(clientauth.AllScopes, ", "))
	}
	for _, s := range nc.Scopes {
		if !slices.Contains(clientauth.AllScopes, s) {
			return nil, nil, invalidf("unknown scope %q (want %s)", s, strings.Join(clientauth.AllScopes, ", "))
		}
	}
	if err := nc.Policy.check(); err != nil {
		return nil, nil, invalidf("%v", err)
	}
	var id [9]byte
	rand.Read(id[:])
	creds := &ClientCredentials{ID: "cl_" + base64.RawURLEncoding.EncodeToString(id[:]), Secret: clientauth.NewSecret()}
	h := clientauth.Hash(creds.Secret)
	pol := encodePolicy(nc.Policy)
	now := l.cfg.Now().UTC()
	c := &Client{ID: creds.ID, Name: nc.Name, Scopes: slices.Clone(nc.Scopes), Policy: nc.Policy, Created: now, secretHash: h}
	rec := l.record(audit.ClientCreate, audit.OK, m)
	rec.Sub, rec.Reason = creds.ID, "scopes "+strings.Join(nc.Scopes, " ")
	row := store.ClientRow{ID: c.ID, Name: c.Name, SecretHash: h[:], Scopes: strings.Join(c.Scopes, " "), Policy: pol, Created: now}
	if err := l.db.AddClient(ctx, row, l.cfg.NodeID, []*audit.Record{rec}); err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrAudit, err)
	}
	l.w.Emit([]*audit.Record{rec})
	l.clients.Invalidate()
	return creds, c, nil
}

// Clients lists the clients.
func (l *Ledger) Clients(ctx context.Context) ([]*Client, error) {
	rows, err := l.db.Clients(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]*Client, 0, len(rows))
	for _, r := range rows {
		c := &Client{ID: r.ID, Name: r.Name, Scopes: strings.Fields(r.Scopes), Created: r.Created}
		copy(c.secretHash[:], r.SecretHash)
		p, err := decodePolicy(r.Policy)
		if err != nil {
			return nil, fmt.Errorf("client %s: policy: %w", r.ID, err)
		}
		c.Policy = p
		out = append(out, c)
	}
	return out, nil
}

// DeleteClient removes a client; its secret stops working at once.
func (l *Ledger) DeleteClient(ctx context.Context, id string, m Meta) error {
	rec := l.record(audit.ClientDelete, audit.OK, m)
	rec.Sub = id
	if err := l.db.DeleteClient(ctx, id, l.cfg.NodeID, []*audit.Record{rec}); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("client %q: %w", id, ErrNotFound)
		}
		return err
	}
	l.w.Emit([]*audit.Record{rec})
	l.clients.Invalidate()
	return nil
}

// RotateClientSecret gives a client a new secret (returned once); the old
// one stops working at once.
func (l *Ledger) RotateClientSecret(ctx context.Context, id string, m Meta) (*ClientCredentials, error) {
	creds := &ClientCredentials{ID: id, Secret: clientauth.NewSecret()}
	h := clientauth.Hash(creds.Secret)
	rec := l.record(audit.ClientCreate, audit.OK, m)
	rec.Sub, rec.Reason = id, "secret rotated"
	if err := l.db.SetClientSecret(ctx, id, h[:], l.cfg.NodeID, []*audit.Record{rec}); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("client %q: %w", id, ErrNotFound)
		}
		return nil, err
	}
	l.w.Emit([]*audit.Record{rec})
	l.clients.Invalidate()
	return creds, nil
}

// Authenticate finds the client a secret belongs to. id, when given (HTTP
// Basic), must match. Comparison is in constant time.
func (l *Ledger) Authenticate(ctx context.Context, id, secret string) (*Client, error) {
	if secret == "" {
		return nil, ErrUnauthenticated
	}
	if err := l.revoked.Fresh(ctx); err != nil {
		return nil, err
	}
	h := clientauth.Hash(secret)
	m, err := l.clients.Load(ctx, l.clientsByHash)
	if err != nil {
		return nil, err
	}
	c := m[h]
	if c == nil || subtle.ConstantTimeCompare(c.secretHash[:], h[:]) != 1 || (id != "" && subtle.ConstantTimeCompare([]byte(id), []byte(c.ID)) != 1) {
		return nil, ErrUnauthenticated
	}
	return c, nil
}

// clientsByHash reads every client, by secret hash, for the cache.
func (l *Ledger) clientsByHash(ctx context.Context) (map[[32]byte]*Client, error) {
	all, err := l.Clients(ctx)
	if err != nil {
		return nil, err
	}
	m := make(map[[32]byte]*Client, len(all))
	for _, c := range all {
		m[c.secretHash] = c
	}
	return m, nil
}

// checkClientsMark drops the client cache when another process changed
// the clients (the store's MetaClientsChanged moved).
func (l *Ledger) checkClientsMark(ctx context.Context) error {
	return l.clients.CheckMark(ctx, func(ctx context.Context) ([]byte, error) {
		v, _, err := l.db.Meta(ctx, store.MetaClientsChanged)
		return v, err
	})
}
