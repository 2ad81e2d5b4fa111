package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/jwtledger/jwtledger"
)

var auditCmd = &command{
	name:    "audit",
	summary: "read and check the audit ledger (tail, query, verify, export, prove, prune, ...)",
	usage: `Usage: jwtledger audit <subcommand> [flags]

Subcommands:
  verify [--checkpoint FILE]... [--output text|json] [--quiet]
        Recompute every record's leaf hash and every chain's Merkle tree,
        check every stored checkpoint's signature and root, and check that
        the ledger extends each checkpoint in FILE (notes as in
        checkpoints.log). Reports the first damaged sequence number and the
        kind: modified, missing, reordered, truncated, bad_signature, fork.
        With --from-export FILE it verifies an export offline instead (no
        database), pinning the verifier key with --key/--key-file.
        Exit 0 intact, 1 damage found, 2 usage error.
  export [--format jsonl|csv] [--since T] [--until T] [--out FILE]
        Stream the ledger: every chain's checkpoints and every record's leaf
        hash, with the full records whose time is in the range, so the export
        can be verified offline. Constant memory.
  prove --seq N [--chain C]
        Print a proof bundle (JSON): record N, its RFC 6962 inclusion proof
        and the signed checkpoint it is proved against.
  verify-proof --key VKEY|--key-file F [BUNDLE|-]
        Check a proof bundle with only the verifier key, without the
        database. Exit 0 proved, 1 not proved.
  prune --retain D
        Remove the bodies of records older than D (400d, 720h), only up to
        the newest checkpoint made before that, in small transactions. Leaf
        and tree hashes stay: verify still checks them and reports the range
        as pruned.
  checkpoint
        Sign a checkpoint of this node's chain now and print the note.
  key
        Print the note verifier key that checks this ledger's checkpoints.
  tail [-n N] [-f] [--output table|json]
        Show the newest N records (default 20); with -f keep following new
        ones (JSON output is then one record per line).
  query [--since T] [--until T] [--event E] [--outcome O] [--sub S]
        [--jti J] [--actor A] [--limit N] [--output table|json]
        Show the matching records, oldest first. T is RFC 3339, YYYY-MM-DD,
        or a duration ago (1h). JSON output is an array.

Events: token.issue, token.verify, token.revoke, key.create, key.rotate,
key.retire, client.create, client.delete, auth.denied, audit.checkpoint.

Examples:
  jwtledger audit verify --checkpoint saved-checkpoints.log
  jwtledger audit key > audit.vkey
  jwtledger audit tail -n 5
  jwtledger audit query --event token.verify --outcome expired --since 24h
  jwtledger audit query --sub alice --output json
`,
	run: runAudit,
}

func runAudit(ctx context.Context, c *cli, cmd *command, args []string) error {
	sub, args, err := c.subcommand(cmd, args)
	if err != nil {
		return err
	}
	switch sub {
	case "verify":
		return runAuditVerify(ctx, c, cmd, args)
	case "key", "checkpoint":
		return runAuditKey(ctx, c, cmd, sub, args)
	case "prove":
		return runAuditProve(ctx, c, cmd, args)
	case "verify-proof":
		return runAuditVerifyProof(ctx, c, cmd, args)
	case "export":
		return runAuditExport(ctx, c, cmd, args)
	case "prune":
		return runAuditPrune(ctx, c, cmd, args)
	}
	if sub != "tail" && sub != "query" {
		return withHint(usageErr("audit: unknown subcommand %q", sub), "run 'jwtledger audit --help'")
	}
	fs := c.newFlagSet(cmd)
	lf := addLedgerFlags(fs)
	output := fs.String("output", "table", "")
	n := fs.Int("n", 20, "")
	follow := fs.Bool("f", false, "")
	since := fs.String("since", "", "")
	until := fs.String("until", "", "")
	event := fs.String("event", "", "")
	outcome := fs.String("outcome", "", "")
	subject := fs.String("sub", "", "")
	jti := fs.String("jti", "", "")
	actor := fs.String("actor", "", "")
	limit := fs.Int("limit", 0, "")
	rf := addRemoteFlags(fs)
	pos, err := c.parse(cmd, fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErr("audit %s: unexpected argument %q", sub, pos[0])
	}
	if *output != "table" && *output != "json" {
		return usageErr("audit: --output must be table or json")
	}
	if *limit < 0 || *n < 0 {
		return usageErr("audit: --limit and -n must not be negative")
	}
	now := time.Now()
	f := jwtledger.AuditFilter{Event: jwtledger.AuditEvent(*event), Outcome: *outcome, Sub: *subject, JTI: *jti, Actor: *actor, Limit: *limit}
	if f.Since, err = parseTime(*since, now); err != nil {
		return usageErr("audit: --since: %v", err)
	}
	if f.Until, err = parseTime(*until, now); err != nil {
		return usageErr("audit: --until: %v", err)
	}
	if rf.on() {
		if sub != "query" {
			return usageErr("audit %s: --server works with audit query", sub)
		}
		recs, err := remoteQuery(ctx, rf, f)
		if err != nil {
			return err
		}
		if *output == "json" {
			return writeRecordArray(c.stdout, recs)
		}
		return printRecords(c.stdout, recs, *output, true)
	}
	if sub == "tail" {
		f.Limit, f.Newest = *n, true
	}
	l, err := c.open(ctx, lf)
	if err != nil {
		return err
	}
	defer l.Close()
	recs, err := l.Audit(ctx, f)
	if err != nil {
		return err
	}
	if sub == "query" || !*follow {
		if *output == "json" && sub == "query" {
			return writeRecordArray(c.stdout, recs)
		}
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
		if recs, err = l.Audit(ctx, f); err != nil {
			return err
		}
	}
}

func writeRecordArray(w io.Writer, recs []*jwtledger.Record) error {
	if recs == nil {
		recs = []*jwtledger.Record{}
	}
	return writeJSON(w, recs)
}

// printRecords renders records as a table or JSON lines. Values that came
// from outside are quoted when they hold anything but printable text, so a
// record cannot smuggle terminal escapes.
func printRecords(w io.Writer, recs []*jwtledger.Record, output string, header bool) error {
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
func printFollowed(w io.Writer, recs []*jwtledger.Record, output string, header bool) error {
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

// remoteQuery pages through GET /v1/audit.
func remoteQuery(ctx context.Context, rf *remoteFlags, f jwtledger.AuditFilter) ([]*jwtledger.Record, error) {
	q := url.Values{}
	for k, v := range map[string]string{"event": string(f.Event), "outcome": f.Outcome, "sub": f.Sub, "jti": f.JTI, "actor": f.Actor} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if !f.Since.IsZero() {
		q.Set("since", f.Since.UTC().Format(time.RFC3339Nano))
	}
	if !f.Until.IsZero() {
		q.Set("until", f.Until.UTC().Format(time.RFC3339Nano))
	}
	var out []*jwtledger.Record
	for {
		page := 1000
		if f.Limit > 0 {
			page = min(page, f.Limit-len(out))
		}
		q.Set("limit", strconv.Itoa(page))
		var resp struct {
			Records    []*jwtledger.Record `json:"records"`
			NextCursor string              `json:"next_cursor"`
		}
		if err := rf.call(ctx, "GET", "/v1/audit"+formatQuery(q), nil, &resp); err != nil {
			return nil, err
		}
		out = append(out, resp.Records...)
		if resp.NextCursor == "" || (f.Limit > 0 && len(out) >= f.Limit) {
			return out, nil
		}
		q.Set("cursor", resp.NextCursor)
	}
}
