package server

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/jwtledger/jwtledger"
	"github.com/jwtledger/jwtledger/internal/clientauth"
	"github.com/jwtledger/jwtledger/token"
)

// oauthError answers in the RFC 6749 section 5.2 form.
func oauthError(code int, err, desc string) error {
	return &httpError{code: code, err: err, desc: desc}
}

// oauthToken is the client_credentials grant (RFC 6749 4.4) issuing JWT
// access tokens per RFC 9068.
func (s *Server) oauthToken(w http.ResponseWriter, r *http.Request, c *call) error {
	f := r.PostForm
	switch gt := f.Get("grant_type"); gt {
	case "client_credentials":
	case "":
		return oauthError(http.StatusBadRequest, "invalid_request", "grant_type is required")
	default:
		return oauthError(http.StatusBadRequest, "unsupported_grant_type", "only client_credentials is supported")
	}
	aud := append(f["audience"], f["resource"]...)
	iss, err := s.l.Issue(r.Context(), jwtledger.IssueRequest{Audience: aud, Scopes: strings.Fields(f.Get("scope")), Type: "at+jwt", Client: c.client, Subject: c.client.ID, Meta: c.meta(r)})
	if err != nil {
		var pe *jwtledger.PolicyError
		if errors.As(err, &pe) {
			switch pe.Rule {
			case "scope":
				return oauthError(http.StatusBadRequest, "invalid_scope", pe.Detail)
			case "audience":
				return oauthError(http.StatusBadRequest, "invalid_target", pe.Detail)
			}
		}
		return err
	}
	s.countIssued(iss.Alg, c.client.ID)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	resp := map[string]any{"access_token": iss.Token, "token_type": "Bearer", "expires_in": int64(iss.ExpiresAt.Sub(iss.IssuedAt).Seconds())}
	if iss.Scope != "" {
		resp["scope"] = iss.Scope
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// introspect is RFC 7662: active tokens get their claims, anything else
// just {"active":false}.
func (s *Server) introspect(w http.ResponseWriter, r *http.Request, c *call) error {
	raw := r.PostForm.Get("token")
	if raw == "" {
		return oauthError(http.StatusBadRequest, "invalid_request", "token is required")
	}
	tok, err := s.l.Verify(r.Context(), raw, jwtledger.WithMeta(c.meta(r)), jwtledger.WithLeeway(0))
	if err != nil && token.OutcomeOf(err) == "" {
		return err
	}
	inc(&s.m.verifications, string(token.OutcomeOf(err)))
	w.Header().Set("Cache-Control", "no-store")
	if err != nil {
		writeJSON(w, http.StatusOK, map[string]bool{"active": false})
		return nil
	}
	out := map[string]any{}
	if err := json.Unmarshal(tok.Claims.Raw, &out); err != nil {
		return err
	}
	out["active"] = true
	out["token_type"] = "Bearer"
	if _, ok := out["username"]; !ok && tok.Claims.Subject != "" {
		out["username"] = tok.Claims.Subject
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// oauthRevoke is RFC 7009: the answer is 200 whether or not the token was
// valid; a client may revoke its own tokens, or any with tokens:revoke.
func (s *Server) oauthRevoke(w http.ResponseWriter, r *http.Request, c *call) error {
	raw := r.PostForm.Get("token")
	if raw == "" {
		return oauthError(http.StatusBadRequest, "invalid_request", "token is required")
	}
	tok, err := s.genuine(r, c, raw)
	if err != nil {
		var he *httpError
		if errors.As(err, &he) && he.code == http.StatusBadRequest {
			w.WriteHeader(http.StatusOK) // RFC 7009 2.2: invalid tokens are not an error
			return nil
		}
		return err
	}
	var owner string
	json.Unmarshal(tok.Claims.Raw, &struct {
		ClientID *string `json:"client_id"`
	}{&owner})
	if owner != c.client.ID && !c.client.Has(clientauth.ScopeRevoke) {
		return s.deny(r, c, "revoke: token of another client", "unauthorized_client", "this client may only revoke its own tokens")
	}
	if _, err := s.l.Revoke(r.Context(), tok.Claims.Issuer, tok.Claims.ID, tok.Claims.Expiry, c.meta(r)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// authMethods are the client authentication methods of every OAuth2
// endpoint (see credentials).
var authMethods = []string{"client_secret_basic", "client_secret_post"}

// metadata is RFC 8414 authorization server metadata. There is no
// authorization endpoint, so no response type and no PKCE method.
func (s *Server) metadata(w http.ResponseWriter, r *http.Request, _ *call) error {
	base := s.base(r)
	scopes, err := s.ops.TokenScopes(r.Context())
	if err != nil {
		return &httpError{code: http.StatusServiceUnavailable, err: "temporarily_unavailable", desc: "the store is unavailable", cause: err}
	}
	if scopes == nil {
		scopes = []string{}
	}
	w.Header().Set("Cache-Control", "public, max-age=300")
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                s.l.Issuer(),
		"token_endpoint":                        base + "/oauth2/token",
		"jwks_uri":                              base + "/.well-known/jwks.json",
		"introspection_endpoint":                base + "/oauth2/introspect",
		"revocation_endpoint":                   base + "/oauth2/revoke",
		"grant_types_supported":                 []string{"client_credentials"},
		"response_types_supported":              []string{},
		"scopes_supported":                      scopes,
		"token_endpoint_auth_methods_supported": authMethods,
		"introspection_endpoint_auth_methods_supported": authMethods,
		"revocation_endpoint_auth_methods_supported":    authMethods,
	})
	return nil
}
