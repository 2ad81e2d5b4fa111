// Package interop runs client libraries that jwtledger did not write
// against the real binary: `jwtledger serve` started with nothing but
// --addr and --data-dir, as a new user starts it. The npm packages
// oauth4webapi, openid-client, jose and @apidevtools/swagger-parser (pinned
// in package-lock.json, installed with npm ci), Go's
// golang.org/x/oauth2/clientcredentials and Debian's python3-jwt.
//
// Outside CI a missing node, npm or python3-jwt skips the tests that need
// it, saying so; with CI=true (as .ci/run runs) it fails them.
package interop_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/jwtledger/jwtledger/internal/poll"
	"github.com/jwtledger/jwtledger/internal/store/pgtest"
)

// binary is the jwtledger binary built once by TestMain.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "jwtledger-interop-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "jwtledger")
	build := exec.Command("go", "build", "-o", binary, "./cmd/jwtledger")
	build.Dir = repoRoot()
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build jwtledger:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func repoRoot() string {
	abs, _ := filepath.Abs("../..")
	return abs
}

// need finds a tool the test needs: in CI its absence fails the test,
// elsewhere it skips it with the reason.
func need(t *testing.T, what string, found bool, hint string) {
	t.Helper()
	if found {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is missing (CI=true: interop tests must run): %s", what, hint)
	}
	t.Skipf("%s is missing: %s (CI fails instead of skipping)", what, hint)
}

func haveCommand(name string) bool {
	_, err := exec.LookPath(name)
	return err == nil
}

// nodeModules makes sure test/interop/node_modules matches package-lock.json.
var nodeModules = sync.OnceValue(func() error {
	if _, err := os.Stat("node_modules/.package-lock.json"); err == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund").CombinedOutput()
	if err != nil {
		return fmt.Errorf("npm ci: %v: %s", err, out)
	}
	return nil
})

func needNode(t *testing.T) {
	t.Helper()
	need(t, "node and npm", haveCommand("node") && haveCommand("npm"), "install nodejs and npm (Debian: apt-get install nodejs npm)")
	if err := nodeModules(); err != nil {
		t.Fatal(err)
	}
}

// debianPython is Debian's interpreter, which has python3-jwt (another
// python3 may come first on PATH).
const debianPython = "/usr/bin/python3"

func needPyJWT(t *testing.T) {
	t.Helper()
	err := exec.Command(debianPython, "-c", "import jwt").Run()
	need(t, "python3-jwt", err == nil, "apt-get install python3-jwt (for "+debianPython+")")
}

// childEnv is a clean environment for the binary: a HOME of its own and
// no JWTLEDGER_* settings of the caller, plus extra.
func childEnv(t *testing.T, extra ...string) []string {
	env := []string{"HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}
	return append(env, extra...)
}

// jwtledger runs the binary to completion and returns stdout; a non-zero
// exit fails the test.
func jwtledger(t *testing.T, env []string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("jwtledger %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

// serve is a running `jwtledger serve` process.
type serve struct {
	url                  string // its issuer, as printed
	adminID, adminSecret string // when it created the admin client
	stderr               *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

var (
	listeningRE = regexp.MustCompile(`listening on (\S+) \(issuer (\S+),`)
	idRE        = regexp.MustCompile(`client_id: +(\S+)`)
	secretRE    = regexp.MustCompile(`client_secret: +(\S+)`)
)

// startServe starts `jwtledger serve --addr 127.0.0.1:PORT` plus args,
// waits for it to listen, and stops it with SIGTERM (expecting exit 0)
// when the test ends.
func startServe(t *testing.T, env []string, args ...string) *serve {
	t.Helper()
	port := freePort(t)
	cmd := exec.Command(binary, append([]string{"serve", "--addr", "127.0.0.1:" + strconv.Itoa(port), "--log-level", "warn"}, args...)...)
	cmd.Env = env
	s := &serve{stderr: &syncBuffer{}}
	cmd.Stderr = s.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("serve exited with %v after SIGTERM\n%s", err, s.stderr.String())
			}
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			t.Errorf("serve did not stop within 20s of SIGTERM")
		}
	})
	deadline := time.After(60 * time.Second)
	for s.url == "" {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("serve stopped before listening:\n%s", s.stderr.String())
			}
			if m := idRE.FindStringSubmatch(line); m != nil {
				s.adminID = m[1]
			}
			if m := secretRE.FindStringSubmatch(line); m != nil {
				s.adminSecret = m[1]
			}
			if m := listeningRE.FindStringSubmatch(line); m != nil {
				s.url = m[2]
				if m[1] != s.url {
					t.Fatalf("serve listens on %s but its issuer is %s", m[1], s.url)
				}
			}
		case <-deadline:
			t.Fatalf("serve did not listen within 60s:\n%s", s.stderr.String())
		}
	}
	go func() {
		for range lines {
		}
	}()
	if want := "http://127.0.0.1:" + strconv.Itoa(port); s.url != want {
		t.Fatalf("default issuer %s, want %s", s.url, want)
	}
	return s
}

