package baseline_test

import (
	"bufio"
	"bytes"
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"

	"github.com/jwtledger/jwtledger/internal/baseline"
)

// service starts a baseline behind an HTTP test server.
func service(t *testing.T, cfg baseline.Config) (*baseline.Service, *httptest.Server) {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	s, err := baseline.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		srv.Close()
		s.Close()
	})
	return s, srv
}

// post sends body to path with auth as the Bearer secret (none if empty)
// and returns the status, the decoded JSON answer and the headers.
func post(t *testing.T, srv *httptest.Server, method, path, auth, body string) (int, map[string]any, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if resp.Header.Get("Content-Type") == "application/json" {
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatalf("%s %s: answer %q is not JSON: %v", method, path, b, err)
		}
	}
	return resp.StatusCode, out, resp.Header
}

func issue(t *testing.T, s *baseline.Service, srv *httptest.Server, body string) string {
	t.Helper()
	code, out, _ := post(t, srv, "POST", "/v1/tokens", s.Secret(), body)
	tok, _ := out["token"].(string)
	if code != 200 || tok == "" {
		t.Fatalf("issue %s: %d %v", body, code, out)
	}
	return tok
}

func TestIssueVerify(t *testing.T) {
	for _, tc := range []struct {
		mode baseline.Mode
		alg  string
	}{
		{mode: baseline.ModeA, alg: "ES256"},
		{mode: baseline.ModeA, alg: "HS256"},
		{mode: baseline.ModeD, alg: "ES256"},
		{mode: baseline.ModeD, alg: "HS256"},
	} {
		t.Run(string(tc.mode)+"/"+tc.alg, func(t *testing.T) {
			s, srv := service(t, baseline.Config{Mode: tc.mode, Alg: tc.alg})
			code, out, _ := post(t, srv, "POST", "/v1/tokens", s.Secret(), `{"sub":"alice","aud":"api"}`)
			if code != 200 {
				t.Fatalf("issue: %d %v", code, out)
			}
			for _, m := range []string{"token", "token_type", "expires_at", "jti", "kid"} {
				if _, ok := out[m].(string); !ok {
					t.Errorf("issue answer %v lacks the string member %q", out, m)
				}
			}
			code, v, _ := post(t, srv, "POST", "/v1/tokens/verify", s.Secret(), `{"token":"`+out["token"].(string)+`","aud":"api"}`)
			if code != 200 || v["valid"] != true || v["outcome"] != "valid" {
				t.Fatalf("verify: %d %v, want 200 valid", code, v)
			}
			claims, _ := v["claims"].(map[string]any)
			header, _ := v["header"].(map[string]any)
			if claims["sub"] != "alice" || claims["jti"] != out["jti"] || header["alg"] != tc.alg || header["kid"] != out["kid"] {
				t.Errorf("verdict %v does not show the issued token (issue answer %v)", v, out)
			}
		})
	}
}

