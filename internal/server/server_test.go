package server_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/jwtledger/jwtledger"
	"github.com/jwtledger/jwtledger/internal/clientauth"
	"github.com/jwtledger/jwtledger/internal/server"
	"github.com/jwtledger/jwtledger/trail"
)

type env struct {
	t     *testing.T
	l     *jwtledger.Ledger
	srv   *httptest.Server
	creds map[string]*jwtledger.ClientCredentials // by name
}

// newEnv starts a server whose ledger's issuer is its own URL, as serve's
// is, with a client of each kind; mod may change the ledger's Config.
func newEnv(t *testing.T, mod ...func(*jwtledger.Config)) *env {
	t.Helper()
	ctx := context.Background()
	srv := httptest.NewUnstartedServer(nil)
	cfg := jwtledger.Config{DataDir: t.TempDir(), Issuer: "http://" + srv.Listener.Addr().String()}
	for _, m := range mod {
		m(&cfg)
	}
	l, err := jwtledger.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	e := &env{t: t, l: l, creds: map[string]*jwtledger.ClientCredentials{}}
	for _, c := range []struct {
		name   string
		scopes []string
		policy jwtledger.ClientPolicy
	}{
		{"admin", []string{clientauth.ScopeAdmin}, jwtledger.ClientPolicy{Claims: []string{"*"}}},
		{"issuer", []string{clientauth.ScopeIssue}, jwtledger.ClientPolicy{Audiences: []string{"api"}, MaxTTL: 15 * time.Minute, Claims: []string{"role"}, TokenScopes: []string{"orders:read"}}},
		{"service", []string{clientauth.ScopeVerify}, jwtledger.ClientPolicy{DefaultAudience: "orders-api", TokenScopes: []string{"orders:read", "orders:write"}}},
		{"verifier", []string{clientauth.ScopeVerify}, jwtledger.ClientPolicy{}},
		{"revoker", []string{clientauth.ScopeRevoke}, jwtledger.ClientPolicy{}},
		{"auditor", []string{clientauth.ScopeAudit}, jwtledger.ClientPolicy{}},
	} {
		creds, _, err := l.CreateClient(ctx, jwtledger.NewClient{Name: c.name, Scopes: c.scopes, Policy: c.policy}, jwtledger.Meta{})
		if err != nil {
			t.Fatal(err)
		}
		e.creds[c.name] = creds
	}
	srv.Config.Handler = server.New(server.Config{Ledger: l}).Handler()
	srv.Start()
	e.srv = srv
	t.Cleanup(e.srv.Close)
	return e
}

// do sends a request as client (empty: no credentials) and returns the
// status and body.
func (e *env) do(method, path, client, contentType string, body io.Reader) (int, []byte, http.Header) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c := e.creds[client]; c != nil {
		req.SetBasicAuth(c.ID, c.Secret)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header
}

func (e *env) json(method, path, client string, v any) (int, map[string]any) {
	e.t.Helper()
	j, _ := json.Marshal(v)
	code, b, _ := e.do(method, path, client, "application/json", bytes.NewReader(j))
	var out map[string]any
	json.Unmarshal(b, &out)
	return code, out
}

func (e *env) form(path, client string, vals url.Values) (int, map[string]any) {
	e.t.Helper()
	code, b, _ := e.do("POST", path, client, "application/x-www-form-urlencoded", strings.NewReader(vals.Encode()))
	var out map[string]any
	json.Unmarshal(b, &out)
	return code, out
}

