package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/schollz/progressbar/v3"

	"github.com/jwtledger/jwtledger"
	"github.com/jwtledger/jwtledger/internal/audit"
)

func runAuditVerify(ctx context.Context, c *cli, cmd *command, args []string) error {
	fs := c.newFlagSet(cmd)
	lf := addLedgerFlags(fs)
	var cpFiles stringList
	fs.Var(&cpFiles, "checkpoint", "")
	output := fs.String("output", "text", "")
	quiet := fs.Bool("quiet", false, "")
	pos, err := c.parse(cmd, fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErr("audit verify: unexpected argument %q", pos[0])
	}
	if *output != "text" && *output != "json" {
		return usageErr("audit verify: --output must be text or json")
	}
	var opt jwtledger.VerifyAuditOptions
	for _, f := range cpFiles {
		data, err := c.readInput(f, 64<<20)
		if err != nil {
			return err
		}
		notes := audit.SplitNotes(data)
		if len(notes) == 0 {
			return usageErr("audit verify: --checkpoint %s holds no signed note", f)
		}
		opt.Checkpoints = append(opt.Checkpoints, notes...)
	}
	l, err := c.open(ctx, lf)
	if err != nil {
		return err
	}
	defer l.Close()
	if !*quiet && isTerminal(c.stderr) {
		var bar *progressbar.ProgressBar
		opt.Progress = func(done, total int64) {
			if bar == nil {
				bar = progressbar.NewOptions64(total, progressbar.OptionSetWriter(c.stderr), progressbar.OptionSetDescription("verifying"),
					progressbar.OptionShowCount(), progressbar.OptionThrottle(100e6), progressbar.OptionClearOnFinish())
			}
			bar.Set64(done)
		}
	}
	rep, err := l.VerifyAudit(ctx, opt)
	if err != nil {
		return err
	}
	if *output == "json" {
		if err := writeJSON(c.stdout, rep); err != nil {
			return err
		}
	} else {
		for _, ch := range rep.Chains {
			fmt.Fprintf(c.stdout, "chain %s: %d records, %d checkpoints, root %s\n", ch.Chain, ch.Records, ch.Checkpoints, ch.Root)
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

func runAuditKey(ctx context.Context, c *cli, cmd *command, sub string, args []string) error {
	fs := c.newFlagSet(cmd)
	lf := addLedgerFlags(fs)
	pos, err := c.parse(cmd, fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErr("audit %s: unexpected argument %q", sub, pos[0])
	}
	l, err := c.open(ctx, lf)
	if err != nil {
		return err
	}
	defer l.Close()
	if sub == "key" {
		fmt.Fprintln(c.stdout, l.AuditVerifierKey())
		return nil
	}
	cp, err := l.Checkpoint(ctx, localMeta())
	if err != nil {
		return err
	}
	fmt.Fprint(c.stdout, cp.Note)
	return nil
}

// isTerminal reports whether w is a terminal (progress bars only go there).
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func runAuditProve(ctx context.Context, c *cli, cmd *command, args []string) error {
	fs := c.newFlagSet(cmd)
	lf := addLedgerFlags(fs)
	seq := fs.Int64("seq", 0, "")
	chain := fs.String("chain", "", "")
	pos, err := c.parse(cmd, fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 || *seq < 1 {
		return usageErr("audit prove: want --seq N (N >= 1) and no arguments")
	}
	l, err := c.open(ctx, lf)
	if err != nil {
		return err
	}
	defer l.Close()
	p, err := l.Prove(ctx, *chain, *seq)
	if err != nil {
		return err
	}
	return writeJSON(c.stdout, p)
}

func runAuditVerifyProof(ctx context.Context, c *cli, cmd *command, args []string) error {
	fs := c.newFlagSet(cmd)
	vkey := fs.String("key", "", "")
	vkeyFile := fs.String("key-file", "", "")
	pos, err := c.parse(cmd, fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return usageErr("audit verify-proof: want one bundle file (or stdin)")
	}
	if (*vkey == "") == (*vkeyFile == "") {
		return usageErr("audit verify-proof: give the verifier key with --key or --key-file (see 'jwtledger audit key')")
	}
	if *vkeyFile != "" {
		data, err := c.readInput(*vkeyFile, 4096)
		if err != nil {
			return err
		}
		*vkey = strings.TrimSpace(string(data))
	}
	name := "-"
	if len(pos) == 1 {
		name = pos[0]
	}
	data, err := c.readInput(name, 16<<20)
	if err != nil {
		return err
	}
	var p jwtledger.Proof
	if err := json.Unmarshal(data, &p); err != nil {
		return usageErr("audit verify-proof: %s is not a proof bundle: %v", name, err)
	}
	rec, err := jwtledger.VerifyProof(&p, *vkey)
	if err != nil {
		fmt.Fprintf(c.stdout, "invalid: %s\n", oneLine(err.Error()))
		return errRejected
	}
	fmt.Fprintf(c.stdout, "ok: record %d of chain %s (%s %s) is in the signed checkpoint of %d records\n", rec.Seq, rec.Chain, rec.Event, rec.Outcome, p.TreeSize)
	return nil
}
