package jwtledger

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jwtledger/jwtledger/internal/audit"
	"github.com/jwtledger/jwtledger/internal/defaults"
	"github.com/jwtledger/jwtledger/internal/jws"
	ikeys "github.com/jwtledger/jwtledger/internal/keys"
	"github.com/jwtledger/jwtledger/keys"
	"github.com/jwtledger/jwtledger/token"
)

// VerifyOption sets verification policy.
type VerifyOption func(*verifyConfig)

type verifyConfig struct {
	opts jws.Options
	now  func() time.Time
	keys jws.KeySource // nil: the managed keys
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
// two of them carry matches neither (the token is refused as [token.UnknownKey]):
// check keys from several sources with [keys.CheckUniqueKIDs] first.
func WithKeys(ks ...*keys.Key) VerifyOption {
	return func(c *verifyConfig) { c.keys = ikeys.Set(ks) }
}

// WithMeta identifies the caller in the audit record.
func WithMeta(m Meta) VerifyOption { return func(c *verifyConfig) { c.meta = m } }

// Verify checks raw and records the verdict. It returns the token and nil
// when valid; on refusal the token as far as it could be read (claims only
// once the signature matched) and a [*token.Error] (errors.Is with
// [token.ErrExpired] and the other sentinels, [token.OutcomeOf]); and nil
// with an error wrapping [ErrAudit] when the verdict could not be recorded.
func (l *Ledger) Verify(ctx context.Context, raw string, opts ...VerifyOption) (*token.Token, error) {
	if l.readOnly != nil {
		return nil, l.readOnly
	}
	vc := verifyConfig{opts: jws.Options{Leeway: defaults.Leeway}, now: l.cfg.Now}
	for _, o := range opts {
		o(&vc)
	}
	vc.opts.Now = vc.now()
	var src jws.KeySource = l.ring
	if vc.keys != nil {
		src = vc.keys
	}
	var tok *token.Token
	var unverified *token.Claims
	var verr, lookupErr error
	err := l.w.Record(ctx, func() *audit.Record {
		tok, unverified, verr = jws.Verify(raw, src, &vc.opts)
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
		fillFromToken(rec, tok, unverified)
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

// fillFromToken copies what the token says into its verification record. For
// a token whose signature did not match, the claims are the unverified ones
// (when they could be read), so the record shows whom a forgery claimed to
// be for.
func fillFromToken(rec *audit.Record, tok *token.Token, unverified *token.Claims) {
	if tok == nil {
		return
	}
	rec.Alg, rec.KID = tok.Header.Alg, tok.Header.KID
	c := &tok.Claims
	if tok.Key == nil {
		if unverified != nil {
			c = unverified
		}
	} else {
		rec.KID = tok.Key.KID
	}
	rec.Sub, rec.Aud, rec.JTI, rec.Exp = c.Subject, c.Audience, c.ID, c.Expiry
	if len(rec.Alg) > 32 {
		rec.Alg = rec.Alg[:32]
	}
}
