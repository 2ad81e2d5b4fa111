package jwtledger_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"

	"github.com/jwtledger/jwtledger"
	"github.com/jwtledger/jwtledger/token"
	"github.com/jwtledger/jwtledger/trail"
)

func TestAuditRecords(t *testing.T) {
	var jsonl bytes.Buffer
	l := openLedger(t, func(c *jwtledger.Config) { c.JSONLog = &jsonl })
	ctx := context.Background()
	m := jwtledger.Meta{Actor: "tester", Remote: "127.0.0.1:5", RequestID: "req-1"}
	iss, err := l.Issue(ctx, jwtledger.IssueRequest{Subject: "alice", Audience: []string{"api"}, Meta: m})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Verify(ctx, iss.Token, jwtledger.WithMeta(m)); err != nil {
		t.Fatal(err)
	}
	forged := iss.Token[:len(iss.Token)-4] + "AAAA"
	l.Verify(ctx, forged)
	l.Verify(ctx, "garbage")
	if _, err := l.Revoke(ctx, "", iss.JTI, iss.ExpiresAt, m); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Verify(ctx, iss.Token); token.OutcomeOf(err) != token.Revoked {
		t.Fatalf("revoked token: %v", err)
	}
	if _, err := l.Issue(ctx, jwtledger.IssueRequest{Claims: map[string]any{"exp": 1}}); err == nil {
		t.Fatal("custom exp claim accepted")
	}

	recs, err := l.Trail().Query(ctx, trail.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		event, outcome, sub, jti string
	}{
		{"key.create", "ok", "", ""},
		{"token.issue", "ok", "alice", iss.JTI},
		{"token.verify", "valid", "alice", iss.JTI},
		{"token.verify", "invalid_signature", "alice", iss.JTI},
		{"token.verify", "malformed", "", ""},
		{"token.revoke", "ok", "", iss.JTI},
		{"token.verify", "revoked", "alice", iss.JTI},
		{"token.issue", "error", "", ""},
	}
	if len(recs) != len(want) {
		t.Fatalf("got %d records, want %d", len(recs), len(want))
	}
	fp := recs[1].TokenSHA256
	for i, w := range want {
		r := recs[i]
		if string(r.Event) != w.event || r.Outcome != w.outcome || r.Sub != w.sub || r.JTI != w.jti {
			t.Errorf("record %d: %s %s sub=%q jti=%q, want %+v", i, r.Event, r.Outcome, r.Sub, r.JTI, w)
		}
		if r.Seq != uint64(i+1) || r.Chain != l.NodeID() || r.Time.IsZero() {
			t.Errorf("record %d: seq %d chain %q time %v", i, r.Seq, r.Chain, r.Time)
		}
		if r.Outcome != "ok" && r.Outcome != "valid" && r.Reason == "" {
			t.Errorf("record %d (%s) has no reason", i, r.Outcome)
		}
	}
	if r := recs[1]; r.KID != iss.KID || r.Alg != "ES256" || !r.Exp.Equal(iss.ExpiresAt) || r.Actor != "tester" ||
		r.Remote != "127.0.0.1:5" || r.RequestID != "req-1" || len(r.Aud) != 1 || r.Aud[0] != "api" || len(fp) != 64 {
		t.Errorf("issue record: %+v", r)
	}
	if sum := sha256.Sum256([]byte(iss.Token)); fp != hex.EncodeToString(sum[:]) {
		t.Errorf("issue record fingerprint %s, want the SHA-256 of the token, %x", fp, sum)
	}
	if recs[2].TokenSHA256 != fp {
		t.Errorf("verify record fingerprint %s, want the issued token's %s", recs[2].TokenSHA256, fp)
	}
	// Filters.
	for _, tt := range []struct {
		name string
		f    trail.Filter
		n    int
	}{
		{"event", trail.Filter{Event: "token.verify"}, 4},
		{"outcome", trail.Filter{Outcome: "revoked"}, 1},
		{"sub", trail.Filter{Sub: "alice"}, 4},
		{"jti", trail.Filter{JTI: iss.JTI}, 5},
		{"actor", trail.Filter{Actor: "tester"}, 3},
		{"limit", trail.Filter{Limit: 3}, 3},
		{"after", trail.Filter{After: recs[5].ID}, 2},
		{"until", trail.Filter{Until: testNow}, 0},
		{"since", trail.Filter{Since: testNow}, 8},
	} {
		got, err := l.Trail().Query(ctx, tt.f)
		if err != nil || len(got) != tt.n {
			t.Errorf("filter %s: %d records (%v), want %d", tt.name, len(got), err, tt.n)
		}
	}
	// The JSON sink got the same records, then the checkpoint made at Close.
	l.Close()
	lines := strings.Split(strings.TrimSpace(jsonl.String()), "\n")
	if len(lines) != len(want)+1 {
		t.Fatalf("JSON sink has %d lines, want %d records and a checkpoint", len(lines), len(want))
	}
	if cp := lines[len(lines)-1]; !strings.Contains(cp, `"event":"audit.checkpoint"`) || !strings.Contains(cp, `"reason":"tree size 8 root `) {
		t.Errorf("last JSON line is not the closing checkpoint of 8 records: %s", cp)
	}
	assertNoSecretInDir(t, l.DataDir(), iss.Token, forged)
}