func TestTokenFlow(t *testing.T) {
	e := newEnv(t)
	code, iss := e.json("POST", "/v1/tokens", "issuer", map[string]any{"sub": "alice", "aud": "api", "ttl": "10m", "claims": map[string]any{"role": "admin"}})
	if code != 200 || iss["token_type"] != "Bearer" || iss["jti"] == "" || iss["kid"] == "" {
		t.Fatalf("issue: %d %v", code, iss)
	}
	tok := iss["token"].(string)
	code, v := e.json("POST", "/v1/tokens/verify", "verifier", map[string]any{"token": tok, "aud": "api"})
	if code != 200 || v["valid"] != true || v["outcome"] != "valid" || v["claims"].(map[string]any)["role"] != "admin" {
		t.Fatalf("verify: %d %v", code, v)
	}
	code, v = e.json("POST", "/v1/tokens/verify", "verifier", map[string]any{"token": tok[:len(tok)-4] + "AAAA"})
	if code != 200 || v["valid"] != false || v["outcome"] != "invalid_signature" || v["reason"] == "" {
		t.Fatalf("tampered: %d %v", code, v)
	}
	code, v = e.json("POST", "/v1/tokens/revoke", "revoker", map[string]any{"jti": iss["jti"]})
	if code != 200 || v["revoked"] != true {
		t.Fatalf("revoke: %d %v", code, v)
	}
	code, v = e.json("POST", "/v1/tokens/verify", "verifier", map[string]any{"token": tok})
	if code != 200 || v["outcome"] != "revoked" {
		t.Fatalf("after revoke: %d %v", code, v)
	}
	// Every call has its record, with the client as actor.
	recs, _ := e.l.Trail().Query(context.Background(), trail.Filter{Actor: e.creds["verifier"].ID})
	if len(recs) != 3 {
		t.Fatalf("verifier's records: %d, want 3", len(recs))
	}
}

func TestPolicyAndBadRequests(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name string
		body string
		ct   string
		want int
		err  string
	}{
		{"audience not allowed", `{"sub":"a","aud":"billing"}`, "application/json", 403, "access_denied"},
		{"ttl above max", `{"sub":"a","ttl":"2h"}`, "application/json", 403, "access_denied"},
		{"claim not allowed", `{"sub":"a","claims":{"admin":true}}`, "application/json", 403, "access_denied"},
		{"registered claim in the past", `{"sub":"a","claims":{"role":"x","exp":1}}`, "application/json", 400, "invalid_request"},
		{"audience not allowed, as a claim", `{"claims":{"aud":"billing"}}`, "application/json", 403, "access_denied"},
		{"not JSON", `sub=a`, "application/x-www-form-urlencoded", 400, "invalid_request"},
		{"wrong type", `{"sub":5}`, "application/json", 400, "invalid_request"},
		{"unknown field", `{"subject":"a"}`, "application/json", 400, "invalid_request"},
		{"two objects", `{"sub":"a"}{}`, "application/json", 400, "invalid_request"},
		{"bad ttl", `{"ttl":"soon"}`, "application/json", 400, "invalid_request"},
		{"oversized", `{"sub":"` + strings.Repeat("a", 70000) + `"}`, "application/json", 413, "invalid_request"},
		{"multipart", `--x`, "multipart/form-data; boundary=x", 415, "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, b, _ := e.do("POST", "/v1/tokens", "issuer", tt.ct, strings.NewReader(tt.body))
			var out map[string]string
			if err := json.Unmarshal(b, &out); err != nil || code != tt.want || out["error"] != tt.err || out["error_description"] == "" {
				t.Fatalf("got %d %s, want %d %s", code, b, tt.want, tt.err)
			}
			// The description is the library error's detail, not its
			// message with the sentinel's prefix.
			if d := out["error_description"]; strings.HasPrefix(d, jwtledger.ErrInvalidRequest.Error()) || strings.HasPrefix(d, "refused by") {
				t.Fatalf("description %q carries the library's prefix", d)
			}
		})
	}
	denied, _ := e.l.Trail().Query(context.Background(), trail.Filter{Event: "auth.denied", Actor: e.creds["issuer"].ID})
	if len(denied) != 4 {
		t.Fatalf("%d auth.denied records for policy violations, want 4", len(denied))
	}
}

