package console_test

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"

	"github.com/jwtledger/jwtledger"
	"github.com/jwtledger/jwtledger/auditor"
	"github.com/jwtledger/jwtledger/internal/console"
	"github.com/jwtledger/jwtledger/internal/server"
	"github.com/jwtledger/jwtledger/trail"
)

func TestSignIn(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name       string
		id, secret string
		code       int
		reason     string // of the auth.denied record; "" for a session
	}{
		{"admin", e.creds["admin"].ID, e.creds["admin"].Secret, http.StatusSeeOther, ""},
		{"auditor", e.creds["auditor"].ID, e.creds["auditor"].Secret, http.StatusSeeOther, ""},
		{"verify-only client", e.creds["verifier"].ID, e.creds["verifier"].Secret, http.StatusUnauthorized, "console sign-in: scope audit:read required"},
		{"wrong secret", e.creds["admin"].ID, "jls_wrong", http.StatusUnauthorized, "console sign-in: invalid credentials"},
		{"secret of another client", e.creds["admin"].ID, e.creds["auditor"].Secret, http.StatusUnauthorized, "console sign-in: invalid credentials"},
		{"no id", "", e.creds["admin"].Secret, http.StatusUnauthorized, "console sign-in: invalid credentials"},
		{"no secret", e.creds["admin"].ID, "", http.StatusUnauthorized, "console sign-in: missing credentials"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := e.browser()
			before := len(e.records(trail.Filter{Event: "auth.denied"}))
			a := b.post("/console/login", "/console/login", url.Values{"client_id": {tc.id}, "client_secret": {tc.secret}})
			if a.code != tc.code {
				t.Fatalf("sign-in answered %d, want %d", a.code, tc.code)
			}
			denied := e.records(trail.Filter{Event: "auth.denied"})
			if tc.reason == "" {
				if len(denied) != before {
					t.Fatalf("a good sign-in recorded auth.denied")
				}
				if got := b.get("/console/"); got.code != 200 || !strings.Contains(got.body, `id="issued"`) {
					t.Fatalf("overview after sign-in: %d", got.code)
				}
				ck := a.h.Values("Set-Cookie")
				if !slices(ck, "jwtledger_session=", "HttpOnly", "SameSite=Strict", "Path=/console/") || slices(ck, "jwtledger_session=", "Secure") {
					t.Fatalf("session cookie %q", ck)
				}
				return
			}
			if len(denied) != before+1 || denied[len(denied)-1].Reason != tc.reason {
				t.Fatalf("auth.denied records %v, want one with reason %q", denied[before:], tc.reason)
			}
			if got := b.get("/console/"); got.code != http.StatusSeeOther {
				t.Fatalf("overview without a session: %d", got.code)
			}
		})
	}
	// No secret in any record, and console.login for each session.
	for _, r := range e.records(trail.Filter{}) {
		j, _ := json.Marshal(r)
		for _, c := range e.creds {
			if strings.Contains(string(j), c.Secret) {
				t.Fatalf("a record holds a secret: %s", j)
			}
		}
	}
	if n := len(e.records(trail.Filter{Event: "console.login"})); n != 2 {
		t.Fatalf("%d console.login records, want 2", n)
	}
}

// slices reports whether one of the cookies starts with name and has every attribute.
func slices(cookies []string, name string, attrs ...string) bool {
	for _, c := range cookies {
		if !strings.HasPrefix(c, name) {
			continue
		}
		for _, a := range attrs {
			if !strings.Contains(c, a) {
				return false
			}
		}
		return true
	}
	return false
}

func TestSecureCookieBehindTLSProxy(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	tok := csrfOf(b.get("/console/login").body)
	form := url.Values{"csrf": {tok}, "client_id": {e.creds["admin"].ID}, "client_secret": {e.creds["admin"].Secret}}
	req, _ := http.NewRequest("POST", e.srv.URL+"/console/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-Proto", "https")
	a := b.do(req)
	if a.code != http.StatusSeeOther || !slices(a.h.Values("Set-Cookie"), "jwtledger_session=", "Secure") {
		t.Fatalf("behind an HTTPS proxy: %d, cookies %q", a.code, a.h.Values("Set-Cookie"))
	}
}

