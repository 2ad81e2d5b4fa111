package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"
)

// childEnv makes this program a child doing one measured job in a fresh
// process (nothing of the ledger in its memory; with the page cache
// dropped, nothing in the OS's either) and answering one JSON value.
const childEnv = "JWTLEDGER_SCALE_CHILD"

// proc is what the parent saw of a child.
type proc struct {
	Wall    time.Duration `json:"wall_ns"`
	CPU     time.Duration `json:"cpu_ns"`   // user and system
	PeakRSS int64         `json:"peak_rss"` // bytes
}

// spawn runs a child job (its kind, then its flags) and decodes its answer
// into out.
func spawn(ctx context.Context, out any, args ...string) (proc, error) {
	exe, err := os.Executable()
	if err != nil {
		return proc{}, err
	}
	cmd := exec.CommandContext(ctx, exe, args...)
	cmd.Env = append(os.Environ(), childEnv+"=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	began := time.Now()
	err = cmd.Run()
	p := proc{Wall: time.Since(began)}
	if cmd.ProcessState != nil {
		p.CPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
		p.PeakRSS = peakRSS(cmd.ProcessState)
	}
	if err != nil {
		return p, fmt.Errorf("child %s: %v: %s", args[0], err, strings.TrimSpace(stderr.String()))
	}
	if err := json.Unmarshal(stdout.Bytes(), out); err != nil {
		return p, fmt.Errorf("child %s: answer: %v", args[0], err)
	}
	return p, nil
}

// runChild does the job args name and prints its JSON answer.
func runChild(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "scale child: no job")
		return 2
	}
	var l ledger
	fs := flag.NewFlagSet("child "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&l.dir, "dir", "", "")
	fs.StringVar(&l.store, "store", "", "")
	fs.BoolVar(&l.index, "audit-index", false, "")
	filter := fs.String("case", "", "query: the case, JSON")
	var fo flatRun
	fs.StringVar((*string)(&fo.Alg), "alg", "ES256", "")
	fs.DurationVar(&fo.Duration, "duration", 5*time.Second, "")
	fs.DurationVar(&fo.Warmup, "warmup", time.Second, "")
	fs.IntVar(&fo.Callers, "callers", 64, "")
	fs.IntVar(&fo.Checkpoints, "checkpoints", 10, "")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	var out any
	var err error
	switch args[0] {
	case "query":
		var c queryCase
		if err = json.Unmarshal([]byte(*filter), &c); err == nil {
			out, err = coldQuery(ctx, l, c)
		}
	case "verify":
		out, err = verifyOnce(ctx, l)
	case "flat":
		out, err = flatOnce(ctx, l, fo)
	default:
		err = fmt.Errorf("unknown job %q", args[0])
	}
	if err != nil {
		fmt.Fprintln(stderr, "scale child:", err)
		return 1
	}
	if err := json.NewEncoder(stdout).Encode(out); err != nil {
		fmt.Fprintln(stderr, "scale child:", err)
		return 1
	}
	return 0
}

// dropCaches asks the kernel to drop the page cache (after a sync), and
// reports whether it did: it needs root, and a container may refuse it.
func dropCaches() bool {
	syncFS()
	return os.WriteFile("/proc/sys/vm/drop_caches", []byte("3\n"), 0o200) == nil
}
