package main

import (
	"context"
	"encoding/json"
	"flag"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/jwtledger/jwtledger"
	"github.com/jwtledger/jwtledger/internal/audit"
	"github.com/jwtledger/jwtledger/internal/server"
	"github.com/jwtledger/jwtledger/trail"
)

// cliEnv runs the CLI in-process with the environment env.
type cliEnv map[string]string

func (env cliEnv) run(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb strings.Builder
	code = run(context.Background(), args, strings.NewReader(stdin), &out, &errb, func(k string) string { return env[k] })
	return code, out.String(), errb.String()
}

// TestRevokeByJTI: revoke --jti alone revokes a token the ledger issued on
// the command line; a jti it has no record of, or one issued through
// serve (whose tokens carry serve's URL as iss), is refused with a hint to
// give --iss, and then it works.
func TestRevokeByJTI(t *testing.T) {
	dir := t.TempDir()
	env := cliEnv{"JWTLEDGER_DATA_DIR": dir}
	issue := func() (tok, jti string) {
		code, out, stderr := env.run(t, "", "issue", "--sub", "alice", "--output", "json")
		var iss struct{ Token, JTI string }
		if code != 0 || json.Unmarshal([]byte(out), &iss) != nil {
			t.Fatalf("issue: %d %s %s", code, out, stderr)
		}
		return iss.Token, iss.JTI
	}
	tok, jti := issue()

	// A token of serve: issued by a client, with serve's issuer.
	l, err := jwtledger.Open(context.Background(), jwtledger.Config{DataDir: dir, Issuer: "http://127.0.0.1:8080"})
	if err != nil {
		t.Fatal(err)
	}
	served, err := l.Issue(context.Background(), jwtledger.IssueRequest{Subject: "bob", Meta: jwtledger.Meta{Actor: "cl_svc"}})
	if err != nil {
		t.Fatal(err)
	}
	l.Close()

	for _, tt := range []struct {
		name   string
		args   []string
		code   int
		stdout string // regexp
		stderr string // regexp
	}{
		{"issued here", []string{"revoke", "--jti", jti}, 0, "^revoked: " + jti + "\n$", "^$"},
		{"again", []string{"revoke", "--jti", jti}, 0, "^already revoked: " + jti + "\n$", "^$"},
		{"unknown jti", []string{"revoke", "--jti", "nope"}, 2, "^$",
			`^jwtledger: error: revoke: this ledger has no record of issuing a token with jti "nope", so its issuer is unknown\njwtledger: hint: give the issuer with --iss, or the token itself\n$`},
		{"issued through serve", []string{"revoke", "--jti", served.JTI}, 2, "^$",
			`revoke: the token with jti "` + served.JTI + `" was issued through serve \(client cl_svc\), so its iss is serve's issuer URL, not "jwtledger"\njwtledger: hint: give it with --iss`},
		{"--iss without --jti", []string{"revoke", "--iss", "x", tok}, 2, "^$", `revoke: --iss goes with --jti`},
		{"served, with --iss", []string{"revoke", "--jti", served.JTI, "--iss", "http://127.0.0.1:8080"}, 0, "^revoked: ", "^$"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, out, stderr := env.run(t, "", tt.args...)
			if code != tt.code || !regexp.MustCompile(tt.stdout).MatchString(out) || !regexp.MustCompile(tt.stderr).MatchString(stderr) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want %d, %q, %q", code, out, stderr, tt.code, tt.stdout, tt.stderr)
			}
		})
	}
	// Both revocations took: the tokens verify as revoked.
	for _, raw := range []string{tok, served.Token} {
		if code, out, _ := env.run(t, raw, "verify"); code != 1 || !strings.HasPrefix(out, "revoked: ") {
			t.Errorf("verify after revoke: %d %s", code, out)
		}
	}
}

