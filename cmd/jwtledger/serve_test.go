package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jwtledger/jwtledger"
	"github.com/jwtledger/jwtledger/internal/server"
	"github.com/jwtledger/jwtledger/trail"
)

// TestServe starts `jwtledger serve` on a free port with no configuration,
// reads the admin credentials and the address it prints, calls it, and
// stops it as SIGTERM would (context cancellation), expecting exit 0.
func TestServe(t *testing.T) {
	dir := t.TempDir()
	getenv := func(k string) string {
		if k == "JWTLEDGER_DATA_DIR" {
			return dir
		}
		return ""
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--log-level", "warn"}, strings.NewReader(""), pw, io.Discard, getenv)
		pw.Close()
	}()
	var secret, addr string
	sc := bufio.NewScanner(pr)
	for addr == "" && sc.Scan() {
		line := sc.Text()
		if m := regexp.MustCompile(`client_secret: (\S+)`).FindStringSubmatch(line); m != nil {
			secret = m[1]
		}
		if m := regexp.MustCompile(`listening on (http://\S+)`).FindStringSubmatch(line); m != nil {
			addr = m[1]
		}
	}
	go io.Copy(io.Discard, pr)
	if secret == "" || addr == "" {
		t.Fatalf("serve printed no credentials or address")
	}
	req, _ := http.NewRequest("POST", addr+"/v1/tokens", strings.NewReader(`{"sub":"alice"}`))
	req.Header.Set("Authorization", "Bearer "+secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("issue over HTTP: %d", resp.StatusCode)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("serve exited %d after shutdown", code)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop")
	}
}