func TestRefusals(t *testing.T) {
	now := time.Now()
	clock := func() time.Time { return now }
	s, srv := service(t, baseline.Config{Mode: baseline.ModeA, Now: clock})
	tok := issue(t, s, srv, `{"sub":"bob"}`)
	hs, hsSrv := service(t, baseline.Config{Alg: "HS256"})
	hsTok := issue(t, hs, hsSrv, `{"sub":"bob"}`)
	other, otherSrv := service(t, baseline.Config{})
	otherTok := issue(t, other, otherSrv, `{"sub":"bob"}`)
	dot := strings.LastIndexByte(tok, '.')
	tampered := tok[:dot+1] + "A" + tok[dot+2:]
	if tampered == tok {
		tampered = tok[:dot+1] + "B" + tok[dot+2:]
	}
	for _, tc := range []struct {
		name, method, path, auth, body string
		code                           int
		outcome                        string // for verdicts
		errName                        string // for errors
	}{
		{name: "no credentials", method: "POST", path: "/v1/tokens", body: `{"sub":"x"}`, code: 401, errName: "invalid_token"},
		{name: "wrong secret", method: "POST", path: "/v1/tokens", auth: "not-the-secret", body: `{"sub":"x"}`, code: 401, errName: "invalid_token"},
		{name: "wrong secret on verify", method: "POST", path: "/v1/tokens/verify", auth: "x", body: `{"token":"` + tok + `"}`, code: 401, errName: "invalid_token"},
		{name: "not JSON", method: "POST", path: "/v1/tokens", auth: s.Secret(), body: `sub=x`, code: 400, errName: "invalid_request"},
		{name: "unknown member", method: "POST", path: "/v1/tokens", auth: s.Secret(), body: `{"sub":"x","role":"admin"}`, code: 400, errName: "invalid_request"},
		{name: "data after the object", method: "POST", path: "/v1/tokens", auth: s.Secret(), body: `{"sub":"x"}{}`, code: 400, errName: "invalid_request"},
		{name: "too large", method: "POST", path: "/v1/tokens", auth: s.Secret(), body: `{"sub":"` + strings.Repeat("x", baseline.MaxBodyBytes) + `"}`, code: 413, errName: "invalid_request"},
		{name: "no token", method: "POST", path: "/v1/tokens/verify", auth: s.Secret(), body: `{}`, code: 400, errName: "invalid_request"},
		{name: "GET", method: "GET", path: "/v1/tokens", auth: s.Secret(), code: 405},
		{name: "valid", method: "POST", path: "/v1/tokens/verify", auth: s.Secret(), body: `{"token":"` + tok + `"}`, code: 200, outcome: "valid"},
		{name: "tampered", method: "POST", path: "/v1/tokens/verify", auth: s.Secret(), body: `{"token":"` + tampered + `"}`, code: 200, outcome: "invalid_signature"},
		{name: "other key", method: "POST", path: "/v1/tokens/verify", auth: s.Secret(), body: `{"token":"` + otherTok + `"}`, code: 200, outcome: "invalid_signature"},
		{name: "HS256 to an ES256 key", method: "POST", path: "/v1/tokens/verify", auth: s.Secret(), body: `{"token":"` + hsTok + `"}`, code: 200, outcome: "invalid_signature"},
		{name: "garbage", method: "POST", path: "/v1/tokens/verify", auth: s.Secret(), body: `{"token":"a.b"}`, code: 200, outcome: "malformed"},
		{name: "issuer", method: "POST", path: "/v1/tokens/verify", auth: s.Secret(), body: `{"token":"` + tok + `","iss":"other"}`, code: 200, outcome: "invalid_claims"},
		{name: "audience", method: "POST", path: "/v1/tokens/verify", auth: s.Secret(), body: `{"token":"` + tok + `","aud":"api"}`, code: 200, outcome: "invalid_claims"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, h := post(t, srv, tc.method, tc.path, tc.auth, tc.body)
			if code != tc.code {
				t.Fatalf("%s %s %.80s: status %d, want %d (%v)", tc.method, tc.path, tc.body, code, tc.code, out)
			}
			if tc.errName != "" && out["error"] != tc.errName {
				t.Errorf("error %v, want %q", out, tc.errName)
			}
			if code == 401 && h.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
			if tc.outcome != "" && (out["outcome"] != tc.outcome || out["valid"] != (tc.outcome == "valid")) {
				t.Errorf("verdict %v, want outcome %q", out, tc.outcome)
			}
			if tc.outcome != "" && tc.outcome != "valid" {
				if r, _ := out["reason"].(string); r == "" {
					t.Errorf("verdict %v has no reason", out)
				}
			}
		})
	}
	t.Run("expired", func(t *testing.T) {
		now = now.Add(time.Hour + baseline.Leeway + time.Second)
		code, out, _ := post(t, srv, "POST", "/v1/tokens/verify", s.Secret(), `{"token":"`+tok+`"}`)
		claims, _ := out["claims"].(map[string]any)
		if code != 200 || out["outcome"] != "expired" || claims["sub"] != "bob" {
			t.Errorf("verify after expiry: %d %v, want expired with the claims", code, out)
		}
	})
}

