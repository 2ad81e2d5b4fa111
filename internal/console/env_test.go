package console_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jwtledger/jwtledger"
	"github.com/jwtledger/jwtledger/internal/clientauth"
	"github.com/jwtledger/jwtledger/internal/console"
	"github.com/jwtledger/jwtledger/internal/server"
	"github.com/jwtledger/jwtledger/trail"
)

// clock is the console's settable clock (sessions expire by it).
type clock struct {
	mu sync.Mutex
	d  time.Duration
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.d)
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.d += d
	c.mu.Unlock()
}

// env is a ledger served with its console on 127.0.0.1, and clients of
// every kind.
type env struct {
	t     testing.TB
	l     *jwtledger.Ledger
	cons  *console.Console
	srv   *httptest.Server
	clock *clock
	dir   string
	creds map[string]*jwtledger.ClientCredentials
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	l, err := jwtledger.Open(ctx, jwtledger.Config{DataDir: dir, CheckpointInterval: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	e := &env{t: t, l: l, clock: &clock{}, dir: dir, creds: map[string]*jwtledger.ClientCredentials{}}
	for _, c := range []struct {
		name   string
		scopes []string
	}{
		{"admin", []string{clientauth.ScopeAdmin}},
		{"auditor", []string{clientauth.ScopeAudit}},
		{"verifier", []string{clientauth.ScopeVerify}},
	} {
		creds, _, err := l.CreateClient(ctx, jwtledger.NewClient{Name: c.name, Scopes: c.scopes}, jwtledger.Meta{})
		if err != nil {
			t.Fatal(err)
		}
		e.creds[c.name] = creds
	}
	e.cons, err = console.New(console.Config{Backend: console.FromLedger(l), Now: e.clock.now, RotateEvery: 720 * time.Hour, PrePublish: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	srv := server.New(server.Config{Ledger: l, Console: e.cons, ConsolePrefix: e.cons.Prefix()})
	e.srv = httptest.NewUnstartedServer(srv.Handler())
	e.srv.Config.RegisterOnShutdown(e.cons.Close)
	e.srv.Start()
	t.Cleanup(func() { e.cons.Close(); e.srv.Close() })
	return e
}

// api calls the HTTP API as client name with a JSON body.
func (e *env) api(method, path, name string, body any) (int, map[string]any) {
	e.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = strings.NewReader(string(b))
	}
	req, _ := http.NewRequest(method, e.srv.URL+path, r)
	req.SetBasicAuth(e.creds[name].ID, e.creds[name].Secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func (e *env) issue(sub string) string {
	e.t.Helper()
	code, out := e.api("POST", "/v1/tokens", "admin", map[string]any{"sub": sub, "aud": "api"})
	if code != 200 {
		e.t.Fatalf("issue: %d %v", code, out)
	}
	return out["token"].(string)
}

// records returns the ledger's records f selects.
func (e *env) records(f trail.Filter) []*trail.Record {
	e.t.Helper()
	recs, err := e.l.Trail().Query(context.Background(), f)
	if err != nil {
		e.t.Fatal(err)
	}
	return recs
}

// browser is a plain HTTP client with a cookie jar that behaves like a
// browser's same-origin requests (Origin and Sec-Fetch-Site on POSTs).
type browser struct {
	e    *env
	c    *http.Client
	lang string
}

func (e *env) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{e: e, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type answer struct {
	code int
	body string
	h    http.Header
}

func (b *browser) get(path string) answer {
	b.e.t.Helper()
	req, _ := http.NewRequest("GET", b.e.srv.URL+path, nil)
	if b.lang != "" {
		req.Header.Set("Accept-Language", b.lang)
	}
	return b.do(req)
}

func (b *browser) do(req *http.Request) answer {
	b.e.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, string(body), resp.Header}
}

// post submits a form as the console's own page would, with the CSRF
// token of the page at from.
func (b *browser) post(from, path string, form url.Values) answer {
	b.e.t.Helper()
	if form.Get("csrf") == "" {
		form.Set("csrf", csrfOf(b.get(from).body))
	}
	return b.postRaw(path, form, b.e.srv.URL, "same-origin")
}

func (b *browser) postRaw(path string, form url.Values, origin, fetchSite string) answer {
	b.e.t.Helper()
	req, _ := http.NewRequest("POST", b.e.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	if fetchSite != "" {
		req.Header.Set("Sec-Fetch-Site", fetchSite)
	}
	return b.do(req)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(page string) string {
	if m := csrfRE.FindStringSubmatch(page); m != nil {
		return m[1]
	}
	return ""
}

func (b *browser) signIn(name string) answer {
	b.e.t.Helper()
	c := b.e.creds[name]
	return b.post("/console/login", "/console/login", url.Values{"client_id": {c.ID}, "client_secret": {c.Secret}})
}
