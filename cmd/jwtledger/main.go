// Command jwtledger issues and verifies JWTs and keeps their audit trail.
// Run "jwtledger help" for the commands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"os/user"
	"strings"
	"syscall"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/jwtledger/jwtledger"
	"github.com/jwtledger/jwtledger/internal/keys"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

// Exit codes of the CLI contract.
const (
	exitOK       = 0
	exitRejected = 1 // the token was refused
	exitUsage    = 2 // usage or configuration error, store unavailable
)

// cli carries the process environment into the commands.
type cli struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
}

// exitError carries an exit code and an optional hint to main.
type exitError struct {
	code int
	err  error
	hint string
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usageErr(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

func withHint(err error, hint string) error {
	var ee *exitError
	if errors.As(err, &ee) {
		ee.hint = hint
		return ee
	}
	return &exitError{code: exitUsage, err: err, hint: hint}
}

// errRejected reports a refused token; the verdict is already printed.
var errRejected = &exitError{code: exitRejected, err: errors.New("token rejected")}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	c := &cli{stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv}
	if len(args) == 0 {
		writeTopHelp(stderr)
		return exitUsage
	}
	name := args[0]
	switch {
	case isHelp(name):
		if cmd := lookup(args[1:]); cmd != nil {
			writeHelp(stdout, cmd)
		} else {
			writeTopHelp(stdout)
		}
		return exitOK
	case name == "-version" || name == "--version":
		name = "version"
	}
	cmd := find(commands(), name)
	if cmd == nil {
		fmt.Fprintf(stderr, "jwtledger: error: unknown command %q\njwtledger: hint: run 'jwtledger help' for the commands\n", name)
		return exitUsage
	}
	err := c.dispatch(ctx, cmd, args[1:])
	if err == nil {
		return exitOK
	}
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	var ee *exitError
	if !errors.As(err, &ee) {
		ee = &exitError{code: exitUsage, err: err}
	}
	if ee == errRejected {
		return exitRejected
	}
	fmt.Fprintf(stderr, "jwtledger: error: %s\n", oneLine(ee.err.Error()))
	if ee.hint != "" {
		fmt.Fprintf(stderr, "jwtledger: hint: %s\n", ee.hint)
	}
	return ee.code
}

// oneLine keeps an error message on one line.
func oneLine(s string) string {
	return strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(s)
}

// parse parses args allowing flags after positional arguments, then fills
// unset flags from their JWTLEDGER_* environment twins.
func (c *cli) parse(cmd *command, fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	// A token may start with '-' (base64url allows it); flag names never
	// hold a '.', so such an argument is a token, not a flag.
	var flagArgs []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			flagArgs = append(flagArgs, args[i:]...)
			break
		}
		if name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "="); strings.HasPrefix(a, "-") && len(a) > 1 && strings.Contains(name, ".") {
			pos = append(pos, a)
			continue
		}
		flagArgs = append(flagArgs, a)
	}
	args = flagArgs
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				writeHelp(c.stdout, cmd)
				return nil, flag.ErrHelp
			}
			return nil, withHint(usageErr("%s: %v", cmd.path(), err), "run 'jwtledger "+cmd.path()+" --help'")
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		// flag stops at the first positional argument or at "--".
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		name := envName(f.Name)
		if set[f.Name] || envErr != nil || name == "" {
			return
		}
		if v := c.getenv(name); v != "" {
			if err := fs.Set(f.Name, v); err != nil {
				envErr = usageErr("%s: invalid value %q: %v", name, v, err)
			}
			set[f.Name] = true
		}
	})
	if envErr != nil {
		return nil, envErr
	}
	// A config file fills what neither a flag nor the environment set.
	if cf := fs.Lookup("config"); cf != nil && cf.Value.String() != "" {
		if err := applyConfigFile(fs, cf.Value.String(), set); err != nil {
			return nil, err
		}
	}
	return pos, nil
}

