// Package api holds the bodies of jwtledger's HTTP API that the server
// (internal/server) reads and writes and its client (internal/client)
// sends and receives, declared once so that the two cannot drift.
//
// The field order of a response type is the order of its JSON members on
// the wire; the server's answers are pinned by its tests.
package api

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/jwtledger/jwtledger"
	"github.com/jwtledger/jwtledger/token"
	"github.com/jwtledger/jwtledger/trail"
)

// IssueRequest is the body of POST /v1/tokens. Empty members are left
// out when a client sends it: the server takes them as not given.
type IssueRequest struct {
	Sub    string          `json:"sub,omitempty"`
	Aud    Audience        `json:"aud,omitempty"`
	TTL    Duration        `json:"ttl,omitempty"`
	Claims json.RawMessage `json:"claims,omitempty"`
}

// IssueResponse is the answer of POST /v1/tokens.
type IssueResponse struct {
	Token     string    `json:"token"`
	TokenType string    `json:"token_type"`
	ExpiresAt time.Time `json:"expires_at"`
	JTI       string    `json:"jti"`
	KID       string    `json:"kid"`
}

// VerifyRequest is the body of POST /v1/tokens/verify; its answer is a
// [Verdict].
type VerifyRequest struct {
	Token  string    `json:"token"`
	Iss    string    `json:"iss,omitempty"`
	Aud    string    `json:"aud,omitempty"`
	Leeway *Duration `json:"leeway,omitempty"`
}

// Verdict is a verification's result in the form every face shows it (CLI
// `verify --output json`, POST /v1/tokens/verify, the console's debugger):
// header and claims are {} when they could not be read (claims only once the
// signature matched).
type Verdict struct {
	Valid   bool            `json:"valid"`
	Outcome token.Outcome   `json:"outcome"`
	Reason  string          `json:"reason"`
	Header  json.RawMessage `json:"header"`
	Claims  json.RawMessage `json:"claims"`
}

// NewVerdict renders the result of [jwtledger.Ledger.Verify]; err must be
// nil or a verdict (not a [jwtledger.ErrAudit] failure).
func NewVerdict(tok *token.Token, err error) Verdict {
	v := Verdict{Valid: err == nil, Outcome: token.OutcomeOf(err), Header: json.RawMessage("{}"), Claims: json.RawMessage("{}")}
	var te *token.Error
	if errors.As(err, &te) {
		v.Reason = te.Reason
	}
	if tok != nil {
		v.Header = tok.Header.Raw
		if tok.Claims.Raw != nil {
			v.Claims = tok.Claims.Raw
		}
	}
	return v
}

// RevokeRequest is the body of POST /v1/tokens/revoke.
type RevokeRequest struct {
	JTI   string `json:"jti,omitempty"`
	Iss   string `json:"iss,omitempty"`
	Token string `json:"token,omitempty"`
}

// AuditPage is the answer of GET /v1/audit: a page of records, and the
// cursor of the next page (empty on the last).
type AuditPage struct {
	NextCursor string          `json:"next_cursor"`
	Records    []*trail.Record `json:"records"`
}

// Error is the body of every answer that is not a success (RFC 6749
// section 5.2 style).
type Error struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

// Client is a client as GET /v1/clients, POST /v1/clients and `clients
// list --output json` show it.
type Client struct {
	ID      string       `json:"client_id"`
	Name    string       `json:"name"`
	Scopes  []string     `json:"scopes"`
	Policy  ClientPolicy `json:"policy"`
	Created time.Time    `json:"created"`
}

// ClientOf is c on the wire.
func ClientOf(c *jwtledger.Client) Client {
	return Client{ID: c.ID, Name: c.Name, Scopes: c.Scopes, Policy: PolicyOf(c.Policy), Created: c.Created}
}

// Clients is cs on the wire.
func Clients(cs []*jwtledger.Client) []Client {
	out := make([]Client, len(cs))
	for i, c := range cs {
		out[i] = ClientOf(c)
	}
	return out
}

// ClientPolicy is a [jwtledger.ClientPolicy] on the wire: a member of
// [Client], and (with name and scopes) the body of POST /v1/clients.
type ClientPolicy struct {
	Audiences       []string `json:"audiences,omitempty"`
	MaxTTL          Duration `json:"max_ttl,omitempty"`
	Claims          []string `json:"claims,omitempty"`
	TokenScopes     []string `json:"token_scopes,omitempty"`
	DefaultAudience string   `json:"default_audience,omitempty"`
}

// PolicyOf is p on the wire.
func PolicyOf(p jwtledger.ClientPolicy) ClientPolicy {
	return ClientPolicy{Audiences: p.Audiences, MaxTTL: Duration(p.MaxTTL), Claims: p.Claims, TokenScopes: p.TokenScopes, DefaultAudience: p.DefaultAudience}
}

// Policy is the ledger's policy p describes.
func (p ClientPolicy) Policy() jwtledger.ClientPolicy {
	return jwtledger.ClientPolicy{Audiences: p.Audiences, MaxTTL: time.Duration(p.MaxTTL), Claims: p.Claims, TokenScopes: p.TokenScopes, DefaultAudience: p.DefaultAudience}
}

// Duration is a time.Duration that reads and writes JSON as "15m".
type Duration time.Duration

// MarshalJSON writes d as a Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a Go duration string or a number of seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		*d = Duration(v)
		return nil
	}
	var secs float64
	if err := json.Unmarshal(b, &secs); err != nil {
		return errors.New(`want a duration such as "15m" or a number of seconds`)
	}
	*d = Duration(time.Duration(secs * float64(time.Second)))
	return nil
}

// Audience reads "aud" as a string or a list of strings.
type Audience []string

// UnmarshalJSON reads a string, a list of strings or null.
func (a *Audience) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*a = nil
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*a = []string{s}
		return nil
	}
	var l []string
	if err := json.Unmarshal(b, &l); err != nil {
		return errors.New(`"aud" must be a string or a list of strings`)
	}
	*a = l
	return nil
}