// TestVerifyBodies sends one valid token in verify bodies of many shapes:
// the common {"token": ...} body is parsed by a fast path, every other one
// by the full decoder, and both must agree.
func TestVerifyBodies(t *testing.T) {
	e := newEnv(t)
	_, iss := e.json("POST", "/v1/tokens", "issuer", map[string]any{"sub": "alice", "aud": "api"})
	tok := iss["token"].(string)
	escaped := `\u0065` + tok[1:] // "e" escaped: the same token
	tests := []struct {
		name, body string
		want       int
		outcome    string
	}{
		{"plain", `{"token":"` + tok + `"}`, 200, "valid"},
		{"spaced", " \r\n{ \t\"token\" :\n \"" + tok + "\" }\n", 200, "valid"},
		{"escaped character", `{"token":"` + escaped + `"}`, 200, "valid"},
		{"with audience", `{"token":"` + tok + `","aud":"api"}`, 200, "valid"},
		{"wrong audience", `{"aud":"billing","token":"` + tok + `"}`, 200, "invalid_claims"},
		{"tampered", `{"token":"` + tok[:len(tok)-2] + `AA"}`, 200, "invalid_signature"},
		{"not a token", `{"token":"a b"}`, 200, "malformed"},
		{"space before the closing quote", `{"token":"` + tok + ` "}`, 200, "malformed"},
		{"empty token", `{"token":""}`, 400, ""},
		{"no token", `{}`, 400, ""},
		{"unknown member", `{"token":"` + tok + `","x":1}`, 400, ""},
		{"duplicate member", `{"token":"x","token":"` + tok + `"}`, 400, ""},
		{"duplicate member, escaped", `{"token":"` + tok + `","\u0074oken":"x"}`, 400, ""},
		{"trailing data", `{"token":"` + tok + `"}x`, 400, ""},
		{"two objects", `{"token":"` + tok + `"}{}`, 400, ""},
		{"unterminated", `{"token":"` + tok, 400, ""},
		{"not an object", `"` + tok + `"`, 400, ""},
		{"wrong type", `{"token":5}`, 400, ""},
		{"oversized", `{"token":"` + strings.Repeat("a", 70000) + `"}`, 413, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, b, _ := e.do("POST", "/v1/tokens/verify", "verifier", "application/json", strings.NewReader(tt.body))
			var out map[string]any
			if err := json.Unmarshal(b, &out); err != nil || code != tt.want {
				t.Fatalf("got %d %s, want %d", code, b, tt.want)
			}
			if tt.want == 200 && out["outcome"] != tt.outcome {
				t.Fatalf("outcome %v, want %s (%s)", out["outcome"], tt.outcome, b)
			}
			if tt.want != 200 && (out["error"] != "invalid_request" || out["error_description"] == "") {
				t.Fatalf("error body %s", b)
			}
		})
	}
}

// TestScopeMatrix calls every route as every kind of caller.
func TestScopeMatrix(t *testing.T) {
	e := newEnv(t)
	callers := []string{"", "admin", "issuer", "verifier", "revoker", "auditor"}
	routes := []struct {
		method, path string
		scope        string // "" public, "any" any client
		body         string
	}{
		{"POST", "/v1/tokens", "issuer", `{"sub":"a"}`},
		{"POST", "/v1/tokens/verify", "verifier", `{"token":"a.b.c"}`},
		{"POST", "/v1/tokens/revoke", "revoker", `{"jti":"x"}`},
		{"POST", "/oauth2/token", "any", "grant_type=client_credentials"},
		{"POST", "/oauth2/introspect", "verifier", "token=a.b.c"},
		{"POST", "/oauth2/revoke", "any", "token=a.b.c"},
		{"GET", "/v1/audit", "auditor", ""},
		{"GET", "/v1/audit/verify", "auditor", ""},
		{"GET", "/v1/audit/checkpoint", "auditor", ""},
		{"GET", "/v1/keys", "admin", ""},
		{"GET", "/v1/clients", "admin", ""},
		{"GET", "/.well-known/jwks.json", "", ""},
		{"GET", "/.well-known/oauth-authorization-server", "", ""},
		{"GET", "/healthz", "", ""},
		{"GET", "/readyz", "", ""},
		{"GET", "/metrics", "", ""},
		{"GET", "/openapi.yaml", "any", ""},
		{"DELETE", "/v1/tokens", "wrong-method", ""},
		{"PUT", "/oauth2/token", "wrong-method", ""},
	}
	for _, rt := range routes {
		for _, caller := range callers {
			ct := "application/json"
			if strings.HasPrefix(rt.path, "/oauth2/") {
				ct = "application/x-www-form-urlencoded"
			}
			code, b, h := e.do(rt.method, rt.path, caller, ct, strings.NewReader(rt.body))
			var want string
			switch {
			case rt.scope == "":
				want = "2xx"
			case caller == "":
				want = "401"
			case rt.scope == "wrong-method":
				want = "other" // 405 once authenticated
			case rt.scope == "any" || caller == rt.scope || caller == "admin":
				want = "2xx"
			default:
				want = "403"
			}
			got := map[int]string{401: "401", 403: "403"}[code]
			switch {
			case code < 300:
				got = "2xx"
			case got == "":
				got = "other"
			}
			if got != want {
				t.Errorf("%s %s as %q: %d %s, want %s", rt.method, rt.path, caller, code, b, want)
			}
			if code == 401 && h.Get("WWW-Authenticate") == "" {
				t.Errorf("%s %s: 401 without WWW-Authenticate", rt.method, rt.path)
			}
		}
	}
	// Wrong secrets are 401 and recorded with the presented client id only.
	req, _ := http.NewRequest("GET", e.srv.URL+"/v1/audit", nil)
	req.SetBasicAuth(e.creds["auditor"].ID, "jls_wrong-secret")
	resp, _ := http.DefaultClient.Do(req)
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("wrong secret: %d", resp.StatusCode)
	}
	recs, _ := e.l.Trail().Query(context.Background(), trail.Filter{Event: "auth.denied"})
	for _, r := range recs {
		if strings.Contains(r.Reason+r.Actor, "jls_") {
			t.Fatalf("a secret reached the audit record: %+v", r)
		}
	}
}