func TestScopes(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.signIn("auditor")
	for _, p := range []string{"/console/", "/console/audit", "/console/integrity", "/console/debugger"} {
		if a := b.get(p); a.code != 200 {
			t.Errorf("auditor GET %s: %d", p, a.code)
		}
	}
	for _, p := range []string{"/console/keys", "/console/clients"} {
		if a := b.get(p); a.code != http.StatusForbidden || !strings.Contains(a.body, "admin") {
			t.Errorf("auditor GET %s: %d", p, a.code)
		}
	}
	if a := b.post("/console/integrity", "/console/integrity/verify", url.Values{}); a.code != http.StatusForbidden {
		t.Errorf("auditor starts a verification: %d", a.code)
	}
	// The debugger decodes, but the verdict needs tokens:verify, as in the API.
	tok := e.issue("erin")
	a := b.post("/console/debugger", "/console/debugger", url.Values{"token": {tok}})
	if a.code != http.StatusForbidden || !strings.Contains(a.body, "tokens:verify") || !strings.Contains(a.body, "erin") {
		t.Fatalf("auditor's debugger: %d", a.code)
	}
	if recs := e.records(trail.Filter{Event: "token.verify", Sub: "erin"}); len(recs) != 0 {
		t.Fatal("the debugger verified for a client without tokens:verify")
	}
	denied := e.records(trail.Filter{Event: "auth.denied", Actor: e.creds["auditor"].ID})
	if len(denied) != 4 {
		t.Fatalf("auth.denied records of the auditor: %d, want 4", len(denied))
	}
	// A client deleted while signed in loses its session at once.
	if err := e.l.DeleteClient(context.Background(), e.creds["auditor"].ID, jwtledger.Meta{}); err != nil {
		t.Fatal(err)
	}
	if a := b.get("/console/"); a.code != http.StatusUnauthorized {
		t.Fatalf("deleted client's session: %d", a.code)
	}
}

func TestCSRF(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.signIn("admin")
	keys := func() int {
		ks, _ := e.l.Keys(context.Background())
		return len(ks)
	}
	tok := csrfOf(b.get("/console/keys").body)
	// The token with its first character changed (to another one whatever
	// it was: "x" + tok[1:] was the token itself for one token in 64).
	wrong := "x" + tok[1:]
	if tok[0] == 'x' {
		wrong = "y" + tok[1:]
	}
	tests := []struct {
		name          string
		form          url.Values
		origin, fetch string
		code          int
	}{
		{"no token", url.Values{}, e.srv.URL, "same-origin", http.StatusForbidden},
		{"wrong token", url.Values{"csrf": {wrong}}, e.srv.URL, "same-origin", http.StatusForbidden},
		{"cross-site fetch", url.Values{"csrf": {tok}}, "http://evil.example", "cross-site", http.StatusForbidden},
		{"same-site other origin", url.Values{"csrf": {tok}}, "http://127.0.0.1:1", "same-site", http.StatusForbidden},
		{"other Origin, no Sec-Fetch-Site", url.Values{"csrf": {tok}}, "http://evil.example", "", http.StatusForbidden},
		{"same origin", url.Values{"csrf": {tok}}, e.srv.URL, "same-origin", http.StatusOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := keys()
			a := b.postRaw("/console/keys/rotate", tc.form, tc.origin, tc.fetch)
			if a.code != tc.code {
				t.Fatalf("answered %d, want %d", a.code, tc.code)
			}
			if rotated := keys() - before; (tc.code == 200) != (rotated == 1) {
				t.Fatalf("%d keys made", rotated)
			}
		})
	}
	if n := len(e.records(trail.Filter{Event: "auth.denied"})); n != 5 {
		t.Fatalf("%d auth.denied records, want 5", n)
	}
	// The sign-in form has its own token.
	if a := b.postRaw("/console/login", url.Values{"client_id": {e.creds["admin"].ID}, "client_secret": {e.creds["admin"].Secret}}, e.srv.URL, "same-origin"); a.code != http.StatusForbidden {
		t.Fatalf("sign-in without the form's token: %d", a.code)
	}
}