// assertNoSecretInDir fails if any file below dir holds one of the needles
// or the signature part of one.
func assertNoSecretInDir(t *testing.T, dir string, needles ...string) {
	t.Helper()
	filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range needles {
			sig := n[strings.LastIndexByte(n, '.')+1:]
			if bytes.Contains(data, []byte(n)) || bytes.Contains(data, []byte(sig)) {
				t.Errorf("%s contains a raw token", path)
			}
		}
		return nil
	})
}

var textLine = regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} - (INFO|ERROR) - [a-z.]+ [a-z_]+ seq=\d+( [a-z_]+="(?:[^"\\]|\\.)*")*$`)

func TestTextLog(t *testing.T) {
	l := openLedger(t)
	ctx := context.Background()
	evil := "mallory\n2026-11-26 23:15:20,123 - INFO - token.issue ok sub=\"root\"\r\x1b[31m"
	iss, err := l.Issue(ctx, jwtledger.IssueRequest{Subject: evil, Audience: []string{"a\"b"}})
	if err != nil {
		t.Fatal(err)
	}
	l.Verify(ctx, iss.Token)
	l.Verify(ctx, hs256(hsHeader, `{"sub":"x\ny","exp":1}`), jwtledger.WithKeys(hmacKeys(t)...))
	l.Close()
	data, err := os.ReadFile(dataFile(l, "jwt_logs.log"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("text log has %d lines, want 4 (key.create, issue, 2 verify):\n%s", len(lines), data)
	}
	levels := []string{"INFO", "INFO", "INFO", "ERROR"}
	for i, line := range lines {
		if !textLine.MatchString(line) {
			t.Errorf("line %d does not match the classic format: %q", i, line)
		}
		if !strings.Contains(line, " - "+levels[i]+" - ") {
			t.Errorf("line %d: want level %s: %q", i, levels[i], line)
		}
	}
	if !strings.Contains(lines[1], `sub="mallory\n2026-11-26 23:15:20,123 - INFO - token.issue ok sub=\"root\"\r\x1b[31m"`) {
		t.Errorf("hostile sub not escaped in its own line: %q", lines[1])
	}
	if !strings.Contains(lines[3], "expired") || !strings.Contains(lines[3], `reason="token expired`) {
		t.Errorf("refusal line lacks outcome or reason: %q", lines[3])
	}
	info, _ := os.Stat(dataFile(l, "jwt_logs.log"))
	if info.Mode().Perm() != 0o600 {
		t.Errorf("text log mode %v, want 0600", info.Mode().Perm())
	}
}

// TestFailClosed makes the store refuse audit records and checks that no
// token and no verdict comes out.
func TestFailClosed(t *testing.T) {
	l := openLedger(t)
	ctx := context.Background()
	good, err := l.Issue(ctx, jwtledger.IssueRequest{Subject: "a"})
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite3", dataFile(l, "jwtledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TRIGGER fail BEFORE INSERT ON audit BEGIN SELECT RAISE(ABORT, 'disk full'); END`); err != nil {
		t.Fatal(err)
	}
	iss, err := l.Issue(ctx, jwtledger.IssueRequest{Subject: "b"})
	if !errors.Is(err, jwtledger.ErrAudit) || iss != nil {
		t.Fatalf("Issue with a failing store: %v, %v; want ErrAudit and no token", iss, err)
	}
	tok, err := l.Verify(ctx, good.Token)
	if !errors.Is(err, jwtledger.ErrAudit) || tok != nil || token.OutcomeOf(err) != "" {
		t.Fatalf("Verify with a failing store: %v, %v; want ErrAudit and no verdict", tok, err)
	}
	if _, err := l.RotateKey(ctx, "", jwtledger.Meta{}); err == nil {
		t.Fatal("key rotation succeeded without its audit record")
	}
	if _, err := db.Exec(`DROP TRIGGER fail`); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Issue(ctx, jwtledger.IssueRequest{Subject: "c"}); err != nil {
		t.Fatalf("Issue after the store recovered: %v", err)
	}
	recs, _ := l.Trail().Query(ctx, trail.Filter{})
	for i, r := range recs {
		if r.Seq != uint64(i+1) {
			t.Fatalf("seq gap after failures: record %d has seq %d", i, r.Seq)
		}
	}
	if len(recs) != 3 {
		t.Fatalf("%d records, want 3 (key.create, two issues)", len(recs))
	}
}

// TestGroupCommit runs many concurrent issues and verifies: every one gets
// exactly one record, sequence numbers are gapless, and batches were shared.
func TestGroupCommit(t *testing.T) {
	l := openLedger(t)
	ctx := context.Background()
	const n = 200
	var wg sync.WaitGroup
	errs := make(chan error, n)
	jtis := make(chan string, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			iss, err := l.Issue(ctx, jwtledger.IssueRequest{Subject: "load"})
			if err != nil {
				errs <- err
				return
			}
			jtis <- iss.JTI
			if _, err := l.Verify(ctx, iss.Token); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	close(jtis)
	for err := range errs {
		t.Fatal(err)
	}
	recs, _ := l.Trail().Query(ctx, trail.Filter{})
	if len(recs) != 2*n+1 {
		t.Fatalf("%d records, want %d", len(recs), 2*n+1)
	}
	seen := map[string]int{}
	for i, r := range recs {
		if r.Seq != uint64(i+1) {
			t.Fatalf("record %d has seq %d", i, r.Seq)
		}
		if r.Event == "token.issue" {
			seen[r.JTI]++
		}
	}
	for jti := range jtis {
		if seen[jti] != 1 {
			t.Fatalf("jti %s has %d issue records", jti, seen[jti])
		}
	}
}

// issueAndVerify issues req and verifies the token; with wantErr it
// instead expects Issue to refuse req with a one-line invalid request
// containing wantErr, and returns nil.
func issueAndVerify(t *testing.T, l *jwtledger.Ledger, req jwtledger.IssueRequest, wantErr string) *token.Token {
	t.Helper()
	ctx := context.Background()
	iss, err := l.Issue(ctx, req)
	if wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), wantErr) || !errors.Is(err, jwtledger.ErrInvalidRequest) || strings.Contains(err.Error(), "\n") {
			t.Fatalf("got %v, want one line of invalid request containing %q", err, wantErr)
		}
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	tok, err := l.Verify(ctx, iss.Token)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestCustomClaims(t *testing.T) {
	l := openLedger(t)
	tests := []struct {
		name    string
		req     jwtledger.IssueRequest
		want    string // substring of the claims JSON
		wantErr string
	}{
		{name: "map", req: jwtledger.IssueRequest{Claims: map[string]any{"role": "admin", "n": 2}}, want: `"n":2,"role":"admin"`},
		{name: "json", req: jwtledger.IssueRequest{ClaimsJSON: []byte(`{"scopes": ["a", "b"], "x": {"y": null}}`)}, want: `"scopes":["a","b"],"x":{"y":null}`},
		{name: "json not object", req: jwtledger.IssueRequest{ClaimsJSON: []byte(`[1]`)}, wantErr: "not a JSON object"},
		{name: "json duplicate", req: jwtledger.IssueRequest{ClaimsJSON: []byte(`{"a":1,"a":2}`)}, wantErr: "duplicate"},
		{name: "invalid UTF-8 subject", req: jwtledger.IssueRequest{Subject: "\xff"}, wantErr: "UTF-8"},
		{name: "negative ttl", req: jwtledger.IssueRequest{TTL: -time.Second}, wantErr: "negative"},
		{name: "audiences", req: jwtledger.IssueRequest{Audience: []string{"a", "b"}}, want: `"aud":["a","b"]`},
		{name: "nbf", req: jwtledger.IssueRequest{NotBefore: testNow.Add(-time.Minute)}, want: `"nbf":`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := issueAndVerify(t, l, tt.req, tt.wantErr)
			if tok == nil {
				return
			}
			if !strings.Contains(string(tok.Claims.Raw), tt.want) {
				t.Fatalf("claims %s lack %s", tok.Claims.Raw, tt.want)
			}
			if !tok.Claims.Expiry.Equal(testNow.Add(time.Hour)) || !tok.Claims.IssuedAt.Equal(testNow) || tok.Claims.Issuer != "jwtledger" || len(tok.Claims.ID) != 22 {
				t.Fatalf("registered claims: %+v", tok.Claims)
			}
		})
	}
}

// TestRegisteredClaims gives registered claims among the custom claims, as
// a claims file or a PyJWT payload does: sub, aud, nbf and exp are taken as
// given, iss must be the ledger's, iat and jti are the ledger's own; every
// refusal says why in one line.
func TestRegisteredClaims(t *testing.T) {
	l := openLedger(t, func(c *jwtledger.Config) { c.MaxTTL = time.Hour })
	now := testNow.Unix()
	js := func(format string, args ...any) []byte { return []byte(fmt.Sprintf(format, args...)) }
	tests := []struct {
		name    string
		req     jwtledger.IssueRequest
		want    string // the whole claims set, with JTI for the ledger's jti
		wantErr string
	}{
		{name: "PyJWT payload", req: jwtledger.IssueRequest{ClaimsJSON: js(`{"sub":"u","aud":"api","exp":%d,"payload":{"user_id":1}}`, now+600)},
			want: fmt.Sprintf(`{"iss":"jwtledger","sub":"u","aud":"api","exp":%d,"iat":%d,"jti":JTI,"payload":{"user_id":1}}`, now+600, now)},
		{name: "in the map", req: jwtledger.IssueRequest{Claims: map[string]any{"sub": "root", "aud": []string{"a", "b"}, "nbf": now - 60, "exp": now + 60}},
			want: fmt.Sprintf(`{"iss":"jwtledger","sub":"root","aud":["a","b"],"exp":%d,"nbf":%d,"iat":%d,"jti":JTI}`, now+60, now-60, now)},
		{name: "own issuer and the current iat", req: jwtledger.IssueRequest{ClaimsJSON: js(`{"iss":"jwtledger","iat":%d}`, now)},
			want: fmt.Sprintf(`{"iss":"jwtledger","exp":%d,"iat":%d,"jti":JTI}`, now+3600, now)},
		{name: "fields agreeing with claims", req: jwtledger.IssueRequest{Subject: "u", Audience: []string{"api"}, ClaimsJSON: []byte(`{"sub":"u","aud":["api"]}`)},
			want: fmt.Sprintf(`{"iss":"jwtledger","sub":"u","aud":"api","exp":%d,"iat":%d,"jti":JTI}`, now+3600, now)},
		{name: "exp beyond the maximum", req: jwtledger.IssueRequest{ClaimsJSON: js(`{"exp":%d}`, now+7200)}, wantErr: "beyond the maximum lifetime 1h0m0s"},
		{name: "exp in the past", req: jwtledger.IssueRequest{ClaimsJSON: js(`{"exp":%d}`, now-1)}, wantErr: "is not in the future"},
		{name: "exp now", req: jwtledger.IssueRequest{ClaimsJSON: js(`{"exp":%d}`, now)}, wantErr: "is not in the future"},
		{name: "exp and a ttl", req: jwtledger.IssueRequest{TTL: time.Minute, ClaimsJSON: js(`{"exp":%d}`, now+60)}, wantErr: `claim "exp" and a lifetime (1m0s) are both given`},
		{name: "exp not a number", req: jwtledger.IssueRequest{ClaimsJSON: []byte(`{"exp":"soon"}`)}, wantErr: `claim "exp" is not a number`},
		{name: "another issuer", req: jwtledger.IssueRequest{ClaimsJSON: []byte(`{"iss":"https://other.example"}`)}, wantErr: `claim "iss" is "https://other.example", but this ledger's issuer is "jwtledger"`},
		{name: "a foreign jti", req: jwtledger.IssueRequest{ClaimsJSON: []byte(`{"jti":"abc"}`)}, wantErr: `claim "jti" is set by the ledger`},
		{name: "an old iat", req: jwtledger.IssueRequest{ClaimsJSON: js(`{"iat":%d}`, now-3600)}, wantErr: `claim "iat" is set by the ledger`},
		{name: "sub twice", req: jwtledger.IssueRequest{Subject: "alice", Claims: map[string]any{"sub": "bob"}}, wantErr: `the subject is given twice, as "alice" and as claim "sub" "bob"`},
		{name: "aud twice", req: jwtledger.IssueRequest{Audience: []string{"x"}, ClaimsJSON: []byte(`{"aud":"y"}`)}, wantErr: "the audience is given twice"},
		{name: "sub not a string", req: jwtledger.IssueRequest{ClaimsJSON: []byte(`{"sub":5}`)}, wantErr: `claim "sub" is not a string`},
		{name: "nbf after exp", req: jwtledger.IssueRequest{ClaimsJSON: js(`{"nbf":%d,"exp":%d}`, now+120, now+60)}, wantErr: "is not before the expiry"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := issueAndVerify(t, l, tt.req, tt.wantErr)
			if tok == nil {
				return
			}
			want := strings.Replace(tt.want, "JTI", `"`+tok.Claims.ID+`"`, 1)
			if got := string(tok.Claims.Raw); got != want {
				t.Fatalf("claims\n got %s\nwant %s", got, want)
			}
		})
	}
}