// TestOAuth2 uses golang.org/x/oauth2 as a real client, checks the token
// against the JWKS with go-jose (not jwtledger's code), then introspects
// and revokes it per RFC 7662 / 7009.
func TestOAuth2(t *testing.T) {
	e := newEnv(t)
	c := e.creds["issuer"]
	cfg := clientcredentials.Config{ClientID: c.ID, ClientSecret: c.Secret, TokenURL: e.srv.URL + "/oauth2/token",
		Scopes: []string{"orders:read"}, EndpointParams: url.Values{"audience": {"api"}}}
	tok, err := cfg.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if tok.TokenType != "Bearer" || tok.Expiry.IsZero() {
		t.Fatalf("token response: %+v", tok)
	}
	// The JWKS, fetched and used by go-jose.
	code, body, _ := e.do("GET", "/.well-known/jwks.json", "", "", nil)
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); code != 200 || err != nil {
		t.Fatalf("jwks: %d %v", code, err)
	}
	jws, err := jose.ParseSigned(tok.AccessToken, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	keys := set.Key(jws.Signatures[0].Header.KeyID)
	if len(keys) != 1 {
		t.Fatalf("kid %q not in the JWKS", jws.Signatures[0].Header.KeyID)
	}
	payload, err := jws.Verify(keys[0])
	if err != nil {
		t.Fatalf("go-jose: %v", err)
	}
	var claims map[string]any
	json.Unmarshal(payload, &claims)
	if claims["client_id"] != c.ID || claims["sub"] != c.ID || claims["scope"] != "orders:read" || claims["aud"] != "api" || jws.Signatures[0].Header.ExtraHeaders["typ"] != "at+jwt" {
		t.Fatalf("RFC 9068 claims: %v %v", claims, jws.Signatures[0].Header)
	}
	// Introspection.
	code, in := e.form("/oauth2/introspect", "verifier", url.Values{"token": {tok.AccessToken}})
	if code != 200 || in["active"] != true || in["client_id"] != c.ID || in["scope"] != "orders:read" {
		t.Fatalf("introspect: %d %v", code, in)
	}
	code, in = e.form("/oauth2/introspect", "verifier", url.Values{"token": {"garbage"}})
	if code != 200 || len(in) != 1 || in["active"] != false {
		t.Fatalf("introspect garbage: %d %v", code, in)
	}
	// Another client may not revoke it; its owner may; garbage is fine.
	if code, _ := e.form("/oauth2/revoke", "verifier", url.Values{"token": {tok.AccessToken}}); code != 403 {
		t.Fatalf("revoke by another client: %d", code)
	}
	if code, _ := e.form("/oauth2/revoke", "issuer", url.Values{"token": {"garbage"}}); code != 200 {
		t.Fatalf("revoke garbage: %d", code)
	}
	if code, _ := e.form("/oauth2/revoke", "issuer", url.Values{"token": {tok.AccessToken}}); code != 200 {
		t.Fatalf("revoke own: %d", code)
	}
	if code, in = e.form("/oauth2/introspect", "verifier", url.Values{"token": {tok.AccessToken}}); in["active"] != false {
		t.Fatalf("introspect revoked: %d %v", code, in)
	}
	// Errors in RFC 6749 form.
	for _, tt := range []struct {
		vals url.Values
		want string
	}{
		{url.Values{"grant_type": {"password"}}, "unsupported_grant_type"},
		{url.Values{}, "invalid_request"},
		{url.Values{"grant_type": {"client_credentials"}, "scope": {"admin:all"}}, "invalid_scope"},
		{url.Values{"grant_type": {"client_credentials"}, "audience": {"billing"}}, "invalid_target"},
	} {
		if code, out := e.form("/oauth2/token", "issuer", tt.vals); code != 400 || out["error"] != tt.want {
			t.Errorf("%v: %d %v, want 400 %s", tt.vals, code, out, tt.want)
		}
	}
	code, out := e.form("/oauth2/token", "", url.Values{"grant_type": {"client_credentials"}, "client_id": {c.ID}, "client_secret": {"nope"}})
	if code != 401 || out["error"] != "invalid_client" {
		t.Fatalf("bad client secret: %d %v", code, out)
	}
	// client_secret_post works too.
	code, out = e.form("/oauth2/token", "", url.Values{"grant_type": {"client_credentials"}, "client_id": {c.ID}, "client_secret": {c.Secret}})
	if code != 200 || out["access_token"] == nil {
		t.Fatalf("client_secret_post: %d %v", code, out)
	}
}

