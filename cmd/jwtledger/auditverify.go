package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/jwtledger/jwtledger"
	"github.com/jwtledger/jwtledger/auditor"
	"github.com/jwtledger/jwtledger/trail"
)

func auditVerifyFlags(fs *flag.FlagSet) runFunc {
	lf := addLedgerFlags(fs)
	var cpFiles stringList
	fs.Var(&cpFiles, "checkpoint", "check that the ledger extends each checkpoint in `FILE` (signed notes as in checkpoints.log); repeat for several")
	output := fs.String("output", "text", "`text|json`")
	quiet := fs.Bool("quiet", false, "no progress bar")
	fromExport := fs.String("from-export", "", "verify the export in `FILE` offline instead (no database)")
	vkey := fs.String("key", "", "the note verifier `VKEY` that checks the checkpoints (see 'jwtledger audit key')")
	vkeyFile := fs.String("key-file", "", "read the verifier key from `FILE`")
	wf := addWitnessPolicyFlags(fs)
	return func(ctx context.Context, c *cli, pos []string) error {
		var err error
		if len(pos) > 0 {
			return usageErr("audit verify: unexpected argument %q", pos[0])
		}
		if *output != "text" && *output != "json" {
			return usageErr("audit verify: --output must be text or json")
		}
		var opt auditor.VerifyOptions
		if opt.Witnesses, opt.RequireWitnessed, err = wf.policy(c, "audit verify"); err != nil {
			return err
		}
		for _, f := range cpFiles {
			data, err := c.readInput(f, 64<<20)
			if err != nil {
				return err
			}
			notes := auditor.SplitNotes(data)
			if len(notes) == 0 {
				return usageErr("audit verify: --checkpoint %s holds no signed note", f)
			}
			opt.Checkpoints = append(opt.Checkpoints, notes...)
		}
		var rep *auditor.LogReport
		if *fromExport != "" {
			key, err := c.verifierKey(*vkey, *vkeyFile, false)
			if err != nil {
				return err
			}
			if key == "" {
				fmt.Fprintln(c.stderr, "jwtledger: warning: trusting the verifier key named inside the export; pin it with --key or --key-file")
			}
			f, err := os.Open(*fromExport)
			if err != nil {
				return usageErr("%v", err)
			}
			defer f.Close()
			if rep, err = auditor.VerifyExport(f, key, opt); err != nil {
				return usageErr("audit verify --from-export: %v", err)
			}
			return printAuditReport(c, rep, *output)
		}
		l, err := c.open(ctx, lf)
		if err != nil {
			return err
		}
		defer l.Close()
		bar := c.progress("verifying", *quiet)
		defer bar.finish()
		opt.Progress = bar.callback()
		if rep, err = l.Trail().Verify(ctx, opt); err != nil {
			return err
		}
		return printAuditReport(c, rep, *output)

	}
}

func printAuditReport(c *cli, rep *auditor.LogReport, output string) error {
	if output == "json" {
		if err := writeJSON(c.stdout, rep); err != nil {
			return err
		}
	} else {
		for _, ch := range rep.Chains {
			fmt.Fprintf(c.stdout, "chain %s: %d records, %d checkpoints, root %s\n", ch.Chain, ch.Records, ch.Checkpoints, ch.Root)
			if ch.Uncovered > 0 {
				fmt.Fprintf(c.stdout, "chain %s: %d newest records (from seq %d) not covered by a checkpoint yet\n", ch.Chain, ch.Uncovered, ch.UncoveredFrom)
			}
			if ch.Pruned > 0 {
				fmt.Fprintf(c.stdout, "chain %s: pruned: %d records (bodies removed by retention; leaf hashes verified)\n", ch.Chain, ch.Pruned)
			}
		}
		if f := rep.CheckpointFailure; f != nil {
			fmt.Fprintf(c.stdout, "checkpoints failing since %s (%d attempts): %s\n", f.Since.Format(time.RFC3339), f.Attempts, f.Err)
		}
		for _, w := range rep.Witnessing {
			switch {
			case w.Witnessed:
				fmt.Fprintf(c.stdout, "chain %s: witnessed: the newest checkpoint (%d records) is cosigned by %s\n", w.Chain, w.Newest, strings.Join(w.WitnessedBy, ", "))
			case w.NewestWitnessed > 0:
				fmt.Fprintf(c.stdout, "chain %s: not witnessed: the newest checkpoint (%d records) lacks the quorum; the newest witnessed checkpoint has %d records (cosigned by %s)\n", w.Chain, w.Newest, w.NewestWitnessed, strings.Join(w.WitnessedBy, ", "))
			default:
				fmt.Fprintf(c.stdout, "chain %s: not witnessed: no checkpoint meets the quorum\n", w.Chain)
			}
		}
		for _, d := range rep.Damage {
			fmt.Fprintf(c.stdout, "%s at seq %d of chain %s: %s\n", d.Kind, d.Seq, d.Chain, d.Detail)
		}
		if rep.OK {
			fmt.Fprintf(c.stdout, "ok: %d records verified, %d external checkpoints\n", rep.Records, rep.ExternalCheckpoints)
		}
	}
	if !rep.OK {
		return errRejected
	}
	return nil
}

