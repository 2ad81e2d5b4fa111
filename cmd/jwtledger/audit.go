package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/jwtledger/jwtledger"
	"github.com/jwtledger/jwtledger/internal/audit"
	"github.com/jwtledger/jwtledger/trail"
)

var auditCmd = &command{
	name:    "audit",
	summary: "read and check the audit ledger (tail, query, verify, export, prove, prune, ...)",
	doc: `Every issuance, verification, revocation and key or client change is a
record of this node's audit chain, a Merkle tree with signed checkpoints.
`,
	notes: strings.Join(wrap("Events (--event): "+eventList()+". audit.checkpoint is no record: it is an event of the JSON sink, and the checkpoints are what 'audit checkpoint' prints and the checkpoint file keeps.", 0, helpWidth), "\n") + `

Examples:
  jwtledger audit verify --checkpoint saved-checkpoints.log
  jwtledger audit key > audit.vkey
  jwtledger audit tail -n 5
  jwtledger audit query --event token.verify --outcome expired --since 24h
  jwtledger audit query --sub alice --output json
`,
	subs: []*command{
		{name: "verify", summary: "Recompute every record's leaf hash and every chain's Merkle tree, check every stored checkpoint's signature and root, and check that the ledger extends each --checkpoint. Reports the first damaged sequence number and the kind: modified, missing, reordered, truncated, bad_signature, fork. With --from-export it verifies an export offline instead (no database), pinning the verifier key with --key or --key-file.",
			notes: "Exit status: 0 intact, 1 damage found, 2 usage error.\n", flags: auditVerifyFlags},
		{name: "export", summary: "Stream the ledger: every chain's checkpoints and every record's leaf hash, with the full records whose time is in the range, so the export can be verified offline. Constant memory.", flags: auditExportFlags},
		{name: "prove", summary: "Print a proof bundle (JSON): record --seq, its RFC 6962 inclusion proof and the signed checkpoint it is proved against.", flags: auditProveFlags},
		{name: "verify-proof", args: "[BUNDLE|-]", summary: "Check a proof bundle with only the verifier key, without the database.",
			notes: "Exit status: 0 proved, 1 not proved, 2 usage error.\n", flags: auditVerifyProofFlags},
		{name: "prune", summary: "Remove the bodies of records older than --retain, only up to the newest checkpoint made before that, in small transactions. Leaf and tree hashes stay: verify still checks them and reports the range as pruned.", flags: auditPruneFlags},
		{name: "checkpoint", summary: "Sign a checkpoint of this node's chain now and print the note.", flags: auditCheckpointFlags},
		{name: "key", summary: "Print the note verifier key that checks this ledger's checkpoints.", flags: auditKeyFlags},
		{name: "tail", summary: "Show the newest -n records; with -f keep following new ones (JSON output is then one record per line).", flags: auditTailFlags},
		{name: "query", summary: "Show the matching records, oldest first (JSON output is an array). With --server, those of a running server.", flags: auditQueryFlags},
	},
}

// eventList names the events a record can have.
func eventList() string {
	names := make([]string, len(audit.Events))
	for i, e := range audit.Events {
		names[i] = string(e)
	}
	return strings.Join(names, ", ")
}

// filterFlags are the record filters of audit tail and query.
type filterFlags struct {
	since, until, event, outcome, sub, jti, actor *string
}

func addFilterFlags(fs *flag.FlagSet) *filterFlags {
	return &filterFlags{
		since:   fs.String("since", "", "records from time `T` on: RFC 3339, YYYY-MM-DD, or a duration ago (1h)"),
		until:   fs.String("until", "", "records before time `T`"),
		event:   fs.String("event", "", "records of the event `E` (see 'jwtledger audit --help')"),
		outcome: fs.String("outcome", "", "records of the outcome `O`: ok, denied, error, or a verification outcome"),
		sub:     fs.String("sub", "", "records of the subject `S`"),
		jti:     fs.String("jti", "", "records of the token `JTI`"),
		actor:   fs.String("actor", "", "records of the actor `A` (client id or local:USER)"),
	}
}