func TestJWKSCachingAndMetadata(t *testing.T) {
	e := newEnv(t)
	code, _, h := e.do("GET", "/.well-known/jwks.json", "", "", nil)
	etag := h.Get("ETag")
	if code != 200 || etag == "" || !strings.Contains(h.Get("Cache-Control"), "max-age") {
		t.Fatalf("jwks headers: %d %v", code, h)
	}
	req, _ := http.NewRequest("GET", e.srv.URL+"/.well-known/jwks.json", nil)
	req.Header.Set("If-None-Match", etag)
	resp, _ := http.DefaultClient.Do(req)
	resp.Body.Close()
	if resp.StatusCode != 304 {
		t.Fatalf("conditional jwks: %d", resp.StatusCode)
	}
}

func TestAdminAPI(t *testing.T) {
	e := newEnv(t)
	code, created := e.json("POST", "/v1/clients", "admin", map[string]any{"name": "svc", "scopes": []string{"tokens:verify"}, "max_ttl": "5m"})
	if code != 201 || created["client_secret"] == nil {
		t.Fatalf("create client: %d %v", code, created)
	}
	id := created["client_id"].(string)
	code, rot := e.json("POST", "/v1/clients/"+id+"/rotate-secret", "admin", nil)
	if code != 200 || rot["client_secret"] == created["client_secret"] {
		t.Fatalf("rotate: %d %v", code, rot)
	}
	if code, _, _ := e.do("DELETE", "/v1/clients/"+id, "admin", "", nil); code != 204 {
		t.Fatalf("delete: %d", code)
	}
	if code, b, _ := e.do("DELETE", "/v1/clients/"+id, "admin", "", nil); code != 404 || !strings.Contains(string(b), `"not_found"`) {
		t.Fatalf("delete again: %d %s", code, b)
	}
	if code, b, _ := e.do("POST", "/v1/clients/"+id+"/rotate-secret", "admin", "", nil); code != 404 || !strings.Contains(string(b), `"not_found"`) {
		t.Fatalf("rotate the secret of a deleted client: %d %s", code, b)
	}
	code, k := e.json("POST", "/v1/keys", "admin", map[string]any{"alg": "EdDSA"})
	if code != 200 || k["alg"] != "EdDSA" {
		t.Fatalf("rotate key: %d %v", code, k)
	}
	code, cp := e.json("GET", "/v1/audit/checkpoint", "auditor", nil)
	if code != 200 || cp["verifier_key"] == nil {
		t.Fatalf("checkpoint: %d %v", code, cp)
	}
	code, rep := e.json("GET", "/v1/audit/verify", "auditor", nil)
	if code != 200 || rep["ok"] != true {
		t.Fatalf("audit verify: %d %v", code, rep)
	}
	code, page := e.json("GET", "/v1/audit?limit=2", "auditor", nil)
	if code != 200 || len(page["records"].([]any)) != 2 || page["next_cursor"] == "" {
		t.Fatalf("audit page: %d %v", code, page)
	}
	code, page2 := e.json("GET", "/v1/audit?limit=2&cursor="+page["next_cursor"].(string), "auditor", nil)
	if code != 200 || page2["records"].([]any)[0].(map[string]any)["seq"].(float64) != 3 {
		t.Fatalf("audit page 2: %d %v", code, page2)
	}
	if code, _ := e.json("GET", "/v1/audit?limit=0", "auditor", nil); code != 400 {
		t.Fatalf("bad limit: %d", code)
	}
}