func TestSessionExpiry(t *testing.T) {
	e := newEnv(t)
	t.Run("idle", func(t *testing.T) {
		b := e.browser()
		b.signIn("admin")
		e.clock.advance(29 * time.Minute)
		if a := b.get("/console/"); a.code != 200 {
			t.Fatalf("after 29 idle minutes: %d", a.code)
		}
		e.clock.advance(30 * time.Minute)
		if a := b.get("/console/"); a.code != http.StatusSeeOther {
			t.Fatalf("after 30 idle minutes: %d", a.code)
		}
	})
	t.Run("absolute", func(t *testing.T) {
		b := e.browser()
		b.signIn("admin")
		for range 23 { // 23 × 20 min = 7 h 40 min of use
			e.clock.advance(20 * time.Minute)
			if a := b.get("/console/audit"); a.code != 200 {
				t.Fatalf("in use: %d", a.code)
			}
		}
		e.clock.advance(20 * time.Minute)
		if a := b.get("/console/audit"); a.code != http.StatusSeeOther {
			t.Fatalf("after 8 h: %d", a.code)
		}
	})
	t.Run("sign out ends it", func(t *testing.T) {
		b := e.browser()
		b.signIn("admin")
		sid := ""
		u, _ := url.Parse(e.srv.URL + "/console/")
		for _, c := range b.c.Jar.Cookies(u) {
			if c.Name == "jwtledger_session" {
				sid = c.Value
			}
		}
		if a := b.post("/console/", "/console/logout", url.Values{}); a.code != http.StatusSeeOther {
			t.Fatalf("sign out: %d", a.code)
		}
		// The old id is dead even if a copy of the cookie is replayed.
		req, _ := http.NewRequest("GET", e.srv.URL+"/console/", nil)
		req.AddCookie(&http.Cookie{Name: "jwtledger_session", Value: sid})
		if resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req); err != nil || resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("replayed session cookie: %v %v", resp.StatusCode, err)
		}
	})
}

func TestSignInRateLimit(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	bad := url.Values{"client_id": {e.creds["admin"].ID}, "client_secret": {"jls_guess"}}
	for i := range 10 {
		if a := b.post("/console/login", "/console/login", bad); a.code != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d", i+1, a.code)
		}
	}
	a := b.signIn("admin")
	if a.code != http.StatusTooManyRequests || a.h.Get("Retry-After") == "" {
		t.Fatalf("after 10 failures: %d, Retry-After %q", a.code, a.h.Get("Retry-After"))
	}
	e.clock.advance(5 * time.Minute)
	if a := b.signIn("admin"); a.code != http.StatusSeeOther {
		t.Fatalf("after the window: %d", a.code)
	}
}

func TestSecurityHeaders(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.signIn("admin")
	for _, p := range []string{"/console/login", "/console/", "/console/audit", "/console/static/console.js", "/console/static/console.css", "/console/nope"} {
		a := b.get(p)
		csp := a.h.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "form-action 'self'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %q", p, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe") {
			t.Errorf("%s: CSP %q", p, csp)
		}
		if a.h.Get("X-Content-Type-Options") != "nosniff" || a.h.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("%s: headers %v", p, a.h)
		}
		if strings.HasPrefix(a.h.Get("Content-Type"), "text/html") && a.h.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: a page may be cached", p)
		}
	}
	// No inline script or style anywhere (the CSP would block them).
	for _, p := range []string{"/console/login", "/console/", "/console/audit", "/console/integrity", "/console/debugger", "/console/keys", "/console/clients"} {
		body := b.get(p).body
		if regexp.MustCompile(`<script>|<script [^>]*>[^<]|\sstyle=|<style|\son[a-z]+="`).MatchString(strings.ReplaceAll(body, `<script type="application/json" id="messages">`, "")) {
			t.Errorf("%s has inline script or style", p)
		}
	}
}