// call sends a request with a bearer secret and decodes the JSON answer.
func call(t *testing.T, method, u, secret string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		j, _ := json.Marshal(body)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+secret)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// createSvc creates, over the admin API, the client the libraries use.
func createSvc(t *testing.T, s *serve) (id, secret string) {
	t.Helper()
	code, out := call(t, "POST", s.url+"/v1/clients", s.adminSecret, map[string]any{
		"name": "orders-service", "scopes": []string{"tokens:verify"},
		"token_scopes": []string{"orders:read", "orders:write"}, "default_audience": "orders-api"})
	if code != 201 {
		t.Fatalf("create client: %d %v", code, out)
	}
	return out["client_id"].(string), out["client_secret"].(string)
}

// TestStandardClients is the acceptance walk of standard clients against
// serve with its default configuration.
func TestStandardClients(t *testing.T) {
	s := startServe(t, childEnv(t), "--data-dir", t.TempDir())
	if s.adminSecret == "" {
		t.Fatal("serve printed no admin credentials")
	}
	svcID, svcSecret := createSvc(t, s)

	t.Run("npm", func(t *testing.T) {
		needNode(t)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "node", "clients.mjs")
		cmd.Env = append(os.Environ(), "ISSUER="+s.url, "SVC_ID="+svcID, "SVC_SECRET="+svcSecret, "ADMIN_ID="+s.adminID, "ADMIN_SECRET="+s.adminSecret)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		steps := 0
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			var r struct {
				Step   string `json:"step"`
				OK     bool   `json:"ok"`
				Detail string `json:"detail"`
			}
			if json.Unmarshal([]byte(line), &r) != nil || r.Step == "" {
				continue
			}
			steps++
			t.Run(r.Step, func(t *testing.T) {
				if !r.OK {
					t.Fatal(r.Detail)
				}
				t.Log(r.Detail)
			})
		}
		// 1 discovery, 2 grants, 2 validations, 3 x 2 introspection and
		// revocation, 5 x 2 openid-client, 2 jose, 1 swagger-parser.
		if err != nil || steps != 24 {
			t.Fatalf("clients.mjs: %v, %d of 24 steps reported\n%s\n%s", err, steps, out, stderr.String())
		}
	})

	t.Run("golang.org/x/oauth2", func(t *testing.T) {
		for _, style := range []struct {
			name  string
			style oauth2.AuthStyle
		}{{"in header", oauth2.AuthStyleInHeader}, {"in params", oauth2.AuthStyleInParams}, {"auto-detect", oauth2.AuthStyleAutoDetect}} {
			t.Run(style.name, func(t *testing.T) {
				cfg := clientcredentials.Config{ClientID: svcID, ClientSecret: svcSecret, TokenURL: s.url + "/oauth2/token", Scopes: []string{"orders:read"}, AuthStyle: style.style}
				tok, err := cfg.Token(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				if tok.TokenType != "Bearer" || tok.Expiry.IsZero() || tok.Extra("scope") != "orders:read" {
					t.Fatalf("token %+v scope %v", tok, tok.Extra("scope"))
				}
			})
		}
	})

	t.Run("python3-jwt", func(t *testing.T) {
		needPyJWT(t)
		pyjwt := func(t *testing.T, aud, tok string) map[string]any {
			t.Helper()
			var stderr bytes.Buffer
			cmd := exec.Command(debianPython, "pyjwt_verify.py", s.url+"/.well-known/jwks.json", s.url, aud, tok)
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("PyJWT refused the token: %v: %s", err, stderr.String())
			}
			var r struct {
				Version string         `json:"pyjwt"`
				Claims  map[string]any `json:"claims"`
			}
			if err := json.Unmarshal(out, &r); err != nil {
				t.Fatal(err)
			}
			t.Logf("PyJWT %s: %v", r.Version, r.Claims)
			return r.Claims
		}
		t.Run("access token", func(t *testing.T) {
			cfg := clientcredentials.Config{ClientID: svcID, ClientSecret: svcSecret, TokenURL: s.url + "/oauth2/token"}
			tok, err := cfg.Token(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if c := pyjwt(t, "orders-api", tok.AccessToken); c["client_id"] != svcID {
				t.Fatalf("claims %v", c)
			}
		})
		t.Run("claims file in the PyJWT style, issued remotely by the CLI", func(t *testing.T) {
			exp := time.Now().Unix() + 600
			file := filepath.Join(t.TempDir(), "claims.json")
			os.WriteFile(file, fmt.Appendf(nil, `{"sub":"u","aud":"api","exp":%d,"payload":{"user_id":1}}`, exp), 0o600)
			tok := strings.TrimSpace(jwtledger(t, childEnv(t, "JWTLEDGER_SERVER="+s.url, "JWTLEDGER_CLIENT_SECRET="+s.adminSecret), "issue", "--claims-file", file))
			c := pyjwt(t, "api", tok)
			want := map[string]any{"sub": "u", "aud": "api", "exp": float64(exp), "payload": map[string]any{"user_id": float64(1)}, "iss": s.url}
			for k, v := range want {
				if fmt.Sprint(c[k]) != fmt.Sprint(v) {
					t.Fatalf("claim %s = %v, want %v", k, c[k], v)
				}
			}
			if len(c) != len(want)+2 || c["iat"] == nil || c["jti"] == nil {
				t.Fatalf("claims %v: want exactly the file's plus iss, iat and jti", c)
			}
		})
	})
}