// envName is the environment twin of a flag: JWTLEDGER_DATA_DIR for
// --data-dir. One-letter flags (-n, -f) have none: JWTLEDGER_N would mean
// nothing to a reader of the environment, and would apply to every
// command with such a flag.
func envName(flag string) string {
	if len(flag) < 2 {
		return ""
	}
	return "JWTLEDGER_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// ledgerFlags are the flags of every command that opens the ledger.
type ledgerFlags struct {
	dataDir    string
	store      string
	nodeID     string
	issuer     string
	auditJSONL string
	textLog    string
	cpFile     string
	auditIndex bool
	// jsonlStdout allows --audit-jsonl - (stdout): only serve, whose
	// stdout carries nothing a program parses, sets it.
	jsonlStdout bool
}

func addLedgerFlags(fs *flag.FlagSet) *ledgerFlags {
	f := &ledgerFlags{}
	fs.StringVar(&f.dataDir, "data-dir", "", "the data directory `DIR` (default $XDG_DATA_HOME/jwtledger)")
	fs.StringVar(&f.store, "store", "", "the store `URL`: sqlite:PATH (default sqlite: in the data directory) or postgres://...")
	fs.StringVar(&f.nodeID, "node-id", "", "the `NAME` of this node's audit chain (default: node-id in the data directory)")
	fs.StringVar(&f.issuer, "issuer", "", "the iss `ISS` of issued tokens (default \"jwtledger\"; serve: its own URL)")
	fs.StringVar(&f.auditJSONL, "audit-jsonl", "", "also write audit records as JSON lines to `FILE` (serve: or - for stdout)")
	fs.StringVar(&f.textLog, "text-log", "", "the text audit log `PATH` (default DATA_DIR/jwt_logs.log; \"off\" disables)")
	fs.StringVar(&f.cpFile, "checkpoint-file", "", "the `FILE` that receives every signed checkpoint (default DATA_DIR/checkpoints.log)")
	fs.BoolVar(&f.auditIndex, "audit-index", false, "keep an index of the audit query filters behind the commits (fast queries on large ledgers; slows the SQLite append)")
	return f
}

// flagNames are the names of the flags add declares.
func flagNames(add func(fs *flag.FlagSet)) map[string]bool {
	fs := flag.NewFlagSet("", flag.ContinueOnError)
	add(fs)
	names := map[string]bool{}
	fs.VisitAll(func(f *flag.Flag) { names[f.Name] = true })
	return names
}

// The flags shared by many commands: the help lists them after a
// command's own.
var (
	ledgerFlagNames = flagNames(func(fs *flag.FlagSet) { addLedgerFlags(fs) })
	remoteFlagNames = flagNames(func(fs *flag.FlagSet) { addRemoteFlags(fs) })
)

// open opens the ledger for a command; the caller closes it.
func (c *cli) open(ctx context.Context, f *ledgerFlags) (*jwtledger.Ledger, error) {
	return c.openWith(ctx, f, nil)
}

// openWith is open with a last say on the configuration.
func (c *cli) openWith(ctx context.Context, f *ledgerFlags, mod func(*jwtledger.Config)) (*jwtledger.Ledger, error) {
	cfg := jwtledger.Config{DataDir: f.dataDir, Store: f.store, NodeID: f.nodeID, Issuer: f.issuer, TextLog: f.textLog, CheckpointFile: f.cpFile, AuditIndex: f.auditIndex}
	// The master key from the environment is the CLI's to read; the
	// library takes it as a value (else DataDir/master.key).
	if v := c.getenv("JWTLEDGER_MASTER_KEY"); v != "" {
		k, err := keys.DecodeMasterKey(v)
		if err != nil {
			return nil, usageErr("JWTLEDGER_MASTER_KEY: %v", err)
		}
		cfg.MasterKey = k
	}
	var jsonl *os.File
	switch f.auditJSONL {
	case "":
	case "-":
		if !f.jsonlStdout {
			return nil, withHint(usageErr("--audit-jsonl -: stdout carries this command's output; the audit lines would mix into it"), "give a file, or /dev/stderr")
		}
		cfg.JSONLog = c.stdout
	default:
		var err error
		jsonl, err = os.OpenFile(f.auditJSONL, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return nil, usageErr("open --audit-jsonl: %v", err)
		}
		cfg.JSONLog = jsonl
	}
	if mod != nil {
		mod(&cfg)
	}
	l, err := jwtledger.Open(ctx, cfg)
	if err != nil {
		if jsonl != nil {
			jsonl.Close()
		}
		return nil, withHint(usageErr("%v", err), "check --data-dir and --store (JWTLEDGER_DATA_DIR, JWTLEDGER_STORE)")
	}
	return l, nil
}

// onLedger is the run of a command that takes nargs arguments and works on
// the opened ledger.
func onLedger(name string, lf *ledgerFlags, nargs int, fn func(ctx context.Context, c *cli, l *jwtledger.Ledger, pos []string) error) runFunc {
	return func(ctx context.Context, c *cli, pos []string) error {
		if err := wantArgs(name, pos, nargs); err != nil {
			return err
		}
		l, err := c.open(ctx, lf)
		if err != nil {
			return err
		}
		defer l.Close()
		return fn(ctx, c, l, pos)
	}
}

// wantArgs checks the number of positional arguments of a command.
func wantArgs(cmd string, pos []string, n int) error {
	switch {
	case n == 0 && len(pos) > 0:
		return usageErr("%s: unexpected argument %q", cmd, pos[0])
	case len(pos) != n:
		return usageErr("%s: expected %d argument(s), got %d", cmd, n, len(pos))
	}
	return nil
}

// localMeta names the local user as the actor of CLI operations.
func localMeta() jwtledger.Meta {
	name := "unknown"
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	return jwtledger.Meta{Actor: "local:" + name}
}

// readInput reads a file argument, "-" meaning standard input.
func (c *cli) readInput(name string, limit int64) ([]byte, error) {
	var r io.Reader = c.stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, usageErr("%v", err)
		}
		defer f.Close()
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, usageErr("read %s: %v", name, err)
	}
	if int64(len(data)) > limit {
		return nil, usageErr("%s is larger than %d bytes", name, limit)
	}
	return data, nil
}

