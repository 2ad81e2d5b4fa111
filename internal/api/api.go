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
)

// IssueRequest is the body of POST /v1/tokens. Empty members are left
// out when a client sends it: the server takes them as not given.
type IssueRequest struct {
	Sub    string             `json:"sub,omitempty"`
	Aud    Audience           `json:"aud,omitempty"`
	TTL    jwtledger.Duration `json:"ttl,omitempty"`
	Claims json.RawMessage    `json:"claims,omitempty"`
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
	Token  string              `json:"token"`
	Iss    string              `json:"iss,omitempty"`
	Aud    string              `json:"aud,omitempty"`
	Leeway *jwtledger.Duration `json:"leeway,omitempty"`
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
	NextCursor string              `json:"next_cursor"`
	Records    []*jwtledger.Record `json:"records"`
}

// Error is the body of every answer that is not a success (RFC 6749
// section 5.2 style).
type Error struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
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