// authStatus is the status of a client_credentials request with Basic
// credentials (200 while the client and secret are valid, else 401).
func authStatus(t *testing.T, base, id, secret string) int {
	t.Helper()
	req, _ := http.NewRequest("POST", base+"/oauth2/token", strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// seenWithin polls every server until each answers want for the
// credentials, failing the test after limit; it returns the slowest time.
func seenWithin(t *testing.T, limit time.Duration, what string, servers []*serve, id, secret string, want int) time.Duration {
	t.Helper()
	start := time.Now()
	var slowest time.Duration
	for _, s := range servers {
		var got int
		if _, ok := poll.Within(limit-time.Since(start), func() bool {
			got = authStatus(t, s.url, id, secret)
			return got == want
		}); !ok {
			t.Fatalf("%s: %s still answers %d after %s, want %d", what, s.url, got, limit, want)
		}
		slowest = max(slowest, time.Since(start))
	}
	t.Logf("%s: every server answered %d after %s", what, want, slowest.Round(time.Millisecond))
	return slowest
}

type creds struct{ ID, Secret string }

func parseCreds(t *testing.T, out string) creds {
	t.Helper()
	var c struct {
		ID     string `json:"client_id"`
		Secret string `json:"client_secret"`
	}
	if err := json.Unmarshal([]byte(out), &c); err != nil || c.ID == "" || c.Secret == "" {
		t.Fatalf("credentials from %q: %v", out, err)
	}
	return creds{c.ID, c.Secret}
}

// clientChangesReachServers creates, re-keys and deletes a client with the
// CLI (another process) and expects every server to follow within 1 s.
func clientChangesReachServers(t *testing.T, cliEnv []string, store []string, servers ...*serve) {
	c := parseCreds(t, jwtledger(t, cliEnv, append([]string{"clients", "create", "--name", "svc", "--scopes", "tokens:verify", "--output", "json"}, store...)...))
	seenWithin(t, time.Second, "clients create", servers, c.ID, c.Secret, 200)

	rotated := parseCreds(t, jwtledger(t, cliEnv, append([]string{"clients", "rotate-secret", c.ID, "--output", "json"}, store...)...))
	seenWithin(t, time.Second, "clients rotate-secret, old secret", servers, c.ID, c.Secret, 401)
	seenWithin(t, time.Second, "clients rotate-secret, new secret", servers, rotated.ID, rotated.Secret, 200)

	jwtledger(t, cliEnv, append([]string{"clients", "delete", c.ID}, store...)...)
	seenWithin(t, time.Second, "clients delete", servers, rotated.ID, rotated.Secret, 401)
}

// TestClientChangesReachServe: `jwtledger clients ...` run while serve
// runs on the same SQLite data directory.
func TestClientChangesReachServe(t *testing.T) {
	dir := t.TempDir()
	env := childEnv(t)
	s := startServe(t, env, "--data-dir", dir)
	clientChangesReachServers(t, env, []string{"--data-dir", dir}, s)
}

// TestClientChangesReachEveryNode: two serve nodes on one PostgreSQL
// database, the CLI as a third process.
func TestClientChangesReachEveryNode(t *testing.T) {
	dsn := pgtest.Database(t)
	master := make([]byte, 32)
	rand.Read(master)
	env := childEnv(t, "JWTLEDGER_MASTER_KEY="+base64.StdEncoding.EncodeToString(master), "JWTLEDGER_STORE="+dsn)
	a := startServe(t, env, "--data-dir", t.TempDir(), "--node-id", "node-a")
	b := startServe(t, env, "--data-dir", t.TempDir(), "--node-id", "node-b")
	clientChangesReachServers(t, env, []string{"--data-dir", t.TempDir(), "--node-id", "cli"}, a, b)
}

// TestBuildWithoutCgo: CGO_ENABLED=0 builds a binary (the SQLite driver
// needs cgo, PostgreSQL does not) that says so when asked for SQLite,
// instead of failing to compile with "undefined: sqlite3.Error".
func TestBuildWithoutCgo(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary once more")
	}
	bin := filepath.Join(t.TempDir(), "jwtledger-nocgo")
	build := exec.Command("go", "build", "-o", bin, "./cmd/jwtledger")
	build.Dir = repoRoot()
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("CGO_ENABLED=0 go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "issue", "--sub", "alice", "--data-dir", t.TempDir())
	cmd.Env = childEnv(t)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || stdout.Len() != 0 ||
		!strings.Contains(stderr.String(), "the embedded SQLite store needs cgo, and this binary was built with CGO_ENABLED=0") {
		t.Fatalf("issue without cgo: %v, stdout %q, stderr %q", err, stdout.String(), stderr.String())
	}
}