// TestRevocationAcrossProcesses revokes through one ledger and checks that
// another ledger on the same store refuses the token within the refresh
// period (the in-memory revocation set), and at once in the revoking one.
func TestRevocationAcrossProcesses(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	a, err := jwtledger.Open(ctx, jwtledger.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := jwtledger.Open(ctx, jwtledger.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	iss, err := a.Issue(ctx, jwtledger.IssueRequest{Subject: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Verify(ctx, iss.Token); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Revoke(ctx, "", iss.JTI, iss.ExpiresAt, jwtledger.Meta{}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Verify(ctx, iss.Token); token.OutcomeOf(err) != token.Revoked {
		t.Fatalf("revoking ledger: %v", err)
	}
	deadline := time.Now().Add(3 * jwtledger.RevocationRefresh)
	for {
		_, err := b.Verify(ctx, iss.Token)
		if token.OutcomeOf(err) == token.Revoked {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("other ledger still says %v after %s", err, 3*jwtledger.RevocationRefresh)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestCheckpointCadence checks that automatic checkpoints follow
// CheckpointEvery records, but no sooner than CheckpointMinInterval after
// the previous one.
func TestCheckpointCadence(t *testing.T) {
	tests := []struct {
		name        string
		minInterval time.Duration
		want        func(n int) bool
	}{
		{name: "every 20 records", minInterval: time.Millisecond, want: func(n int) bool { return n >= 3 }},
		{name: "at most one an hour", minInterval: time.Hour, want: func(n int) bool { return n == 1 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := openLedger(t, func(c *jwtledger.Config) {
				c.Now = time.Now
				c.CheckpointEvery, c.CheckpointMinInterval, c.CheckpointInterval = 20, tt.minInterval, 2*time.Hour
			})
			ctx := context.Background()
			count := func() int {
				cps, err := l.Trail().Checkpoints(ctx, "")
				if err != nil {
					t.Fatal(err)
				}
				return len(cps)
			}
			for range 5 {
				before := count()
				for range 20 {
					if _, err := l.Issue(ctx, jwtledger.IssueRequest{Subject: "cadence"}); err != nil {
						t.Fatal(err)
					}
				}
				// Let the checkpoint loop act on the batch before the next
				// one: a new checkpoint, or (at most one an hour) the first.
				for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
					n := count()
					if n > before || tt.minInterval == time.Hour && n >= 1 {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("no checkpoint within 5s of a batch of 20 records (%d so far)", n)
					}
				}
			}
			var cps []trail.Checkpoint
			// Wait for the checkpoints that should come (or long enough for
			// the ones that should not).
			wait := 300 * time.Millisecond
			if tt.minInterval == time.Millisecond {
				wait = 5 * time.Second
			}
			for deadline := time.Now().Add(wait); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
				var err error
				if cps, err = l.Trail().Checkpoints(ctx, ""); err != nil {
					t.Fatal(err)
				}
				if tt.want(len(cps)) && tt.minInterval == time.Millisecond {
					break
				}
			}
			if !tt.want(len(cps)) {
				t.Fatalf("%d automatic checkpoints", len(cps))
			}
		})
	}
}