// filter reads the flags; an event that no record has is refused, with the
// list of those that are.
func (ff *filterFlags) filter() (trail.Filter, error) {
	f := trail.Filter{Event: trail.Event(*ff.event), Outcome: *ff.outcome, Sub: *ff.sub, JTI: *ff.jti, Actor: *ff.actor}
	if f.Event != "" && !slices.Contains(audit.Events, f.Event) {
		err := usageErr("%v: unknown event %q (want one of %s)", jwtledger.ErrInvalidRequest, f.Event, eventList())
		if f.Event == audit.AuditCheckpoint {
			return f, withHint(err, "checkpoints are not records: 'jwtledger audit checkpoint' makes one, the checkpoint file keeps them, 'jwtledger audit verify' checks them")
		}
		return f, err
	}
	now := time.Now()
	var err error
	if f.Since, err = parseTime(*ff.since, now); err != nil {
		return f, usageErr("audit: --since: %v", err)
	}
	if f.Until, err = parseTime(*ff.until, now); err != nil {
		return f, usageErr("audit: --until: %v", err)
	}
	return f, nil
}

func outputFlag(fs *flag.FlagSet) *string {
	return fs.String("output", "table", "`table|json`")
}

func checkOutput(output string) error {
	if output != "table" && output != "json" {
		return usageErr("audit: --output must be table or json")
	}
	return nil
}

func auditQueryFlags(fs *flag.FlagSet) runFunc {
	lf := addLedgerFlags(fs)
	output := outputFlag(fs)
	ff := addFilterFlags(fs)
	limit := fs.Int("limit", 0, "at most `N` records (default all)")
	rf := addRemoteFlags(fs)
	return func(ctx context.Context, c *cli, pos []string) error {
		if len(pos) > 0 {
			return usageErr("audit query: unexpected argument %q", pos[0])
		}
		if err := checkOutput(*output); err != nil {
			return err
		}
		if *limit < 0 {
			return usageErr("audit: --limit must not be negative")
		}
		f, err := ff.filter()
		if err != nil {
			return err
		}
		f.Limit = *limit
		var recs []*trail.Record
		if rf.on() {
			cl, err := rf.client()
			if err != nil {
				return err
			}
			if recs, err = cl.Audit(ctx, f); err != nil {
				return remoteErr(err)
			}
		} else {
			l, err := c.open(ctx, lf)
			if err != nil {
				return err
			}
			defer l.Close()
			if recs, err = l.Trail().Query(ctx, f); err != nil {
				return err
			}
		}
		if *output == "json" {
			return writeRecordArray(c.stdout, recs)
		}
		return printRecords(c.stdout, recs, *output, true)
	}
}

func auditTailFlags(fs *flag.FlagSet) runFunc {
	lf := addLedgerFlags(fs)
	output := outputFlag(fs)
	ff := addFilterFlags(fs)
	n := fs.Int("n", 20, "show the newest `N` records")
	follow := fs.Bool("f", false, "keep following new records")
	return func(ctx context.Context, c *cli, pos []string) error {
		if len(pos) > 0 {
			return usageErr("audit tail: unexpected argument %q", pos[0])
		}
		if err := checkOutput(*output); err != nil {
			return err
		}
		if *n < 0 {
			return usageErr("audit: -n must not be negative")
		}
		// tail reads the local ledger: one who set a server for the
		// other commands is told, not shown another ledger's records.
		if c.getenv("JWTLEDGER_SERVER") != "" {
			return withHint(usageErr("audit tail: reads the local ledger, and JWTLEDGER_SERVER is set"), "use 'jwtledger audit query --server URL' for a server's records")
		}
		f, err := ff.filter()
		if err != nil {
			return err
		}
		f.Limit, f.Newest = *n, true
		l, err := c.open(ctx, lf)
		if err != nil {
			return err
		}
		defer l.Close()
		recs, err := l.Trail().Query(ctx, f)
		if err != nil {
			return err
		}
		if !*follow {
			return printRecords(c.stdout, recs, *output, true)
		}
		// tail -f: print, then poll for records after the last one seen, in
		// fixed-width columns so that every batch lines up with the first.
		header := true
		for {
			if err := printFollowed(c.stdout, recs, *output, header); err != nil {
				return err
			}
			header = false
			if len(recs) > 0 {
				f.After = recs[len(recs)-1].ID
			}
			f.Newest, f.Limit = false, 1000
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(500 * time.Millisecond):
			}
			if recs, err = l.Trail().Query(ctx, f); err != nil {
				return err
			}
		}
	}
}

