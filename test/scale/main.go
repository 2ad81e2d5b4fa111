// Command scale measures the ledger at ten million records: it makes a
// ledger of that size through the library's real append path (Issue,
// Verify, Revoke, refusals, key rotations; many subjects and clients, a
// mix of verification outcomes, records spread over 30 simulated days),
// then measures the first page of every audit query filter (warm and in a
// fresh process), the console's overview counts, `audit verify`, and
// whether appending and checkpointing cost the same on it as on a fresh
// ledger (rounds interleaved in one run, in fresh processes).
//
//	go run ./test/scale gen -dir /tmp/l10m                 # 10 M records, at most 10 minutes
//	go run ./test/scale query -dir /tmp/l10m               # the query latency tables, the overview counts
//	go run ./test/scale verify -dir /tmp/l10m              # audit verify: records/s, cores, peak RSS
//	go run ./test/scale flat -dir /tmp/l10m                # append and checkpoint: 10 M vs fresh
//	go run ./test/scale all -dir /tmp/l10m                 # all four
//	go run ./test/scale gen -dir /tmp/pg -store postgres://... -records 3000000 -max-duration 15m
//	go run ./test/scale report before.json after.json  # saved -json reports: a before/after query table
//
// A generation tops up an existing ledger to -records. Every command prints
// Markdown tables (docs/performance.md holds them), or with -json one JSON
// report. See docs/performance.md, "The ledger at 10 million records".
package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/jwtledger/jwtledger"
	"github.com/jwtledger/jwtledger/keys"
	_ "github.com/jwtledger/jwtledger/store/postgres"
	_ "github.com/jwtledger/jwtledger/store/sqlite"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if os.Getenv(childEnv) != "" {
		os.Exit(runChild(ctx, os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// ledger names the ledger a command works on.
type ledger struct {
	dir   string // the data directory (master key, node id; the SQLite file by default)
	store string // Config.Store: empty (SQLite in dir), "sqlite:PATH" or "postgres://..."
	index bool   // Config.AuditIndex: the query index kept behind the commits (opt-in)
}

func (o ledger) config() jwtledger.Config {
	cfg := jwtledger.Config{DataDir: o.dir, Store: o.store, TextLog: "off", AuditIndex: o.index}
	if o.postgres() {
		// A shared store needs the master key given (every process of
		// the tool is a node of it): kept in the data directory.
		cfg.MasterKey = o.masterKey()
	}
	return cfg
}

// masterKey reads, or first makes, dir/scale-master.key; nil when it
// cannot (Open then says a key is needed).
func (o ledger) masterKey() []byte {
	p := filepath.Join(o.dir, "scale-master.key")
	if k, err := os.ReadFile(p); err == nil && len(k) == 32 {
		return k
	}
	k := make([]byte, 32)
	rand.Read(k)
	if os.MkdirAll(o.dir, 0o700) != nil || os.WriteFile(p, k, 0o600) != nil {
		return nil
	}
	return k
}

func (o ledger) postgres() bool {
	return strings.HasPrefix(o.store, "postgres://") || strings.HasPrefix(o.store, "postgresql://")
}

func (o ledger) backend() string {
	if o.postgres() {
		return "postgres"
	}
	return "sqlite"
}

func (o ledger) sqlitePath() string {
	if p, ok := strings.CutPrefix(o.store, "sqlite:"); ok {
		return p
	}
	return filepath.Join(o.dir, "jwtledger.db")
}

// storeBytes is the store's size: the SQLite file and its WAL, or the
// PostgreSQL database.
func (o ledger) storeBytes(ctx context.Context) (int64, error) {
	if o.postgres() {
		c, err := pgx.Connect(ctx, o.store)
		if err != nil {
			return 0, err
		}
		defer c.Close(ctx)
		var n int64
		return n, c.QueryRow(ctx, "SELECT pg_database_size(current_database())").Scan(&n)
	}
	var n int64
	for _, p := range []string{o.sqlitePath(), o.sqlitePath() + "-wal"} {
		if fi, err := os.Stat(p); err == nil {
			n += fi.Size()
		} else if !os.IsNotExist(err) {
			return 0, err
		}
	}
	return n, nil
}

// withDatabase is dsn naming database name instead.
func withDatabase(dsn, name string) (string, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return "", fmt.Errorf("postgres DSN must be a URL: %w", err)
	}
	u.Path = "/" + name
	return u.String(), nil
}

// pgExec runs one statement on the server of dsn.
func pgExec(ctx context.Context, dsn, stmt string) error {
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	_, err = c.Exec(ctx, stmt)
	return err
}

// options are every command's flags (each command reads those it needs).
type options struct {
	ledger
	gen   genOptions
	query queryOptions
	flat  flatOptions
	json  bool
}

func parse(cmd string, args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("scale "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.dir, "dir", "scale-ledger", "the ledger's data `directory`")
	fs.StringVar(&o.store, "store", "", "the store: empty for SQLite in -dir, `sqlite:PATH or postgres://...`")
	fs.BoolVar(&o.index, "audit-index", false, "open the ledger with the query index on (Config.AuditIndex; queries wait until it has caught up)")
	fs.BoolVar(&o.json, "json", false, "print one JSON report instead of Markdown tables")
	// gen
	fs.Int64Var(&o.gen.records, "records", 10_000_000, "gen: records the ledger should hold")
	fs.DurationVar(&o.gen.maxDuration, "max-duration", 10*time.Minute, "gen: stop after this long, whatever was reached")
	fs.IntVar(&o.gen.callers, "callers", 512, "gen: concurrent callers (the writer's batches grow with them)")
	fs.Float64Var(&o.gen.days, "days", 30, "gen: simulated days the new records spread over, ending now (at most 0.3 s per record)")
	alg := fs.String("alg", "HS256", "gen: algorithm of the managed keys")
	fs.IntVar(&o.gen.rotations, "rotations", 3, "gen: key rotations over the run")
	fs.Uint64Var(&o.gen.subjects, "subjects", 200_000, "gen: distinct subjects (Zipf)")
	fs.Uint64Var(&o.gen.seed, "seed", 1, "gen: random seed")
	// query
	fs.IntVar(&o.query.runs, "runs", 20, "query: warm runs per filter and order")
	fs.IntVar(&o.query.minRuns, "min-runs", 3, "query: warm runs at least, even beyond -budget")
	fs.DurationVar(&o.query.budget, "budget", 15*time.Second, "query: time after which a filter's warm runs stop (once -min-runs ran); a filter whose unmeasured first run took longer gets that run only")
	fs.BoolVar(&o.query.cold, "cold", true, "query: also one run per filter in a fresh process")
	fs.DurationVar(&o.query.coldMax, "cold-max", 5*time.Second, "query: no cold run for a filter whose warm p50 is longer (it scans; cold is no faster)")
	fs.StringVar(&o.query.coldCommand, "cold-command", "", "query: a shell `command` run before each cold run, e.g. one that restarts the PostgreSQL server so that its buffers are cold too (said in the report)")
	fs.BoolVar(&o.query.dropCaches, "drop-caches", true, "query, verify: drop the OS page cache before each cold run (needs root; said in the report; the whole machine's cache)")
	fs.StringVar(&o.query.only, "cases", "", "query: only the filters whose name contains this")
	orders := fs.String("orders", "oldest,newest", "query: page orders: oldest (the API's page: 100, oldest first), newest (the console's: 51, newest first)")
	// flat
	fs.IntVar(&o.flat.rounds, "rounds", 3, "flat: rounds (each: fresh and big, per algorithm, alternating)")
	fs.DurationVar(&o.flat.duration, "duration", 5*time.Second, "flat: measured load per run")
	fs.DurationVar(&o.flat.warmup, "warmup", time.Second, "flat: load before the measure")
	fs.IntVar(&o.flat.callers, "flat-callers", 64, "flat: concurrent callers")
	algs := fs.String("algs", "ES256,HS256", "flat: algorithms of the audited issue")
	fs.IntVar(&o.flat.checkpoints, "checkpoints", 10, "flat: checkpoints measured per run")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	o.gen.alg = keys.Alg(*alg)
	o.gen.ledger, o.query.ledger, o.flat.ledger = o.ledger, o.ledger, o.ledger
	o.query.orders = strings.Split(*orders, ",")
	for _, ord := range o.query.orders {
		if _, ok := pageOf[ord]; !ok {
			return nil, fmt.Errorf("-orders: unknown order %q", ord)
		}
	}
	for _, a := range strings.Split(*algs, ",") {
		o.flat.algs = append(o.flat.algs, keys.Alg(a))
	}
	switch {
	case o.gen.callers < 1 || o.flat.callers < 1:
		return nil, fmt.Errorf("callers must be positive")
	case o.gen.subjects < 10:
		return nil, fmt.Errorf("-subjects must be at least 10")
	case o.query.runs < 1 || o.flat.rounds < 1:
		return nil, fmt.Errorf("-runs and -rounds must be positive")
	}
	return o, nil
}

// report is everything a run measured; absent parts were not run.
type report struct {
	Machine machine       `json:"machine"`
	Gen     *genResult    `json:"gen,omitempty"`
	Query   *queryResult  `json:"query,omitempty"`
	Verify  *verifyResult `json:"verify,omitempty"`
	Flat    *flatResult   `json:"flat,omitempty"`
}

type machine struct {
	Date    string `json:"date"`
	CPUs    int    `json:"cpus"`
	Go      string `json:"go"`
	Commit  string `json:"commit,omitempty"`
	Backend string `json:"backend"`
}

const usage = `usage: scale gen|query|counts|verify|flat|all [flags]   (scale CMD -h lists the flags)
       scale report REPORT.json [AFTER.json]`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	cmd := args[0]
	if cmd == "report" {
		return reportCmd(args[1:], stdout, stderr)
	}
	o, err := parse(cmd, args[1:], stderr)
	if err != nil {
		fmt.Fprintln(stderr, "scale:", err)
		return 2
	}
	rep := &report{Machine: machine{Date: time.Now().UTC().Format(time.RFC3339), CPUs: runtime.NumCPU(), Go: runtime.Version(), Backend: o.backend()}}
	if b, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output(); err == nil {
		rep.Machine.Commit = strings.TrimSpace(string(b))
	}
	o.gen.progress = stderr
	steps := map[string][]string{"gen": {"gen"}, "query": {"query"}, "counts": {"counts"}, "verify": {"verify"}, "flat": {"flat"}, "all": {"gen", "query", "verify", "flat"}}[cmd]
	if steps == nil {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	for _, s := range steps {
		var err error
		switch s {
		case "gen":
			fmt.Fprintf(stderr, "scale: generating up to %d records (at most %s)\n", o.gen.records, o.gen.maxDuration)
			rep.Gen, err = generate(ctx, o.gen)
		case "query":
			rep.Query, err = measureQueries(ctx, o.query, stderr)
		case "counts":
			rep.Query, err = measureCountsOnly(ctx, o.query)
		case "verify":
			rep.Verify, err = measureVerify(ctx, o.ledger, o.query.dropCaches)
		case "flat":
			rep.Flat, err = measureFlat(ctx, o.flat, stderr)
		}
		if err != nil {
			fmt.Fprintf(stderr, "scale: %s: %v\n", s, err)
			return 1
		}
	}
	if o.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			fmt.Fprintln(stderr, "scale:", err)
			return 1
		}
		return 0
	}
	printReport(stdout, rep)
	return 0
}