func TestPrefix(t *testing.T) {
	ctx := context.Background()
	l, err := jwtledger.Open(ctx, jwtledger.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cons, err := console.New(console.Config{Backend: console.FromLedger(l), Prefix: "/ops/ledger/"})
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	h := server.New(server.Config{Ledger: l, Console: cons, ConsolePrefix: cons.Prefix()}).Handler()
	rec := func(path string) (int, string, http.Header) {
		w := &recorder{h: http.Header{}}
		h.ServeHTTP(w, (&http.Request{Method: "GET", URL: &url.URL{Path: path}, Header: http.Header{}, RemoteAddr: "127.0.0.1:1", Host: "x"}).WithContext(ctx))
		return w.code, w.body.String(), w.h
	}
	if code, _, hd := rec("/"); code != http.StatusFound || hd.Get("Location") != "/ops/ledger/" {
		t.Fatalf("GET /: %d %s", code, hd.Get("Location"))
	}
	code, body, _ := rec("/ops/ledger/login")
	if code != 200 || !strings.Contains(body, `action="/ops/ledger/login"`) || !strings.Contains(body, `href="/ops/ledger/static/console.css`) {
		t.Fatalf("login page under the prefix: %d", code)
	}
	if code, _, _ := rec("/console/login"); code != http.StatusNotFound {
		t.Fatalf("the default prefix still answers: %d", code)
	}
	for _, bad := range []string{"/", "/a b", "/x?y"} {
		if _, err := console.New(console.Config{Backend: console.FromLedger(l), Prefix: bad}); err == nil {
			t.Errorf("prefix %q accepted", bad)
		}
	}
	// Without a console, GET / stays the API's JSON 404.
	off := server.New(server.Config{Ledger: l}).Handler()
	w := &recorder{h: http.Header{}}
	off.ServeHTTP(w, (&http.Request{Method: "GET", URL: &url.URL{Path: "/"}, Header: http.Header{}}).WithContext(ctx))
	if w.code != http.StatusNotFound || !strings.Contains(w.body.String(), "not_found") {
		t.Fatalf("GET / without a console: %d %s", w.code, w.body.String())
	}
}

type recorder struct {
	h    http.Header
	code int
	body bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.h }
func (r *recorder) WriteHeader(c int) {
	if r.code == 0 {
		r.code = c
	}
}
func (r *recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = 200
	}
	return r.body.Write(b)
}

// TestVerifyShowsDamage tampers with a stored record; the verification the
// integrity page runs reports it, linked to the record.
func TestVerifyShowsDamage(t *testing.T) {
	e := newEnv(t)
	for i := range 20 {
		e.issue(fmt.Sprint("user-", i))
	}
	ctx := context.Background()
	if _, err := e.l.Trail().Checkpoint(ctx, trail.Meta{}); err != nil {
		t.Fatal(err)
	}
	rec := e.records(trail.Filter{Sub: "user-7"})[0]
	db, err := sql.Open("sqlite3", filepath.Join(e.dir, "jwtledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("UPDATE audit SET body = CAST(replace(CAST(body AS TEXT), 'user-7', 'user-X') AS BLOB) WHERE chain = ? AND seq = ?", rec.Chain, rec.Seq); err != nil {
		t.Fatal(err)
	}
	db.Close()
	b := e.browser()
	b.signIn("admin")
	if a := b.post("/console/integrity", "/console/integrity/verify", url.Values{}); a.code != http.StatusSeeOther {
		t.Fatalf("start verify: %d", a.code)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var st struct{ Running bool }
		json.Unmarshal([]byte(b.get("/console/integrity/status").body), &st)
		if !st.Running {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("verification still running after 10 s")
		}
	}
	page := b.get("/console/integrity").body
	link := fmt.Sprintf(`href="/console/record/%s/%d"`, rec.Chain, rec.Seq)
	if !strings.Contains(page, `id="verify-bad"`) || !strings.Contains(page, ">modified<") || !strings.Contains(page, link) {
		t.Fatalf("integrity page after the verification lacks the damage (%s)", link)
	}
}

// TestExportVerifiesOffline: the export of a filter holds that filter's
// records in full and still verifies offline.
func TestExportVerifiesOffline(t *testing.T) {
	e := newEnv(t)
	for i := range 6 {
		e.issue(fmt.Sprint("f-", i%2))
	}
	if _, err := e.l.Trail().Checkpoint(context.Background(), trail.Meta{}); err != nil {
		t.Fatal(err)
	}
	b := e.browser()
	b.signIn("admin")
	a := b.get("/console/audit/export?format=jsonl&sub=f-1")
	if a.code != 200 || !strings.Contains(a.h.Get("Content-Disposition"), "attachment") {
		t.Fatalf("export: %d", a.code)
	}
	full := 0
	sc := bufio.NewScanner(strings.NewReader(a.body))
	for sc.Scan() {
		var line struct {
			Type   string
			Record *string
		}
		json.Unmarshal(sc.Bytes(), &line)
		if line.Type == "record" && line.Record != nil {
			full++
			if !strings.Contains(*line.Record, `"sub":"f-1"`) {
				t.Fatalf("exported in full: %s", *line.Record)
			}
		}
	}
	if full != 3 {
		t.Fatalf("%d records in full, want 3", full)
	}
	rep, err := auditor.VerifyExport(strings.NewReader(a.body), e.l.Trail().VerifierKey(), auditor.VerifyOptions{})
	if err != nil || !rep.OK {
		t.Fatalf("offline verification of the export: %+v, %v", rep, err)
	}
	if a := b.get("/console/audit/export?format=csv&event=token.issue"); a.code != 200 || !strings.HasPrefix(a.h.Get("Content-Type"), "text/csv") {
		t.Fatalf("csv export: %d", a.code)
	}
	if a := b.get("/console/audit/export?format=xml"); a.code != http.StatusBadRequest {
		t.Fatalf("xml export: %d", a.code)
	}
}

// TestLiveTail reads the event stream as EventSource would: a record
// committed after the cursor arrives, filtered.
func TestLiveTail(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.signIn("admin")
	newest := e.records(trail.Filter{Newest: true, Limit: 1})[0].ID
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("%s/console/audit/tail?event=token.issue&after=%d", e.srv.URL, newest), nil)
	resp, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("tail: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	events := make(chan string, 10)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				events <- d
			}
		}
		close(events)
	}()
	tok := e.issue("tail-frank")
	e.api("POST", "/v1/tokens/verify", "admin", map[string]any{"token": tok}) // not a token.issue: filtered out
	start := time.Now()
	e.issue("tail-grace")
	var subs []string
	for len(subs) < 2 {
		select {
		case d := <-events:
			var r struct{ Sub, Event string }
			json.Unmarshal([]byte(d), &r)
			if r.Event != "token.issue" {
				t.Fatalf("the filtered tail sent %s", d)
			}
			subs = append(subs, r.Sub)
		case <-time.After(time.Second):
			t.Fatalf("no record within 1 s (got %v)", subs)
		}
	}
	t.Logf("live tail: %v from commit to event", time.Since(start))
	if subs[0] != "tail-frank" || subs[1] != "tail-grace" {
		t.Fatalf("tail sent %v", subs)
	}
}