// TestAuditEvents: audit --help names every event a record can have, and
// audit query refuses an event no record has (audit.checkpoint among
// them) with that list, locally and on a server.
func TestAuditEvents(t *testing.T) {
	env := cliEnv{"JWTLEDGER_DATA_DIR": t.TempDir()}
	for _, args := range [][]string{{"audit", "--help"}, {"help", "audit"}, {"audit", "help"}} {
		code, out, _ := env.run(t, "", args...)
		if code != 0 {
			t.Fatalf("%v: exit %d", args, code)
		}
		for _, e := range audit.Events {
			if !strings.Contains(strings.Join(strings.Fields(out), " "), string(e)) {
				t.Errorf("%v does not name %s:\n%s", args, e, out)
			}
		}
	}

	l, err := jwtledger.Open(context.Background(), jwtledger.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	creds, _, err := l.CreateClient(context.Background(), jwtledger.NewClient{Name: "reader", Scopes: []string{"audit:read"}}, jwtledger.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(server.New(server.Config{Ledger: l}).Handler())
	defer srv.Close()
	remote := []string{"--server", srv.URL, "--client-secret", creds.Secret}
	for _, tt := range []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"checkpoint", []string{"audit", "query", "--event", "audit.checkpoint"}, 2,
			`^jwtledger: error: invalid request: unknown event "audit.checkpoint" \(want one of token.issue, .*console.logout\)\njwtledger: hint: checkpoints are not records`},
		{"bogus", []string{"audit", "query", "--event", "bogus"}, 2, `^jwtledger: error: invalid request: unknown event "bogus" \(want one of token.issue, `},
		{"tail", []string{"audit", "tail", "--event", "audit.checkpoint"}, 2, `unknown event "audit.checkpoint"`},
		{"a record event", []string{"audit", "query", "--event", "auth.denied.suppressed"}, 0, `^$`},
		// The server's ledger refuses it too (asked without the CLI's check).
		{"server", append([]string{"audit", "query", "--event", "audit.checkpoint"}, remote...), 2, `unknown event "audit.checkpoint"`},
		{"server, a record event", append([]string{"audit", "query", "--event", "token.issue"}, remote...), 0, `^$`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, out, stderr := env.run(t, "", tt.args...)
			if code != tt.code || !regexp.MustCompile(tt.stderr).MatchString(stderr) {
				t.Fatalf("exit %d, stderr %q (stdout %q); want %d, %q", code, stderr, out, tt.code, tt.stderr)
			}
		})
	}
	if recs, err := l.Trail().Query(context.Background(), trail.Filter{Event: audit.AuditCheckpoint}); err == nil {
		t.Errorf("the ledger answers %d records of audit.checkpoint, want an error", len(recs))
	}
}

// TestEnvTwins: every long flag reads JWTLEDGER_<FLAG>; one-letter flags
// read nothing (JWTLEDGER_N would apply to every -n).
func TestEnvTwins(t *testing.T) {
	env := cliEnv{"JWTLEDGER_DATA_DIR": t.TempDir()}
	for range 3 {
		if code, _, stderr := env.run(t, "", "issue", "--sub", "x"); code != 0 {
			t.Fatal(stderr)
		}
	}
	rows := func(args ...string) int {
		code, out, stderr := env.run(t, "", args...)
		if code != 0 {
			t.Fatalf("%v: %d %s", args, code, stderr)
		}
		return strings.Count(out, "token.issue")
	}
	env["JWTLEDGER_N"] = "1" // (JWTLEDGER_F=true would follow forever: see envName below)
	if n := rows("audit", "tail"); n != 3 {
		t.Errorf("audit tail with JWTLEDGER_N=1: %d records, want 3 (the default -n 20)", n)
	}
	env["JWTLEDGER_LIMIT"] = "2"
	if n := rows("audit", "query", "--event", "token.issue"); n != 2 {
		t.Errorf("audit query with JWTLEDGER_LIMIT=2: %d records", n)
	}
	// audit tail reads the local ledger: with a server set for the other
	// commands it refuses rather than show another ledger's records.
	env["JWTLEDGER_SERVER"] = "http://127.0.0.1:1"
	if code, _, stderr := env.run(t, "", "audit", "tail"); code != 2 || !strings.Contains(stderr, "JWTLEDGER_SERVER is set") {
		t.Errorf("audit tail with JWTLEDGER_SERVER: %d %s", code, stderr)
	}
	for _, name := range []string{"n", "f"} {
		if got := envName(name); got != "" {
			t.Errorf("envName(%q) = %q, want none", name, got)
		}
	}
	if got := envName("data-dir"); got != "JWTLEDGER_DATA_DIR" {
		t.Errorf("envName(data-dir) = %q", got)
	}
}

// TestEveryFlagHasUsage: each flag's usage string is its help line, so
// none may be empty, and every command that runs is reachable by its path.
func TestEveryFlagHasUsage(t *testing.T) {
	var walk func(cmds []*command)
	walk = func(cmds []*command) {
		for _, cmd := range cmds {
			if (cmd.flags == nil) == (cmd.subs == nil) {
				t.Errorf("%s: want flags or subcommands, not both or neither", cmd.path())
			}
			if cmd.summary == "" {
				t.Errorf("%s: no summary", cmd.path())
			}
			if got := lookup(strings.Fields(cmd.path())); got != cmd {
				t.Errorf("lookup(%q) = %v", cmd.path(), got)
			}
			for _, f := range flagsOf(cmd) {
				if strings.TrimSpace(f.Usage) == "" {
					t.Errorf("%s --%s: empty usage", cmd.path(), f.Name)
				}
			}
			walk(cmd.subs)
		}
	}
	walk(commands())
	// The help of a command lists the usage of each of its flags.
	var out strings.Builder
	writeHelp(&out, lookup([]string{"audit", "query"}))
	help := strings.Join(strings.Fields(out.String()), " ")
	for _, f := range flagsOf(lookup([]string{"audit", "query"})) {
		_, usage := flag.UnquoteUsage(f)
		if usage = strings.Join(strings.Fields(usage), " "); !strings.Contains(help, usage) {
			t.Errorf("audit query --help lacks %q", usage)
		}
	}
}
