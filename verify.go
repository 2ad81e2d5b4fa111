package jwtledger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jwtledger/jwtledger/internal/audit"
	"github.com/jwtledger/jwtledger/internal/defaults"
	ikeys "github.com/jwtledger/jwtledger/internal/keys"
	"github.com/jwtledger/jwtledger/internal/token"
	"github.com/jwtledger/jwtledger/keys"
)

// Token is a parsed token: its header, registered claims (with the raw
// claims JSON) and, once verified, the key that matched.
type Token = token.Token

// Claims are a token's registered claims.
type Claims = token.Claims

// Header is a token's JOSE header.
type Header = token.Header

// Outcome is the verdict of a verification.
type Outcome = token.Outcome

// VerifyError is a refused verification: an [Outcome] and a human reason.
type VerifyError = token.Error

// The verification outcomes.
const (
	Valid            = token.Valid
	Expired          = token.Expired
	NotYetValid      = token.NotYetValid
	InvalidSignature = token.InvalidSignature
	Malformed        = token.Malformed
	UnsupportedAlg   = token.UnsupportedAlg
	UnknownKey       = token.UnknownKey
	InvalidClaims    = token.InvalidClaims
	Revoked          = token.Revoked
)

// Sentinel errors of the refusal outcomes, for errors.Is.
var (
	ErrExpired        = token.ErrExpired
	ErrNotYetValid    = token.ErrNotYetValid
	ErrSignature      = token.ErrSignature
	ErrMalformed      = token.ErrMalformed
	ErrUnsupportedAlg = token.ErrUnsupportedAlg
	ErrUnknownKey     = token.ErrUnknownKey
	ErrInvalidClaims  = token.ErrInvalidClaims
	ErrRevoked        = token.ErrRevoked
)

// OutcomeOf returns the outcome err stands for: [Valid] for nil, "" for an
// error that is not a verdict (such as [ErrAudit]).
func OutcomeOf(err error) Outcome { return token.OutcomeOf(err) }

// VerifyOption sets verification policy.
type VerifyOption func(*verifyConfig)

type verifyConfig struct {
	opts token.Options
	now  func() time.Time
	keys token.KeySource // nil: the managed keys
	meta Meta
}

// WithIssuer requires the iss claim to equal iss.
func WithIssuer(iss string) VerifyOption { return func(c *verifyConfig) { c.opts.Issuer = iss } }

// WithAudience requires aud to contain aud.
func WithAudience(aud string) VerifyOption { return func(c *verifyConfig) { c.opts.Audience = aud } }

// WithLeeway allows clock skew d on exp, nbf and iat (default 30s).
func WithLeeway(d time.Duration) VerifyOption { return func(c *verifyConfig) { c.opts.Leeway = d } }

// WithAlgorithms accepts only algs (in addition to each key's own binding).
func WithAlgorithms(algs ...keys.Alg) VerifyOption {
	return func(c *verifyConfig) { c.opts.Algorithms = algs }
}

// WithExpirationRequired sets whether tokens without exp are refused (default true).
func WithExpirationRequired(required bool) VerifyOption {
	return func(c *verifyConfig) { c.opts.ExpOptional = !required }
}

// WithTimeFunc sets the clock used for exp, nbf and iat (tests).
func WithTimeFunc(now func() time.Time) VerifyOption { return func(c *verifyConfig) { c.now = now } }

// WithKeys verifies against the external keys ks ([keys.Parse],
// [keys.NewHMAC], [keys.Generate]) instead of the managed ones. A kid that
// two of them carry matches neither (the token is refused as [UnknownKey]):
// check keys from several sources with [keys.CheckUniqueKIDs] first.
func WithKeys(ks ...*keys.Key) VerifyOption {
	return func(c *verifyConfig) { c.keys = ikeys.Set(ks) }
}

// WithMeta identifies the caller in the audit record.
func WithMeta(m Meta) VerifyOption { return func(c *verifyConfig) { c.meta = m } }

// Verify checks raw and records the verdict. It returns the token and nil
// when valid; on refusal the token as far as it could be read (claims only
// once the signature matched) and a [*VerifyError]; and nil with an error
// wrapping [ErrAudit] when the verdict could not be recorded.
func (l *Ledger) Verify(ctx context.Context, raw string, opts ...VerifyOption) (*Token, error) {
	if l.readOnly != nil {
		return nil, l.readOnly
	}
	vc := verifyConfig{opts: token.Options{Leeway: defaults.Leeway}, now: l.cfg.Now}
	for _, o := range opts {
		o(&vc)
	}
	vc.opts.Now = vc.now()
	var src token.KeySource = l.ring
	if vc.keys != nil {
		src = vc.keys
	}
	var tok *Token
	var verr, lookupErr error
	err := l.w.Record(ctx, func() *audit.Record {
		tok, verr = token.Verify(raw, src, &vc.opts)
		if verr == nil {
			revoked, err := l.revoked.IsRevoked(ctx, tok.Claims.Issuer, tok.Claims.ID)
			if err != nil {
				lookupErr = err
				return nil
			}
			if revoked {
				verr = &token.Error{Outcome: token.Revoked, Reason: fmt.Sprintf("token %s was revoked", tok.Claims.ID)}
			}
		}
		rec := l.record(audit.TokenVerify, string(token.OutcomeOf(verr)), vc.meta)
		rec.TokenSHA256 = fingerprint(raw)
		var te *token.Error
		if errors.As(verr, &te) {
			rec.Reason = te.Reason
		}
		fillFromToken(rec, tok)
		return rec
	})
	if lookupErr != nil {
		return nil, fmt.Errorf("%w: %w", ErrAudit, lookupErr)
	}
	if err != nil {
		return nil, auditErr(ctx, err)
	}
	return tok, verr
}

// Verdict is a verification's result in the form every face shows it (CLI
// `verify --output json`, POST /v1/tokens/verify): header and claims are {}
// when they could not be read (claims only once the signature matched).
type Verdict struct {
	Valid   bool            `json:"valid"`
	Outcome Outcome         `json:"outcome"`
	Reason  string          `json:"reason"`
	Header  json.RawMessage `json:"header"`
	Claims  json.RawMessage `json:"claims"`
}

// NewVerdict renders the result of [Ledger.Verify]; err must be nil or a
// verdict (not an [ErrAudit] failure).
func NewVerdict(tok *Token, err error) Verdict {
	v := Verdict{Valid: err == nil, Outcome: OutcomeOf(err), Header: json.RawMessage("{}"), Claims: json.RawMessage("{}")}
	var ve *VerifyError
	if errors.As(err, &ve) {
		v.Reason = ve.Reason
	}
	if tok != nil {
		v.Header = tok.Header.Raw
		if tok.Claims.Raw != nil {
			v.Claims = tok.Claims.Raw
		}
	}
	return v
}

// fillFromToken copies what the token says into its verification record. For
// a token whose signature did not match, the claims are read unverified, so
// the record shows whom a forgery claimed to be for.
func fillFromToken(rec *audit.Record, tok *token.Token) {
	if tok == nil {
		return
	}
	rec.Alg, rec.KID = tok.Header.Alg, tok.Header.KID
	c := &tok.Claims
	if tok.Key == nil {
		if u := token.Unverified(tok); u != nil {
			c = u
		}
	} else {
		rec.KID = tok.Key.KID
	}
	rec.Sub, rec.Aud, rec.JTI, rec.Exp = c.Subject, c.Audience, c.ID, c.Expiry
	if len(rec.Alg) > 32 {
		rec.Alg = rec.Alg[:32]
	}
}
