package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jwtledger/jwtledger"
	"github.com/jwtledger/jwtledger/internal/clientauth"
	"github.com/jwtledger/jwtledger/internal/server"
)

// Bodies that are not what they should be get a 4xx that says what is
// wrong, and never a network address or an internal error.
func TestHostileBodies(t *testing.T) {
	e := newEnv(t)
	many := strings.Repeat("a=1&", 10001) + "grant_type=client_credentials"
	cases := []struct {
		name, path, client, ct, body string
		want                         int
		desc                         string // part of error_description
	}{
		{"form of more than 10,000 fields", "/oauth2/token", "admin", "application/x-www-form-urlencoded", many, 400, "more than the 10000 allowed"},
		{"grant_type twice", "/oauth2/token", "admin", "application/x-www-form-urlencoded", "grant_type=client_credentials&grant_type=password", 400, `"grant_type" is given 2 times`},
		{"form not a form", "/oauth2/token", "admin", "application/json", `{"grant_type":"client_credentials"}`, 415, "application/x-www-form-urlencoded"},
		{"bad escape in form", "/oauth2/token", "admin", "application/x-www-form-urlencoded", "grant_type=%zz", 400, "not a valid"},
		{"token twice at introspection", "/oauth2/introspect", "admin", "application/x-www-form-urlencoded", "token=a&token=b", 400, `"token" is given 2 times`},
		{"duplicate JSON member", "/v1/tokens", "admin", "application/json", `{"sub":"a","sub":"b"}`, 400, "duplicate member"},
		{"duplicate nested member", "/v1/tokens", "admin", "application/json", `{"sub":"a","claims":{"role":"x","role":"admin"}}`, 400, "duplicate member"},
		{"duplicate member in a revocation", "/v1/tokens/revoke", "admin", "application/json", `{"jti":"a","jti":"b"}`, 400, "duplicate member"},
		{"duplicate member in a new client", "/v1/clients", "admin", "application/json", `{"name":"a","scopes":["admin"],"scopes":["tokens:verify"]}`, 400, "duplicate member"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, b, _ := e.do("POST", c.path, c.client, c.ct, strings.NewReader(c.body))
			var out map[string]string
			json.Unmarshal(b, &out)
			if code != c.want || !strings.Contains(out["error_description"], c.desc) {
				t.Fatalf("got %d %s, want %d with %q", code, b, c.want, c.desc)
			}
		})
	}
}

// A body that stops arriving times out: the answer says so without the
// connection's addresses (which go to the log with the request id).
func TestBodyTimeoutHidesAddresses(t *testing.T) {
	e := newEnv(t)
	srv := httptest.NewUnstartedServer(server.New(server.Config{Ledger: e.l}).Handler())
	srv.Config.ReadTimeout = 300 * time.Millisecond
	srv.Start()
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := e.creds["verifier"]
	fmt.Fprintf(conn, "POST /v1/tokens/verify HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"token\":", c.Secret)
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]string
	json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode != 400 || out["error_description"] == "" || strings.Contains(out["error_description"], "127.0.0.1") || strings.Contains(out["error_description"], "tcp") {
		t.Fatalf("got %d %v, want 400 without addresses", resp.StatusCode, out)
	}
	t.Logf("answer to a body that timed out: %d %v", resp.StatusCode, out)
}

// Beyond the connection cap a connection is answered 503 at once and
// closed; once connections close, new ones are served again; idle
// keep-alive connections are closed after the idle timeout.
func TestConnectionCapAndIdleTimeout(t *testing.T) {
	e := newEnv(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := server.New(server.Config{Ledger: e.l})
	lim := srv.LimitListener(ln, 8)
	hs := &http.Server{Handler: srv.Handler(), IdleTimeout: 300 * time.Millisecond, ReadHeaderTimeout: time.Second}
	go hs.Serve(lim)
	defer hs.Close()
	addr := ln.Addr().String()
	var held []net.Conn
	for range 8 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	within(t, 5*time.Second, "8 connections open", func() bool { return lim.Open() == 8 })
	extra, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	extra.SetReadDeadline(time.Now().Add(2 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(extra), nil)
	if err != nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("connection beyond the cap: %v %v, want 503", err, resp)
	}
	extra.Close()
	for _, c := range held {
		c.Close()
	}
	within(t, 5*time.Second, "connections closed", func() bool { return lim.Open() == 0 })
	resp, err = http.Get("http://" + addr + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("after the connections closed: %v %v", err, resp)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if lim.Open() != 1 {
		t.Fatalf("%d connections open after a keep-alive request, want 1", lim.Open())
	}
	// The keep-alive connection of that request is closed once idle.
	idle := within(t, 5*time.Second, "idle keep-alive connection closed", func() bool { return lim.Open() == 0 })
	t.Logf("idle keep-alive connection closed after %s (idle timeout 300ms)", idle.Round(10*time.Millisecond))
	if lim.Rejected() != 1 {
		t.Fatalf("rejected %d connections, want 1", lim.Rejected())
	}
	// /metrics counts the rejection.
	rec := httptest.NewRecorder()
	srv.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, want := range []string{"\njwtledger_http_connections_rejected_total 1\n", "\njwtledger_http_connections_open 0\n", "# TYPE jwtledger_http_connections_rejected_total counter\n"} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Fatalf("/metrics lacks %q:\n%s", want, rec.Body)
		}
	}
}

// A client's claims list says which custom claims it may set: none without
// one, any with "*".
func TestClaimsPolicy(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for _, c := range []struct {
		name   string
		claims []string
	}{{"none", nil}, {"role only", []string{"role"}}, {"any", []string{clientauth.AnyClaim}}} {
		creds, _, err := e.l.CreateClient(ctx, jwtledger.NewClient{Name: c.name, Scopes: []string{clientauth.ScopeIssue}, Policy: jwtledger.ClientPolicy{Audiences: []string{"api"}, MaxTTL: time.Hour, Claims: c.claims}}, jwtledger.Meta{})
		if err != nil {
			t.Fatal(err)
		}
		e.creds[c.name] = creds
	}
	cases := []struct {
		client string
		claims map[string]any
		want   int
	}{
		{"none", nil, 200},
		{"none", map[string]any{"role": "admin"}, 403},
		{"role only", map[string]any{"role": "admin"}, 200},
		{"role only", map[string]any{"role": "admin", "tenant": "x"}, 403},
		{"any", map[string]any{"role": "admin", "tenant": "x"}, 200},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s %v", c.client, c.claims), func(t *testing.T) {
			body := map[string]any{"sub": "a", "aud": "api"}
			if c.claims != nil {
				body["claims"] = c.claims
			}
			if code, out := e.json("POST", "/v1/tokens", c.client, body); code != c.want {
				t.Fatalf("got %d %v, want %d", code, out, c.want)
			}
		})
	}
}