func auditKeyFlags(fs *flag.FlagSet) runFunc {
	lf := addLedgerFlags(fs)
	return onLedger("audit key", lf, 0, func(ctx context.Context, c *cli, l *jwtledger.Ledger, pos []string) error {
		fmt.Fprintln(c.stdout, l.Trail().VerifierKey())
		return nil
	})
}

func auditCheckpointFlags(fs *flag.FlagSet) runFunc {
	lf := addLedgerFlags(fs)
	return onLedger("audit checkpoint", lf, 0, func(ctx context.Context, c *cli, l *jwtledger.Ledger, pos []string) error {
		cp, err := l.Trail().Checkpoint(ctx, trail.Meta(localMeta()))
		if err != nil {
			return err
		}
		fmt.Fprint(c.stdout, cp.Note)
		return nil
	})
}

func auditProveFlags(fs *flag.FlagSet) runFunc {
	lf := addLedgerFlags(fs)
	seq := fs.Int64("seq", 0, "the sequence number `N` of the record (required)")
	chain := fs.String("chain", "", "the `CHAIN` (node id) of the record (default: this node's)")
	return func(ctx context.Context, c *cli, pos []string) error {
		if len(pos) > 0 || *seq < 1 {
			return usageErr("audit prove: want --seq N (N >= 1) and no arguments")
		}
		l, err := c.open(ctx, lf)
		if err != nil {
			return err
		}
		defer l.Close()
		p, err := l.Trail().Prove(ctx, *chain, *seq)
		if err != nil {
			return err
		}
		return writeJSON(c.stdout, p)

	}
}

func auditVerifyProofFlags(fs *flag.FlagSet) runFunc {
	vkey := fs.String("key", "", "the note verifier `VKEY` that checks the checkpoints (see 'jwtledger audit key')")
	vkeyFile := fs.String("key-file", "", "read the verifier key from `FILE`")
	wf := addWitnessPolicyFlags(fs)
	return func(ctx context.Context, c *cli, pos []string) error {
		if len(pos) > 1 {
			return usageErr("audit verify-proof: want one bundle file (or stdin)")
		}
		policy, require, err := wf.policy(c, "audit verify-proof")
		if err != nil {
			return err
		}
		key, err := c.verifierKey(*vkey, *vkeyFile, true)
		if err != nil {
			return err
		}
		name := "-"
		if len(pos) == 1 {
			name = pos[0]
		}
		data, err := c.readInput(name, 16<<20)
		if err != nil {
			return err
		}
		var p auditor.Proof
		if err := json.Unmarshal(data, &p); err != nil {
			return usageErr("audit verify-proof: %s is not a proof bundle: %v", name, err)
		}
		rec, err := auditor.VerifyProof(&p, key)
		if err != nil {
			fmt.Fprintf(c.stdout, "invalid: %s\n", oneLine(err.Error()))
			return errRejected
		}
		if policy != nil {
			wr, err := policy.Verify([]byte(p.Checkpoint))
			var ue *auditor.UnwitnessedError
			switch {
			case err == nil:
				fmt.Fprintf(c.stdout, "witnessed: the checkpoint is cosigned by %s\n", strings.Join(wr.Cosigned(), ", "))
			case errors.As(err, &ue) && !require:
				fmt.Fprintf(c.stdout, "not witnessed: %s\n", oneLine(err.Error()))
			default:
				fmt.Fprintf(c.stdout, "invalid: %s\n", oneLine(err.Error()))
				return errRejected
			}
		}
		fmt.Fprintf(c.stdout, "ok: record %d of chain %s (%s %s) is in the signed checkpoint of %d records\n", rec.Seq, rec.Chain, rec.Event, rec.Outcome, p.TreeSize)
		return nil

	}
}

