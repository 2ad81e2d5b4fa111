package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"
	"github.com/rogpeppe/go-internal/testscript"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"jwtledger": func() {
			os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv))
		},
	})
}

// TestScripts runs the CLI scripts in testdata/script: each drives the
// jwtledger binary as a user would and checks output, exit codes and files.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			env.Setenv("JWTLEDGER_DATA_DIR", filepath.Join(env.WorkDir, "data"))
			env.Setenv("HOME", env.WorkDir)
			repo, err := filepath.Abs("../..")
			if err != nil {
				return err
			}
			env.Setenv("REPO", repo)
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"flip":       cmdFlip,
			"nosecret":   cmdNoSecret,
			"breakstore": cmdBreakStore,
			"checknote":  cmdCheckNote,
			"checkproof": cmdCheckProof,
			"stamp":      cmdStamp,
			"claimsof":   cmdClaimsOf,
		},
	})
}

// stamp FILE... replaces NOW, NOW+N and NOW-N in each file with the Unix
// time (plus or minus N seconds).
func cmdStamp(ts *testscript.TestScript, neg bool, args []string) {
	now := time.Now().Unix()
	for _, f := range args {
		out := stampRE.ReplaceAllStringFunc(ts.ReadFile(f), func(m string) string {
			n, _ := strconv.ParseInt(strings.TrimPrefix(m, "NOW"), 10, 64)
			return strconv.FormatInt(now+n, 10)
		})
		ts.Check(os.WriteFile(ts.MkAbs(f), []byte(out), 0o600))
	}
}

var stampRE = regexp.MustCompile(`NOW([+-][0-9]+)?`)

// claimsof TOKENFILE WANT checks that the token's payload holds exactly
// the members of the JSON object in WANT (a "*" value matches anything).
func cmdClaimsOf(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: claimsof TOKENFILE WANT")
	}
	tok := strings.Split(strings.TrimSpace(ts.ReadFile(args[0])), ".")
	payload, err := base64.RawURLEncoding.DecodeString(tok[1])
	ts.Check(err)
	var got, want map[string]any
	ts.Check(json.Unmarshal(payload, &got))
	ts.Check(json.Unmarshal([]byte(ts.ReadFile(args[1])), &want))
	same := len(got) == len(want)
	for k, w := range want {
		g, ok := got[k]
		wj, _ := json.Marshal(w)
		gj, _ := json.Marshal(g)
		same = same && ok && (w == "*" || string(wj) == string(gj))
	}
	if same == neg {
		ts.Fatalf("claims %s, want %s", payload, ts.ReadFile(args[1]))
	}
}

// flip IN OUT writes the token in IN with one payload character changed.
func cmdFlip(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: flip IN OUT")
	}
	tok := strings.TrimSpace(ts.ReadFile(args[0]))
	i := strings.IndexByte(tok, '.') + 6
	b := []byte(tok)
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	ts.Check(os.WriteFile(ts.MkAbs(args[1]), b, 0o600))
}

// nosecret DIR FILE... fails if any file below DIR contains a token from FILE.
func cmdNoSecret(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 2 {
		ts.Fatalf("usage: nosecret DIR TOKENFILE...")
	}
	var needles [][]byte
	for _, f := range args[1:] {
		tok := strings.TrimSpace(ts.ReadFile(f))
		needles = append(needles, []byte(tok), []byte(tok[strings.LastIndexByte(tok, '.')+1:]))
	}
	found := false
	filepath.Walk(ts.MkAbs(args[0]), func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		ts.Check(err)
		for _, n := range needles {
			if bytes.Contains(data, n) {
				ts.Logf("%s contains a token", path)
				found = true
			}
		}
		return nil
	})
	if found != neg {
		ts.Fatalf("token found in %s", args[0])
	}
}

// checknote VKEYFILE NOTESFILE checks every signed note in NOTESFILE with
// the verifier key in VKEYFILE, using only golang.org/x/mod/sumdb/note: an
// auditor's check, independent of jwtledger's code.
func cmdCheckNote(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: checknote VKEYFILE NOTESFILE")
	}
	v, err := note.NewVerifier(strings.TrimSpace(ts.ReadFile(args[0])))
	ts.Check(err)
	// The file alternates text blocks and signature blocks, separated by
	// blank lines: a note is one of each.
	blocks := strings.Split(strings.TrimSpace(ts.ReadFile(args[1])), "\n\n")
	checked := 0
	for i := 0; i+1 < len(blocks); i += 2 {
		n := blocks[i] + "\n\n" + blocks[i+1] + "\n"
		opened, err := note.Open([]byte(n), note.VerifierList(v))
		if err != nil {
			if neg {
				return
			}
			ts.Fatalf("note %d does not verify: %v", checked+1, err)
		}
		lines := strings.Split(opened.Text, "\n")
		if len(lines) < 3 || !strings.HasPrefix(lines[0], "jwtledger/") {
			ts.Fatalf("note %d is not a tlog checkpoint: %q", checked+1, opened.Text)
		}
		checked++
	}
	if checked == 0 && !neg {
		ts.Fatalf("no notes in %s", args[1])
	}
	if neg {
		ts.Fatalf("all %d notes verified", checked)
	}
}

// checkproof VKEYFILE BUNDLE checks a proof bundle printed by 'audit prove'
// with only golang.org/x/mod/sumdb/note and tlog, the way an outside
// auditor would, independent of jwtledger's code.
func cmdCheckProof(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: checkproof VKEYFILE BUNDLE")
	}
	v, err := note.NewVerifier(strings.TrimSpace(ts.ReadFile(args[0])))
	ts.Check(err)
	var b struct {
		Chain      string      `json:"chain"`
		Record     string      `json:"record"`
		LeafIndex  int64       `json:"leaf_index"`
		Proof      []tlog.Hash `json:"proof"`
		Checkpoint string      `json:"checkpoint"`
	}
	ts.Check(json.Unmarshal([]byte(ts.ReadFile(args[1])), &b))
	fail := func(format string, a ...any) {
		if !neg {
			ts.Fatalf(format, a...)
		}
	}
	n, err := note.Open([]byte(b.Checkpoint), note.VerifierList(v))
	if err != nil {
		fail("checkpoint: %v", err)
		return
	}
	lines := strings.Split(n.Text, "\n")
	size, err := strconv.ParseInt(lines[1], 10, 64)
	ts.Check(err)
	rootBytes, err := base64.StdEncoding.DecodeString(lines[2])
	ts.Check(err)
	var root tlog.Hash
	copy(root[:], rootBytes)
	if lines[0] != "jwtledger/"+b.Chain {
		fail("origin %q", lines[0])
		return
	}
	if err := tlog.CheckRecord(b.Proof, size, root, b.LeafIndex, tlog.RecordHash([]byte(b.Record))); err != nil {
		fail("inclusion: %v", err)
		return
	}
	if neg {
		ts.Fatalf("proof verified")
	}
}

// breakstore DB makes every audit insert into the SQLite file DB fail, as
// a full or failing disk would (chmod is no use: tests may run as root).
func cmdBreakStore(ts *testscript.TestScript, neg bool, args []string) {
	db, err := sql.Open("sqlite3", ts.MkAbs(args[0]))
	ts.Check(err)
	defer db.Close()
	_, err = db.Exec(`CREATE TRIGGER fail BEFORE INSERT ON audit BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END`)
	ts.Check(err)
}