// TestRemoteCLI runs issue, verify and audit query against a running server
// with --server and the client credentials from the environment twins.
func TestRemoteCLI(t *testing.T) {
	ctx := context.Background()
	l, err := jwtledger.Open(ctx, jwtledger.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	creds, _, err := l.CreateClient(ctx, jwtledger.NewClient{Name: "cli", Scopes: []string{"tokens:issue", "tokens:verify", "audit:read"}, Policy: jwtledger.ClientPolicy{Claims: []string{"role"}}}, jwtledger.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(server.New(server.Config{Ledger: l}).Handler())
	defer srv.Close()
	env := map[string]string{"JWTLEDGER_SERVER": srv.URL, "JWTLEDGER_CLIENT_SECRET": creds.Secret, "JWTLEDGER_DATA_DIR": t.TempDir()}
	cli := func(stdin string, args ...string) (int, string, string) {
		var out, errb strings.Builder
		code := run(ctx, args, strings.NewReader(stdin), &out, &errb, func(k string) string { return env[k] })
		return code, out.String(), errb.String()
	}
	code, tok, stderr := cli("", "issue", "--sub", "remote-alice", "--aud", "api", "--claim", "role=ops")
	tok = strings.TrimSpace(tok)
	if code != 0 || strings.Count(tok, ".") != 2 {
		t.Fatalf("remote issue: %d %q %s", code, tok, stderr)
	}
	if code, out, _ := cli(tok, "verify", "--aud", "api", "--output", "json"); code != 0 || !strings.Contains(out, `"role": "ops"`) {
		t.Fatalf("remote verify: %d %s", code, out)
	}
	if code, out, _ := cli("", "verify", tok[:len(tok)-4]+"AAAA"); code != 1 || !strings.HasPrefix(out, "invalid_signature: ") {
		t.Fatalf("remote verify of a forgery: %d %s", code, out)
	}
	// The same output as a local verify on the server's own ledger.
	code, remote, _ := cli("", "verify", tok)
	local := &strings.Builder{}
	lcode := run(ctx, []string{"verify", tok}, strings.NewReader(""), local, io.Discard, func(k string) string {
		return map[string]string{"JWTLEDGER_DATA_DIR": l.DataDir()}[k]
	})
	if code != 0 || lcode != 0 || remote != local.String() || !strings.Contains(remote, `sub="remote-alice" jti=`) {
		t.Fatalf("remote verify printed %q (exit %d), local %q (exit %d)", remote, code, local.String(), lcode)
	}
	code, out, _ := cli("", "audit", "query", "--sub", "remote-alice", "--output", "json")
	if code != 0 || strings.Count(out, `"event": "token.verify"`) != 4 || strings.Count(out, `"event": "token.issue"`) != 1 || !strings.Contains(out, creds.ID) {
		t.Fatalf("remote audit query: %d %s", code, out)
	}
	// The records are in the server's ledger, not in the CLI's data dir.
	if recs, _ := l.Trail().Query(ctx, trail.Filter{Sub: "remote-alice"}); len(recs) != 5 {
		t.Fatalf("server ledger has %d records", len(recs))
	}
	env["JWTLEDGER_CLIENT_SECRET"] = "jls_wrong"
	if code, _, stderr := cli("", "issue", "--sub", "x"); code != 2 || !strings.Contains(stderr, "server: invalid_token") || strings.Count(stderr, "\n") > 2 {
		t.Fatalf("wrong secret: %d %q", code, stderr)
	}
	env["JWTLEDGER_CLIENT_SECRET"] = creds.Secret
	if code, _, stderr := cli("", "issue", "--key", "k.pem", "--sub", "x"); code != 2 || !strings.Contains(stderr, "not --server") {
		t.Fatalf("--key with --server: %d %s", code, stderr)
	}
}

// TestBenchExitStatus: bench exits 1 when more requests failed than
// --max-errors allows (here every one: a wrong secret), 0 otherwise.
func TestBenchExitStatus(t *testing.T) {
	ctx := context.Background()
	l, err := jwtledger.Open(ctx, jwtledger.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	creds, _, err := l.CreateClient(ctx, jwtledger.NewClient{Name: "bench", Scopes: []string{"tokens:issue"}}, jwtledger.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(server.New(server.Config{Ledger: l}).Handler())
	defer srv.Close()
	for _, tt := range []struct {
		name, secret, maxErrors string
		want                    int
		stderr                  string
	}{
		{"all requests fail", "jls_wrong", "1%", 1, `bench: \d+ of \d+ requests failed \(100\.0%, more than --max-errors 1%\)`},
		{"all fail, all tolerated", "jls_wrong", "100", 0, `^$`},
		{"none fails", creds.Secret, "0", 0, `^$`},
		{"bad threshold", creds.Secret, "x", 2, `--max-errors must be a percentage`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb strings.Builder
			code := run(ctx, []string{"bench", "--server", srv.URL, "--client-secret", tt.secret, "--concurrency", "2", "--duration", "200ms", "--max-errors", tt.maxErrors},
				strings.NewReader(""), &out, &errb, func(string) string { return "" })
			if code != tt.want || !regexp.MustCompile(tt.stderr).MatchString(errb.String()) {
				t.Fatalf("exit %d, stderr %q; want %d matching %q (stdout %s)", code, errb.String(), tt.want, tt.stderr, out.String())
			}
		})
	}
}

// TestSelfURL: serve's default issuer is the URL it listens on.
func TestSelfURL(t *testing.T) {
	for _, tt := range []struct {
		scheme, addr, want string
	}{
		{"http", "127.0.0.1:8080", "http://127.0.0.1:8080"},
		{"https", "127.0.0.1:8443", "https://127.0.0.1:8443"},
		{"http", "0.0.0.0:8080", "http://localhost:8080"},
		{"http", "[::]:8080", "http://localhost:8080"},
		{"http", "[::1]:8080", "http://[::1]:8080"},
	} {
		addr, err := net.ResolveTCPAddr("tcp", tt.addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := selfURL(tt.scheme, addr); got != tt.want {
			t.Errorf("selfURL(%s, %s) = %s, want %s", tt.scheme, tt.addr, got, tt.want)
		}
	}
}