func TestNew(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  baseline.Config
	}{
		{name: "no directory", cfg: baseline.Config{}},
		{name: "unknown mode", cfg: baseline.Config{Mode: "B", Dir: t.TempDir()}},
		{name: "unknown alg", cfg: baseline.Config{Alg: "none", Dir: t.TempDir()}},
		{name: "RS256", cfg: baseline.Config{Alg: "RS256", Dir: t.TempDir()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if s, err := baseline.New(tc.cfg); err == nil {
				s.Close()
				t.Errorf("New(%+v) succeeded, want an error", tc.cfg)
			}
		})
	}
	for _, tc := range []struct {
		in   string
		want baseline.Mode
		ok   bool
	}{{in: "A", want: baseline.ModeA, ok: true}, {in: "d", want: baseline.ModeD, ok: true}, {in: "C"}, {in: ""}} {
		got, err := baseline.ParseMode(tc.in)
		if got != tc.want || (err == nil) != tc.ok {
			t.Errorf("ParseMode(%q) = %q, %v; want %q, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

// TestDurable checks ModeD's promise: every answered request has its row
// committed when the answer arrives, under concurrency; and after Close,
// nothing is answered 200.
func TestDurable(t *testing.T) {
	dir := t.TempDir()
	s, err := baseline.New(baseline.Config{Mode: baseline.ModeD, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, "baseline.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows := func() int {
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM records`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	const workers, each = 16, 20
	var mu sync.Mutex
	acked := 0
	var tokens []string
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				code, out, _ := post(t, srv, "POST", "/v1/tokens", s.Secret(), `{"sub":"carol"}`)
				if code != 200 {
					t.Errorf("issue: %d %v", code, out)
					return
				}
				mu.Lock()
				acked++
				tokens = append(tokens, out["token"].(string))
				// The rows committed now include at least every answer so far.
				if n := rows(); n < acked {
					t.Errorf("%d answers but %d committed rows", acked, n)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if n := rows(); n != workers*each {
		t.Errorf("%d rows after %d answers, want equal", n, workers*each)
	}
	if code, out, _ := post(t, srv, "POST", "/v1/tokens", s.Secret(), `{"sub":"carol"}`); code != 503 {
		t.Errorf("issue after Close: %d %v, want 503", code, out)
	}
	if n := rows(); n != workers*each {
		t.Errorf("%d rows after a refused request, want %d", n, workers*each)
	}
	// Neither the rows nor the log lines hold a token or the secret.
	var bodies bytes.Buffer
	r, err := db.Query(`SELECT body FROM records`)
	if err != nil {
		t.Fatal(err)
	}
	for r.Next() {
		var b string
		r.Scan(&b)
		bodies.WriteString(b + "\n")
	}
	r.Close()
	logText, err := os.ReadFile(filepath.Join(dir, "baseline.log"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range tokens[:3] {
		for name, text := range map[string][]byte{"rows": bodies.Bytes(), "log": logText} {
			if bytes.Contains(text, []byte(tok)) || bytes.Contains(text, []byte(s.Secret())) {
				t.Errorf("the %s hold a token or the secret", name)
			}
		}
	}
}

// TestLogLines checks one JSON log line per request, refusals included.
func TestLogLines(t *testing.T) {
	dir := t.TempDir()
	s, srv := service(t, baseline.Config{Dir: dir})
	tok := issue(t, s, srv, `{"sub":"dave"}`)
	post(t, srv, "POST", "/v1/tokens/verify", s.Secret(), `{"token":"`+tok+`"}`)
	post(t, srv, "POST", "/v1/tokens", "", `{"sub":"x"}`)
	f, err := os.Open(filepath.Join(dir, "baseline.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var got []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var line struct{ Msg, Outcome string }
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		got = append(got, line.Msg+" "+line.Outcome)
	}
	want := []string{"token.issue ok", "token.verify valid", "auth.denied denied"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("log lines %q, want %q", got, want)
	}
}