func TestMetrics(t *testing.T) {
	e := newEnv(t)
	e.json("POST", "/v1/tokens", "issuer", map[string]any{"sub": "a"})
	e.json("POST", "/v1/tokens/verify", "verifier", map[string]any{"token": "x.y.z"})
	e.do("GET", "/v1/keys", "", "", nil)
	code, b, h := e.do("GET", "/metrics", "", "", nil)
	if code != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/plain") {
		t.Fatalf("metrics: %d %v", code, h)
	}
	for _, want := range []string{
		`jwtledger_http_requests_total{route="POST /v1/tokens",status="200"} 1`,
		`jwtledger_http_requests_total{route="GET /v1/keys",status="401"} 1`,
		`jwtledger_tokens_issued_total{alg="ES256"} 1`,
		`jwtledger_audit_checkpoint_failures_total 0`,
		`jwtledger_audit_undelivered_records_total 0`,
		`jwtledger_ready 1`,
		`jwtledger_verifications_total{outcome="malformed"} 1`,
		`jwtledger_audit_batch_records_bucket{le="+Inf"}`,
		`jwtledger_audit_commit_seconds_count`,
		`jwtledger_audit_queue_depth 0`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("metrics lack %q:\n%s", want, b)
		}
	}
	for _, c := range e.creds {
		if strings.Contains(string(b), c.ID) {
			t.Errorf("public metrics name client %s", c.ID)
		}
	}
}

// With MetricsClientLabels the issued tokens are counted per client too,
// and with NoMetrics /metrics is only on MetricsHandler.
func TestMetricsOptions(t *testing.T) {
	e := newEnv(t)
	srv := server.New(server.Config{Ledger: e.l, MetricsClientLabels: true, NoMetrics: true})
	h := httptest.NewServer(srv.Handler())
	defer h.Close()
	m := httptest.NewServer(srv.MetricsHandler())
	defer m.Close()
	req, _ := http.NewRequest("POST", h.URL+"/v1/tokens", strings.NewReader(`{"sub":"a"}`))
	req.SetBasicAuth(e.creds["issuer"].ID, e.creds["issuer"].Secret)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("issue: %v %v", err, resp)
	}
	if code, _ := getJSON(t, h.URL+"/metrics"); code != http.StatusNotFound {
		t.Fatalf("/metrics on the API listener: %d, want 404", code)
	}
	resp, err := http.Get(m.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want := `jwtledger_tokens_issued_total{alg="ES256",client="` + e.creds["issuer"].ID + `"} 1`
	if !strings.Contains(string(b), want) {
		t.Fatalf("metrics lack %q:\n%s", want, b)
	}
}

