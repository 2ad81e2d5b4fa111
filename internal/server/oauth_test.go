package server_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jwtledger/jwtledger"
	"github.com/jwtledger/jwtledger/internal/server"
)

// TestClientAuthentication sends the credentials of one client in every
// form RFC 6749 2.3.1 allows to the three OAuth2 endpoints: Basic with the
// id and secret form-encoded (as oauth4webapi and openid-client send them:
// "_" becomes "%5F"), Basic as they are, and client_secret_post.
func TestClientAuthentication(t *testing.T) {
	e := newEnv(t)
	adm := e.creds["admin"]
	formEnc := func(s string) string { // encodeURIComponent plus the RFC's extra escapes
		return strings.NewReplacer("_", "%5F", "-", "%2D", ".", "%2E").Replace(url.QueryEscape(s))
	}
	basic := func(id, secret string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(id+":"+secret))
	}
	token := func() string {
		_, iss := e.json("POST", "/v1/tokens", "admin", map[string]any{"sub": "alice"})
		return iss["token"].(string)
	}
	tests := []struct {
		name   string
		header string
		form   url.Values
		want   int
	}{
		{"basic, form-encoded", basic(formEnc(adm.ID), formEnc(adm.Secret)), nil, 200},
		{"basic, raw", basic(adm.ID, adm.Secret), nil, 200},
		{"basic, id form-encoded only", basic(formEnc(adm.ID), adm.Secret), nil, 200},
		{"client_secret_post", "", url.Values{"client_id": {adm.ID}, "client_secret": {adm.Secret}}, 200},
		{"bearer", "Bearer " + adm.Secret, nil, 200},
		{"basic, wrong secret", basic(formEnc(adm.ID), formEnc(adm.Secret+"x")), nil, 401},
		{"basic, another client's id", basic(e.creds["verifier"].ID, adm.Secret), nil, 401},
		{"basic, bad escape", basic(adm.ID, adm.Secret+"%zz"), nil, 401},
		{"post, wrong secret", "", url.Values{"client_id": {adm.ID}, "client_secret": {"jls_nope"}}, 401},
		{"two methods", basic(adm.ID, adm.Secret), url.Values{"client_id": {adm.ID}, "client_secret": {adm.Secret}}, 400},
		{"body id differs from basic", basic(adm.ID, adm.Secret), url.Values{"client_id": {e.creds["verifier"].ID}}, 400},
		{"body id same as basic", basic(adm.ID, adm.Secret), url.Values{"client_id": {adm.ID}}, 200},
		{"none", "", nil, 401},
	}
	for _, ep := range []string{"/oauth2/token", "/oauth2/introspect", "/oauth2/revoke"} {
		for _, tt := range tests {
			t.Run(ep+"/"+tt.name, func(t *testing.T) {
				form := url.Values{}
				switch ep {
				case "/oauth2/token":
					form.Set("grant_type", "client_credentials")
				default:
					form.Set("token", token())
				}
				for k, v := range tt.form {
					form[k] = v
				}
				req, _ := http.NewRequest("POST", e.srv.URL+ep, strings.NewReader(form.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				if tt.header != "" {
					req.Header.Set("Authorization", tt.header)
				}
				resp, out := send(t, req)
				if resp.StatusCode != tt.want {
					t.Fatalf("%d %v, want %d", resp.StatusCode, out, tt.want)
				}
				switch tt.want {
				case 401:
					if out["error"] != "invalid_client" || resp.Header.Get("WWW-Authenticate") == "" {
						t.Fatalf("401 answer %v %v", out, resp.Header)
					}
				case 400:
					if out["error"] != "invalid_request" {
						t.Fatalf("400 answer %v", out)
					}
				}
			})
		}
	}
}

// TestMetadata checks the RFC 8414 document: the issuer is the ledger's
// (the server's URL), every endpoint is under it, and it lists exactly the
// methods each endpoint accepts.
func TestMetadata(t *testing.T) {
	e := newEnv(t)
	code, b, _ := e.do("GET", "/.well-known/oauth-authorization-server", "", "", nil)
	if code != 200 {
		t.Fatalf("metadata: %d %s", code, b)
	}
	var md map[string]any
	if err := json.Unmarshal(b, &md); err != nil {
		t.Fatal(err)
	}
	methods := []any{"client_secret_basic", "client_secret_post"}
	want := map[string]any{
		"issuer":                                e.srv.URL,
		"token_endpoint":                        e.srv.URL + "/oauth2/token",
		"jwks_uri":                              e.srv.URL + "/.well-known/jwks.json",
		"introspection_endpoint":                e.srv.URL + "/oauth2/introspect",
		"revocation_endpoint":                   e.srv.URL + "/oauth2/revoke",
		"grant_types_supported":                 []any{"client_credentials"},
		"response_types_supported":              []any{},
		"scopes_supported":                      []any{"orders:read", "orders:write"},
		"token_endpoint_auth_methods_supported": methods,
		"introspection_endpoint_auth_methods_supported": methods,
		"revocation_endpoint_auth_methods_supported":    methods,
	}
	for k, v := range want {
		if fmt.Sprint(md[k]) != fmt.Sprint(v) {
			t.Errorf("%s = %v, want %v", k, md[k], v)
		}
		delete(md, k)
	}
	if len(md) != 0 {
		t.Errorf("unexpected members %v (no code_challenge_methods_supported without an authorization endpoint)", md)
	}
	if e.l.Issuer() != e.srv.URL {
		t.Fatalf("ledger issuer %q", e.l.Issuer())
	}
}

// TestMetadataWithoutURLIssuer: a library ledger whose issuer is a name
// (the CLI's "jwtledger") still gets usable endpoint URLs, those of the
// request.
func TestMetadataWithoutURLIssuer(t *testing.T) {
	l, err := jwtledger.Open(context.Background(), jwtledger.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	srv := httptest.NewServer(server.New(server.Config{Ledger: l}).Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/.well-known/oauth-authorization-server")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var md map[string]any
	json.NewDecoder(resp.Body).Decode(&md)
	if md["issuer"] != "jwtledger" || md["token_endpoint"] != srv.URL+"/oauth2/token" {
		t.Fatalf("metadata %v", md)
	}
}

func TestCheckIssuer(t *testing.T) {
	for _, tt := range []struct {
		iss string
		ok  bool
	}{
		{"http://127.0.0.1:8080", true},
		{"https://auth.example.com", true},
		{"https://auth.example.com/tenant", true},
		{"http://[::1]:8080", true},
		{"jwtledger", false},
		{"https://auth.example.com?x=1", false},
		{"https://auth.example.com#f", false},
		{"https://user@auth.example.com", false},
		{"ftp://auth.example.com", false},
		{"https://", false},
	} {
		if err := server.CheckIssuer(tt.iss); (err == nil) != tt.ok {
			t.Errorf("CheckIssuer(%q) = %v, want ok %v", tt.iss, err, tt.ok)
		}
	}
}

// send sends req and decodes the JSON answer.
func send(t *testing.T, req *http.Request) (*http.Response, map[string]any) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp, out
}

// claimsOf returns the payload of a JWT, unverified (the tests verify
// tokens elsewhere; here only the claims matter).
func claimsOf(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	p, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(p, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestAccessTokenClaims checks RFC 9068 2.2 for every way a client can ask
// for an access token: iss, exp, aud, sub, client_id, iat and jti always;
// aud by default the client's default audience, else the issuer; scope
// whenever the client has token scopes.
func TestAccessTokenClaims(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name, client string
		form         url.Values
		aud, scope   string // "" scope: no scope claim
	}{
		{"no policy", "admin", nil, e.srv.URL, ""},
		{"default audience and all scopes", "service", nil, "orders-api", "orders:read orders:write"},
		{"one scope asked for", "service", url.Values{"scope": {"orders:write"}}, "orders-api", "orders:write"},
		{"audience asked for", "issuer", url.Values{"audience": {"api"}}, "api", "orders:read"},
		{"resource asked for", "admin", url.Values{"resource": {"https://rs.example"}}, "https://rs.example", ""},
		{"no audience, no default", "issuer", nil, e.srv.URL, "orders:read"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			form := url.Values{"grant_type": {"client_credentials"}}
			for k, v := range tt.form {
				form[k] = v
			}
			code, out := e.form("/oauth2/token", tt.client, form)
			if code != 200 {
				t.Fatalf("token: %d %v", code, out)
			}
			if fmt.Sprint(out["scope"]) != fmt.Sprint(map[bool]any{true: tt.scope, false: nil}[tt.scope != ""]) {
				t.Fatalf("answer scope %v, want %q", out["scope"], tt.scope)
			}
			c := claimsOf(t, out["access_token"].(string))
			id := e.creds[tt.client].ID
			for _, name := range []string{"iss", "exp", "aud", "sub", "client_id", "iat", "jti"} {
				if c[name] == nil {
					t.Fatalf("no %s in %v", name, c)
				}
			}
			if c["iss"] != e.srv.URL || c["sub"] != id || c["client_id"] != id || c["aud"] != tt.aud {
				t.Fatalf("claims %v", c)
			}
			if (tt.scope == "" && c["scope"] != nil) || (tt.scope != "" && c["scope"] != tt.scope) {
				t.Fatalf("scope claim %v, want %q", c["scope"], tt.scope)
			}
		})
	}
}

// TestDefaultAudiencePolicy sets the new policy field over HTTP and checks
// that it must be one of the allowed audiences.
func TestDefaultAudiencePolicy(t *testing.T) {
	e := newEnv(t)
	code, out := e.json("POST", "/v1/clients", "admin", map[string]any{"name": "a", "scopes": []string{"tokens:issue"}, "audiences": []string{"x", "y"}, "default_audience": "y"})
	if code != 201 || out["client"].(map[string]any)["policy"].(map[string]any)["default_audience"] != "y" {
		t.Fatalf("create: %d %v", code, out)
	}
	// Its /v1/tokens tokens get it too when they name no audience.
	req, _ := http.NewRequest("POST", e.srv.URL+"/v1/tokens", strings.NewReader(`{"sub":"s"}`))
	req.Header.Set("Authorization", "Bearer "+out["client_secret"].(string))
	_, iss := send(t, req)
	if c := claimsOf(t, iss["token"].(string)); c["aud"] != "y" {
		t.Fatalf("aud %v", c["aud"])
	}
	code, out = e.json("POST", "/v1/clients", "admin", map[string]any{"name": "b", "scopes": []string{"tokens:issue"}, "audiences": []string{"x"}, "default_audience": "z"})
	if code != 400 || !strings.Contains(out["error_description"].(string), `default audience "z" is not one of the allowed audiences`) {
		t.Fatalf("bad default audience: %d %v", code, out)
	}
	code, out = e.json("POST", "/v1/clients", "admin", map[string]any{"name": "c", "scopes": []string{"tokens:issue"}, "token_scopes": []string{"a b"}})
	if code != 400 || !strings.Contains(out["error_description"].(string), `token scope "a b"`) {
		t.Fatalf("bad token scope: %d %v", code, out)
	}
}

// TestIssueRegisteredClaims sends registered claims in the claims of
// POST /v1/tokens: taken as given under the client's policy and the
// server's maximum lifetime, refused with a reason otherwise.
func TestIssueRegisteredClaims(t *testing.T) {
	e := newEnv(t, func(c *jwtledger.Config) { c.MaxTTL = time.Hour })
	now := time.Now().Unix()
	tests := []struct {
		name, client, body string
		want               int
		err                string // substring of error_description
	}{
		{"PyJWT payload", "admin", fmt.Sprintf(`{"claims":{"sub":"u","aud":"api","exp":%d,"payload":{"user_id":1}}}`, now+600), 200, ""},
		{"exp beyond the server's maximum", "admin", fmt.Sprintf(`{"claims":{"exp":%d}}`, now+7200), 400, "beyond the maximum lifetime 1h0m0s"},
		{"exp beyond the client's maximum", "issuer", fmt.Sprintf(`{"claims":{"aud":"api","exp":%d}}`, now+1800), 403, "lifetime above this client's maximum of 15m0s"},
		{"exp within the client's maximum", "issuer", fmt.Sprintf(`{"claims":{"aud":"api","exp":%d,"role":"r"}}`, now+600), 200, ""},
		{"exp and ttl", "admin", fmt.Sprintf(`{"ttl":"5m","claims":{"exp":%d}}`, now+60), 400, `claim "exp" and a lifetime (5m0s) are both given`},
		{"another issuer", "admin", `{"claims":{"iss":"https://other.example"}}`, 400, `claim "iss" is "https://other.example", but this ledger's issuer is "` + e.srv.URL + `"`},
		{"own issuer", "admin", `{"claims":{"iss":"` + e.srv.URL + `"}}`, 200, ""},
		{"a foreign jti", "admin", `{"claims":{"jti":"abc"}}`, 400, `claim "jti" is set by the ledger`},
		{"sub twice", "admin", `{"sub":"a","claims":{"sub":"b"}}`, 400, "the subject is given twice"},
		{"custom claim not allowed", "issuer", `{"claims":{"aud":"api","admin":true}}`, 403, "custom claim admin is not allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, b, _ := e.do("POST", "/v1/tokens", tt.client, "application/json", strings.NewReader(tt.body))
			var out map[string]any
			json.Unmarshal(b, &out)
			if code != tt.want {
				t.Fatalf("%d %s, want %d", code, b, tt.want)
			}
			if tt.want != 200 {
				if d, _ := out["error_description"].(string); !strings.Contains(d, tt.err) {
					t.Fatalf("description %q, want %q", d, tt.err)
				}
				return
			}
			c := claimsOf(t, out["token"].(string))
			var given map[string]any
			json.Unmarshal([]byte(tt.body), &given)
			for k, v := range given["claims"].(map[string]any) {
				if fmt.Sprint(c[k]) != fmt.Sprint(v) {
					t.Fatalf("claim %s = %v, want %v (%v)", k, c[k], v, c)
				}
			}
			for _, k := range []string{"iss", "iat", "jti", "exp"} {
				if c[k] == nil {
					t.Fatalf("no %s in %v", k, c)
				}
			}
			if c["iss"] != e.srv.URL {
				t.Fatalf("iss %v", c["iss"])
			}
		})
	}
}

// TestOpenAPIServers: the document's servers entry is the server's URL.
func TestOpenAPIServers(t *testing.T) {
	e := newEnv(t)
	code, b, _ := e.do("GET", "/openapi.yaml", "verifier", "", nil)
	want := "\nservers:\n  - url: \"" + e.srv.URL + "\"\n"
	if code != 200 || !strings.Contains(string(b), want) || strings.Contains(string(b), "url: http://127.0.0.1:8080\n") {
		t.Fatalf("/openapi.yaml: %d, servers entry not %q", code, want)
	}
}