// verifierKey takes a note verifier key from --key or --key-file.
func (c *cli) verifierKey(key, file string, required bool) (string, error) {
	switch {
	case key != "" && file != "":
		return "", usageErr("--key and --key-file exclude each other")
	case file != "":
		data, err := c.readInput(file, 4096)
		if err != nil {
			return "", err
		}
		return strings.TrimSpace(string(data)), nil
	case key == "" && required:
		return "", usageErr("give the verifier key with --key or --key-file (see 'jwtledger audit key')")
	}
	return key, nil
}

func auditExportFlags(fs *flag.FlagSet) runFunc {
	lf := addLedgerFlags(fs)
	format := fs.String("format", "jsonl", "`jsonl|csv`")
	since := fs.String("since", "", "full records from time `T` on (RFC 3339, YYYY-MM-DD, or a duration ago like 24h)")
	until := fs.String("until", "", "full records before time `T`")
	out := fs.String("out", "", "write to the new `FILE` (mode 0600) instead of stdout")
	return func(ctx context.Context, c *cli, pos []string) error {
		if len(pos) > 0 {
			return usageErr("audit export: unexpected argument %q", pos[0])
		}
		if *format != "jsonl" && *format != "csv" {
			return usageErr("audit export: --format must be jsonl or csv")
		}
		now := time.Now()
		lo, err := parseTime(*since, now)
		if err != nil {
			return usageErr("audit export: --since: %v", err)
		}
		hi, err := parseTime(*until, now)
		if err != nil {
			return usageErr("audit export: --until: %v", err)
		}
		l, err := c.open(ctx, lf)
		if err != nil {
			return err
		}
		defer l.Close()
		w := c.stdout
		if *out != "" {
			f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				return usageErr("%v", err)
			}
			defer f.Close()
			w = f
		}
		return l.Trail().Export(ctx, w, auditor.ExportFormat(*format), lo, hi)

	}
}

func auditPruneFlags(fs *flag.FlagSet) runFunc {
	lf := addLedgerFlags(fs)
	retain := fs.String("retain", "", "remove the bodies of records older than `D` (400d, 720h; required)")
	return func(ctx context.Context, c *cli, pos []string) error {
		if len(pos) > 0 {
			return usageErr("audit prune: unexpected argument %q", pos[0])
		}
		if *retain == "" {
			return usageErr("audit prune: --retain is required (for example 400d)")
		}
		d, err := parseRetention(*retain)
		if err != nil {
			return usageErr("audit prune: %v", err)
		}
		l, err := c.open(ctx, lf)
		if err != nil {
			return err
		}
		defer l.Close()
		res, err := l.Trail().Prune(ctx, d)
		if err != nil {
			return err
		}
		if len(res) == 0 {
			fmt.Fprintln(c.stdout, "nothing to prune: no checkpoint is older than the retention")
		}
		for _, r := range res {
			fmt.Fprintf(c.stdout, "chain %s: pruned %d record bodies (up to the checkpoint of %d records)\n", r.Chain, r.Pruned, r.UpTo)
		}
		return nil

	}
}

// witnessPolicyFlags are the --witness-policy and --require-witnessed flags
// of the audit verifications.
type witnessPolicyFlags struct {
	file    *string
	require *bool
}

func addWitnessPolicyFlags(fs *flag.FlagSet) witnessPolicyFlags {
	return witnessPolicyFlags{
		file:    fs.String("witness-policy", "", "check the checkpoints' witness cosignatures against the policy in `FILE` (Sigsum/torchwood policy text: witness NAME VKEY, group, quorum)"),
		require: fs.Bool("require-witnessed", false, "a checkpoint that is not witnessed under --witness-policy is a failure"),
	}
}

// policy reads --witness-policy (nil when not given).
func (f witnessPolicyFlags) policy(c *cli, cmd string) (*auditor.Policy, bool, error) {
	if *f.file == "" {
		if *f.require {
			return nil, false, usageErr("%s: --require-witnessed needs --witness-policy", cmd)
		}
		return nil, false, nil
	}
	data, err := c.readInput(*f.file, auditor.MaxPolicySize)
	if err != nil {
		return nil, false, err
	}
	p, err := auditor.ParsePolicy(data)
	if err != nil {
		return nil, false, withHint(usageErr("%s: --witness-policy %s: %v", cmd, *f.file, err), "a policy has a line 'witness NAME VKEY' per witness and an optional 'quorum all|any|K|GROUP'")
	}
	return p, *f.require, nil
}