// TestOpenAPICoversRoutes keeps /openapi.yaml in sync: every registered
// route must be documented under its path and method, and nothing else.
func TestOpenAPICoversRoutes(t *testing.T) {
	doc := string(server.OpenAPI("http://127.0.0.1:8080"))
	documented := map[string]bool{}
	path := ""
	inPaths := false
	for _, line := range strings.Split(doc, "\n") {
		switch {
		case line == "paths:":
			inPaths = true
		case !inPaths:
		case strings.HasPrefix(line, "  /") && strings.HasSuffix(line, ":"):
			path = strings.TrimSuffix(strings.TrimSpace(line), ":")
		case len(line) > 4 && line[:4] == "    " && line[4] != ' ' && strings.HasSuffix(line, ":"):
			method := strings.ToUpper(strings.TrimSuffix(strings.TrimSpace(line), ":"))
			documented[method+" "+path] = true
		}
	}
	e := newEnv(t)
	srv := server.New(server.Config{Ledger: e.l})
	for _, r := range srv.Routes() {
		if !documented[r] {
			t.Errorf("route %q is not in openapi.yaml", r)
		}
		delete(documented, r)
	}
	for r := range documented {
		t.Errorf("openapi.yaml documents %q, which is not a route", r)
	}
	code, b, _ := e.do("GET", "/openapi.yaml", "verifier", "", nil)
	if code != 200 || !strings.HasPrefix(string(b), "openapi: 3.1.0") {
		t.Fatalf("/openapi.yaml: %d", code)
	}
}

// TestChallenges checks the 401 challenges and the 405 answers against the
// standards third-party clients follow: a Bearer challenge names
// error="invalid_token" when a token was presented and refused, and none
// when no credentials came (RFC 6750 3.1); the OAuth2 endpoints, whose
// clients authenticate with HTTP Basic (client_secret_basic in the
// metadata), challenge with Basic when nothing came (RFC 6749 2.3.1, 5.2);
// a 405 lists the methods of the path in Allow (RFC 9110 15.5.6).
func TestChallenges(t *testing.T) {
	e := newEnv(t)
	adm := e.creds["admin"]
	basicWrong := "Basic " + base64.StdEncoding.EncodeToString([]byte(adm.ID+":jls_wrong"))
	tests := []struct {
		name, method, path, auth string
		code                     int
		header, want             string
	}{
		{"no credentials, resource", "POST", "/v1/tokens", "", 401, "WWW-Authenticate", `Bearer realm="jwtledger"`},
		{"wrong bearer, resource", "POST", "/v1/tokens", "Bearer jls_wrong", 401, "WWW-Authenticate", `Bearer realm="jwtledger", error="invalid_token"`},
		{"wrong bearer, audit", "GET", "/v1/audit", "Bearer jls_wrong", 401, "WWW-Authenticate", `Bearer realm="jwtledger", error="invalid_token"`},
		{"wrong basic, resource", "GET", "/v1/audit", basicWrong, 401, "WWW-Authenticate", `Basic realm="jwtledger"`},
		{"no credentials, token endpoint", "POST", "/oauth2/token", "", 401, "WWW-Authenticate", `Basic realm="jwtledger"`},
		{"no credentials, introspection", "POST", "/oauth2/introspect", "", 401, "WWW-Authenticate", `Basic realm="jwtledger"`},
		{"wrong basic, token endpoint", "POST", "/oauth2/token", basicWrong, 401, "WWW-Authenticate", `Basic realm="jwtledger"`},
		{"wrong bearer, token endpoint", "POST", "/oauth2/token", "Bearer jls_wrong", 401, "WWW-Authenticate", `Bearer realm="jwtledger"`},
		{"405, POST only", "DELETE", "/v1/tokens", "admin", 405, "Allow", "POST"},
		{"405, token endpoint", "GET", "/oauth2/token", "admin", 405, "Allow", "POST"},
		{"405, GET only", "POST", "/.well-known/jwks.json", "", 405, "Allow", "GET, HEAD"},
		{"405, GET and POST", "PUT", "/v1/keys", "admin", 405, "Allow", "GET, HEAD, POST"},
		{"405, a path with a wildcard", "GET", "/v1/clients/cl_x", "admin", 405, "Allow", "DELETE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := "grant_type=client_credentials"
			req, _ := http.NewRequest(tt.method, e.srv.URL+tt.path, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			switch {
			case tt.auth == "admin":
				req.SetBasicAuth(adm.ID, adm.Secret)
			case tt.auth != "":
				req.Header.Set("Authorization", tt.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.code {
				t.Fatalf("%d %s, want %d", resp.StatusCode, b, tt.code)
			}
			if got := resp.Header.Values(tt.header); len(got) != 1 || got[0] != tt.want {
				t.Fatalf("%s: %q, want %q", tt.header, got, tt.want)
			}
		})
	}
}