// TestCatalogue: every message the pages and the script use is in both
// languages, and the templates hold no text of their own.
func TestCatalogue(t *testing.T) {
	cat := map[string]map[string]string{}
	for _, lang := range console.Languages {
		b, err := os.ReadFile("messages/" + lang + ".json")
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]string{}
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		cat[lang] = m
	}
	for k := range cat["en"] {
		if cat["ko"][k] == "" {
			t.Errorf("%s has no Korean", k)
		}
	}
	for k := range cat["ko"] {
		if cat["en"][k] == "" {
			t.Errorf("%s has no English", k)
		}
	}
	used := regexp.MustCompile(`\.T "([a-z0-9_.]+)"|t\("(js\.[a-z.]+)"`)
	action := regexp.MustCompile(`\{\{[^}]*\}\}`)
	tag := regexp.MustCompile(`<[^>]*>`)
	word := regexp.MustCompile(`[\p{L}]{3,}`)
	allowed := map[string]bool{"client_id": true, "client_secret": true, "aud": true, "max_ttl": true, "claims": true, "token_scopes": true, "jwtledger": true}
	fs.WalkDir(os.DirFS("."), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !(strings.HasPrefix(p, "templates/") || p == "static/console.js") {
			return err
		}
		b, _ := os.ReadFile(p)
		for _, m := range used.FindAllStringSubmatch(string(b), -1) {
			k := m[1] + m[2]
			if strings.HasSuffix(k, ".") {
				if !hasPrefix(cat["en"], k) {
					t.Errorf("%s uses keys %s*, which the catalogue lacks", p, k)
				}
				continue
			}
			if cat["en"][k] == "" {
				t.Errorf("%s uses %s, which the catalogue lacks", p, k)
			}
		}
		if strings.HasPrefix(p, "templates/") {
			rest := tag.ReplaceAllString(action.ReplaceAllString(string(b), " "), " ")
			for _, w := range word.FindAllString(strings.ReplaceAll(rest, "&amp;", ""), -1) {
				if !allowed[w] && !allowed[strings.ToLower(w)] && !strings.Contains("client_id client_secret max_ttl token_scopes", w) {
					t.Errorf("%s has its own text %q (put it in the catalogue)", p, w)
				}
			}
		}
		return nil
	})
}

func hasPrefix(m map[string]string, prefix string) bool {
	for k := range m {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return false
}
