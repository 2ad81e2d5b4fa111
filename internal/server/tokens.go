package server

import (
	"bytes"
	"net/http"
	"strings"
	"time"

	"github.com/jwtledger/jwtledger"
	"github.com/jwtledger/jwtledger/internal/api"
	"github.com/jwtledger/jwtledger/internal/strictjson"
	"github.com/jwtledger/jwtledger/token"
)

// The bodies of the token routes are the API's, shared with the client.
type (
	audience      = api.Audience
	issueRequest  = api.IssueRequest
	issueResponse = api.IssueResponse
	verifyRequest = api.VerifyRequest
	revokeRequest = api.RevokeRequest
)

// The fast paths of decodeFast for the issue and verify bodies read them
// with the strict scanner: they accept an object whose members are the
// route's usual ones with values of their usual types, and decline
// anything else (leaving req alone). Duplicate names, invalid UTF-8 and
// lone surrogates are refused by the scanner, so what they accept,
// encoding/json reads the same way.

// fastMembers scans body for a fast path; ok is false when the body is not
// a strict JSON object or a member is null (which the decoder treats apart).
func fastMembers(body []byte, buf []strictjson.Member) (_ []strictjson.Member, ok bool) {
	ms, err := strictjson.ParseObject(body, buf)
	if err != nil {
		return nil, false
	}
	for _, m := range ms {
		if string(m.Value) == "null" {
			return nil, false
		}
	}
	return ms, true
}

// fastString reads a member that must be a string, as a copy (the body's
// buffer is reused).
func fastString(v []byte) (string, bool) {
	s, ok := strictjson.String(v)
	return strings.Clone(s), ok
}

func issueFast(body []byte, req *issueRequest) bool {
	var buf [4]strictjson.Member
	ms, ok := fastMembers(body, buf[:0])
	if !ok {
		return false
	}
	var out issueRequest
	for _, m := range ms {
		switch m.Name {
		case "sub":
			if out.Sub, ok = fastString(m.Value); !ok {
				return false
			}
		case "aud":
			if s, ok := fastString(m.Value); ok {
				out.Aud = audience{s}
			} else if l, ok := strictjson.Strings(m.Value); ok {
				for i := range l {
					l[i] = strings.Clone(l[i])
				}
				out.Aud = l
			} else {
				return false
			}
		case "ttl":
			if out.TTL.UnmarshalJSON(m.Value) != nil {
				return false
			}
		case "claims":
			out.Claims = bytes.Clone(m.Value)
		default:
			return false
		}
	}
	*req = out
	return true
}

func (s *Server) issue(w http.ResponseWriter, r *http.Request, c *call) error {
	var req issueRequest
	if err := decodeFast(r, &req, func(b []byte) bool { return issueFast(b, &req) }); err != nil {
		return err
	}
	if req.TTL < 0 {
		return badRequest("ttl must be positive")
	}
	if string(req.Claims) == "null" {
		req.Claims = nil
	}
	if len(req.Claims) > 0 && req.Claims[0] != '{' {
		return badRequest(`"claims" must be a JSON object`)
	}
	ir := jwtledger.IssueRequest{Subject: req.Sub, Audience: req.Aud, TTL: time.Duration(req.TTL), ClaimsJSON: req.Claims, Meta: c.meta(r), Client: c.client}
	iss, err := s.l.Issue(r.Context(), ir)
	if err != nil {
		return err
	}
	s.countIssued(iss.Alg, c.client.ID)
	w.Header().Set("Cache-Control", "no-store")
	writeIssue(w, issueResponse{Token: iss.Token, TokenType: "Bearer", ExpiresAt: iss.ExpiresAt, JTI: iss.JTI, KID: iss.KID})
	return nil
}

// verifyFast reads verify bodies of token, iss and aud (leeway takes the
// full decoder).
func verifyFast(body []byte, req *verifyRequest) bool {
	var buf [3]strictjson.Member
	ms, ok := fastMembers(body, buf[:0])
	if !ok {
		return false
	}
	var out verifyRequest
	for _, m := range ms {
		var dst *string
		switch m.Name {
		case "token":
			dst = &out.Token
		case "iss":
			dst = &out.Iss
		case "aud":
			dst = &out.Aud
		default:
			return false
		}
		if *dst, ok = fastString(m.Value); !ok {
			return false
		}
	}
	*req = out
	return true
}

func (s *Server) verify(w http.ResponseWriter, r *http.Request, c *call) error {
	var req verifyRequest
	if err := decodeFast(r, &req, func(b []byte) bool { return verifyFast(b, &req) }); err != nil {
		return err
	}
	if req.Token == "" {
		return badRequest(`"token" is required`)
	}
	opts := []jwtledger.VerifyOption{jwtledger.WithMeta(c.meta(r)), jwtledger.WithIssuer(req.Iss), jwtledger.WithAudience(req.Aud)}
	if req.Leeway != nil {
		if *req.Leeway < 0 {
			return badRequest("leeway must not be negative")
		}
		opts = append(opts, jwtledger.WithLeeway(time.Duration(*req.Leeway)))
	}
	tok, err := s.l.Verify(r.Context(), req.Token, opts...)
	v := api.NewVerdict(tok, err)
	if err != nil && v.Outcome == "" {
		return err // no verdict: the audit trail failed
	}
	inc(&s.m.verifications, string(v.Outcome))
	writeVerdict(w, v)
	return nil
}

func (s *Server) revoke(w http.ResponseWriter, r *http.Request, c *call) error {
	var req revokeRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	var exp time.Time
	switch {
	case req.Token != "" && req.JTI != "":
		return badRequest(`give "jti" or "token", not both`)
	case req.Token != "":
		tok, err := s.genuine(r, c, req.Token)
		if err != nil {
			return err
		}
		req.JTI, req.Iss, exp = tok.Claims.ID, tok.Claims.Issuer, tok.Claims.Expiry
	case req.JTI == "":
		return badRequest(`"jti" or "token" is required`)
	}
	already, err := s.l.Revoke(r.Context(), req.Iss, req.JTI, exp, c.meta(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"revoked": true, "jti": req.JTI, "already_revoked": already})
	return nil
}

// genuine verifies a token to be revoked or introspected: any outcome
// reached after the signature check means it is one of ours.
func (s *Server) genuine(r *http.Request, c *call, raw string) (*token.Token, error) {
	tok, err := s.l.Verify(r.Context(), raw, jwtledger.WithMeta(c.meta(r)))
	switch token.OutcomeOf(err) {
	case token.Valid, token.Expired, token.NotYetValid, token.Revoked, token.InvalidClaims:
		if tok.Claims.ID == "" {
			return nil, badRequest("the token has no jti and cannot be revoked")
		}
		return tok, nil
	case "":
		return nil, err
	}
	return nil, badRequest("the token does not verify against this ledger's keys: %v", err)
}