// parseTime reads an RFC 3339 time, a date (YYYY-MM-DD, midnight UTC) or a
// duration ago ("90m": 90 minutes ago); "" is the zero time.
func parseTime(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("invalid time %q (want RFC 3339, YYYY-MM-DD, or a duration ago like 1h)", s)
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error {
	*s = append(*s, v)
	return nil
}

var versionCmd = &command{
	name:    "version",
	summary: "print the version",
	flags: func(fs *flag.FlagSet) runFunc {
		return func(ctx context.Context, c *cli, pos []string) error {
			if len(pos) > 0 {
				return usageErr("version: unexpected argument %q", pos[0])
			}
			fmt.Fprintln(c.stdout, "jwtledger", version)
			return nil
		}
	},
}

const version = "0.3.0-dev"

// applyConfigFile sets, from a TOML file of flag-named keys, the flags that
// are not in set. Unknown keys are an error, not ignored.
func applyConfigFile(fs *flag.FlagSet, path string, set map[string]bool) error {
	var values map[string]any
	md, err := toml.DecodeFile(path, &values)
	if err != nil {
		return withHint(usageErr("config %s: %v", path, err), "see jwtledger.example.toml")
	}
	for _, key := range md.Keys() {
		name := key.String()
		f := fs.Lookup(name)
		if f == nil || name == "config" {
			return withHint(usageErr("config %s: unknown key %q", path, name), "keys are the flag names of 'jwtledger "+fs.Name()+" --help'")
		}
		if set[name] {
			continue
		}
		var vs []string
		switch x := values[name].(type) {
		case string:
			vs = []string{x}
		case int64, bool, float64:
			vs = []string{fmt.Sprint(x)}
		case []any: // a repeatable flag given several times
			for _, e := range x {
				s, ok := e.(string)
				if !ok {
					return usageErr("config %s: key %q: want an array of strings", path, name)
				}
				vs = append(vs, s)
			}
		default:
			return usageErr("config %s: key %q: want a string, number, boolean or array of strings", path, name)
		}
		for _, v := range vs {
			if err := fs.Set(name, v); err != nil {
				return usageErr("config %s: key %q: invalid value %q: %v", path, name, v, err)
			}
		}
	}
	return nil
}