func writeRecordArray(w io.Writer, recs []*trail.Record) error {
	if recs == nil {
		recs = []*trail.Record{}
	}
	return writeJSON(w, recs)
}

// printRecords renders records as a table or JSON lines. Values that came
// from outside are quoted when they hold anything but printable text, so a
// record cannot smuggle terminal escapes.
func printRecords(w io.Writer, recs []*trail.Record, output string, header bool) error {
	if output == "json" {
		for _, r := range recs {
			j, err := r.MarshalJSON()
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "%s\n", j)
		}
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if header {
		fmt.Fprintln(tw, "SEQ\tTIME\tEVENT\tOUTCOME\tSUB\tJTI\tKID\tACTOR\tREASON")
	}
	for _, r := range recs {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Seq, r.Time.Local().Format("2006-01-02 15:04:05.000"),
			r.Event, safe(r.Outcome), safe(r.Sub), safe(r.JTI), safe(short(r.KID)), safe(r.Actor), safe(r.Reason))
	}
	return tw.Flush()
}

// followColumns are the widths of the table of audit tail -f (the last
// column, REASON, has none). Longer values are cut with "…".
var followColumns = []struct {
	name  string
	width int
}{{"SEQ", 7}, {"TIME", 23}, {"EVENT", 16}, {"OUTCOME", 17}, {"SUB", 16}, {"JTI", 22}, {"KID", 13}, {"ACTOR", 16}, {"REASON", 0}}

// printFollowed is printRecords for audit tail -f: the table's columns
// have fixed widths, since later batches are printed without the first.
func printFollowed(w io.Writer, recs []*trail.Record, output string, header bool) error {
	if output == "json" {
		return printRecords(w, recs, output, header)
	}
	row := func(cells ...string) string {
		var b strings.Builder
		for i, col := range followColumns {
			cell := cells[i]
			if col.width == 0 {
				b.WriteString(cell)
				break
			}
			if n := utf8.RuneCountInString(cell); n > col.width {
				cell = string([]rune(cell)[:col.width-1]) + "…"
			}
			b.WriteString(cell)
			b.WriteString(strings.Repeat(" ", col.width-utf8.RuneCountInString(cell)+2))
		}
		return strings.TrimRight(b.String(), " ") + "\n"
	}
	var out strings.Builder
	if header {
		names := make([]string, len(followColumns))
		for i, col := range followColumns {
			names[i] = col.name
		}
		out.WriteString(row(names...))
	}
	for _, r := range recs {
		out.WriteString(row(strconv.FormatUint(r.Seq, 10), r.Time.Local().Format("2006-01-02 15:04:05.000"),
			string(r.Event), safe(r.Outcome), safe(r.Sub), safe(r.JTI), safe(short(r.KID)), safe(r.Actor), safe(r.Reason)))
	}
	_, err := io.WriteString(w, out.String())
	return err
}

func short(kid string) string {
	if len(kid) > 12 {
		return kid[:12] + "…"
	}
	return kid
}

func safe(s string) string {
	if s == "" {
		return "-"
	}
	for _, r := range s {
		if !strconv.IsPrint(r) || r == '\t' {
			return strconv.Quote(s)
		}
	}
	if strings.ContainsAny(s, " ") && len(s) > 60 {
		return s[:57] + "..."
	}
	return s
}

// parseRetention reads a retention period: a Go duration ("720h") or a
// number of days ("400d").
func parseRetention(s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseInt(d, 10, 64)
		if err != nil || n <= 0 || n > 100*365 {
			return 0, fmt.Errorf("invalid retention %q (want for example 400d or 720h)", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("invalid retention %q (want for example 400d or 720h)", s)
	}
	return d, nil
}
