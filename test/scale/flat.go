package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jwtledger/jwtledger"
	"github.com/jwtledger/jwtledger/keys"
	"github.com/jwtledger/jwtledger/trail"
)

type flatOptions struct {
	ledger
	rounds           int
	duration, warmup time.Duration
	callers          int
	algs             []keys.Alg
	checkpoints      int
}

// flatRun is one child's load: audited issue with a key of Alg by Callers
// goroutines, Warmup then Duration measured, then Checkpoints checkpoints.
type flatRun struct {
	Alg         keys.Alg
	Duration    time.Duration
	Warmup      time.Duration
	Callers     int
	Checkpoints int
}

type flatAnswer struct {
	RecordsBefore   int64   `json:"records_before"`
	Issued          int64   `json:"issued"` // in the measured window
	PerSecond       float64 `json:"per_second"`
	P50us           float64 `json:"p50_us"`
	P99us           float64 `json:"p99_us"`
	CheckpointP50ms float64 `json:"checkpoint_p50_ms"`
	CheckpointP99ms float64 `json:"checkpoint_p99_ms"`
}

// flatOnce is the child's job: open the ledger, load it, checkpoint it.
func flatOnce(ctx context.Context, o ledger, r flatRun) (*flatAnswer, error) {
	l, err := jwtledger.Open(ctx, o.config())
	if err != nil {
		return nil, err
	}
	defer l.Close()
	a := &flatAnswer{}
	if a.RecordsBefore, err = chainsOf(ctx, l); err != nil {
		return nil, err
	}
	// The same kind of key on both ledgers: an external one, so the
	// ledgers' own keys do not matter.
	k, err := keys.Generate(r.Alg)
	if err != nil {
		return nil, err
	}
	issue := func(i int) error {
		_, err := l.Issue(ctx, jwtledger.IssueRequest{Subject: "user-" + strconv.Itoa(i%5000), Audience: []string{"api"}, TTL: 15 * time.Minute,
			Key: k, Meta: jwtledger.Meta{Actor: "cl_flat", Remote: "127.0.0.1:1", RequestID: "flat-" + strconv.Itoa(i)}})
		return err
	}
	var measuring, stop atomic.Bool
	lat := make([][]time.Duration, r.Callers)
	errs := make(chan error, r.Callers)
	var wg sync.WaitGroup
	for g := range r.Callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; !stop.Load(); i += r.Callers {
				m := measuring.Load()
				t0 := time.Now()
				if err := issue(i); err != nil {
					errs <- err
					return
				}
				if m && measuring.Load() {
					lat[g] = append(lat[g], time.Since(t0))
				}
			}
		}()
	}
	wait := func(d time.Duration) error {
		select {
		case err := <-errs:
			return err
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(d):
			return nil
		}
	}
	if err := wait(r.Warmup); err != nil {
		stop.Store(true)
		wg.Wait()
		return nil, err
	}
	measuring.Store(true)
	t0 := time.Now()
	werr := wait(r.Duration)
	measuring.Store(false)
	elapsed := time.Since(t0)
	stop.Store(true)
	wg.Wait()
	if werr != nil {
		return nil, werr
	}
	var all []time.Duration
	for _, ls := range lat {
		all = append(all, ls...)
	}
	a.Issued = int64(len(all))
	a.PerSecond = float64(len(all)) / elapsed.Seconds()
	a.P50us, a.P99us = float64(percentile(all, 50))/1e3, float64(percentile(all, 99))/1e3
	// Checkpoints, each after a batch of appends as under load.
	var cps []time.Duration
	for c := range r.Checkpoints {
		var bw sync.WaitGroup
		for g := range r.Callers {
			bw.Add(1)
			go func() { defer bw.Done(); issue(c*r.Callers + g) }()
		}
		bw.Wait()
		t := time.Now()
		if _, err := l.Trail().Checkpoint(ctx, trail.Meta{Actor: "scale"}); err != nil {
			return nil, err
		}
		cps = append(cps, time.Since(t))
	}
	a.CheckpointP50ms, a.CheckpointP99ms = ms(percentile(cps, 50)), ms(percentile(cps, 99))
	return a, nil
}

// flatSample is one run of the parent's table.
type flatSample struct {
	Round  int      `json:"round"`
	Alg    keys.Alg `json:"alg"`
	Ledger string   `json:"ledger"` // "fresh" or "big"
	flatAnswer
	PeakRSS int64 `json:"peak_rss"`
}

// flatSummary compares the big ledger with fresh ones for one algorithm:
// medians of each, and the median of the rounds' paired ratios big/fresh.
type flatSummary struct {
	Alg                  keys.Alg `json:"alg"`
	FreshPerSecond       float64  `json:"fresh_per_second"`
	BigPerSecond         float64  `json:"big_per_second"`
	RatioPerSecond       float64  `json:"ratio_per_second"`
	FreshP99us           float64  `json:"fresh_p99_us"`
	BigP99us             float64  `json:"big_p99_us"`
	RatioP99             float64  `json:"ratio_p99"`
	FreshPeakRSS         float64  `json:"fresh_peak_rss"`
	BigPeakRSS           float64  `json:"big_peak_rss"`
	RatioPeakRSS         float64  `json:"ratio_peak_rss"`
	FreshCheckpointP50ms float64  `json:"fresh_checkpoint_p50_ms"`
	BigCheckpointP50ms   float64  `json:"big_checkpoint_p50_ms"`
	RatioCheckpoint      float64  `json:"ratio_checkpoint"`
}

type flatResult struct {
	Callers    int           `json:"callers"`
	Seconds    float64       `json:"seconds"`     // measured per run
	BigRecords int64         `json:"big_records"` // before the first run
	Runs       []flatSample  `json:"runs"`
	Summary    []flatSummary `json:"summary"`
}

// measureFlat runs, per round and algorithm, the load on a fresh ledger and
// on the big one, each in a fresh process, alternating which goes first.
func measureFlat(ctx context.Context, o flatOptions, progress io.Writer) (*flatResult, error) {
	res := &flatResult{Callers: o.callers, Seconds: o.duration.Seconds()}
	for round := range o.rounds {
		for _, alg := range o.algs {
			order := []string{"fresh", "big"}
			if round%2 == 1 {
				order = []string{"big", "fresh"}
			}
			for _, which := range order {
				s, err := o.runOne(ctx, round, alg, which)
				if err != nil {
					return nil, fmt.Errorf("round %d, %s, %s ledger: %w", round+1, alg, which, err)
				}
				if which == "big" && res.BigRecords == 0 {
					res.BigRecords = s.RecordsBefore
				}
				fmt.Fprintf(progress, "scale: flat round %d %-5s %-5s (%d records): %.0f/s p99 %.0f µs RSS %.0f MiB checkpoint p50 %.1f ms\n",
					round+1, alg, which, s.RecordsBefore, s.PerSecond, s.P99us, float64(s.PeakRSS)/(1<<20), s.CheckpointP50ms)
				res.Runs = append(res.Runs, *s)
			}
		}
	}
	for _, alg := range o.algs {
		res.Summary = append(res.Summary, summarize(res.Runs, alg))
	}
	return res, nil
}

func (o flatOptions) runOne(ctx context.Context, round int, alg keys.Alg, which string) (*flatSample, error) {
	l := o.ledger
	if which == "fresh" {
		dir, err := os.MkdirTemp("", "scale-fresh-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		l = ledger{dir: dir, index: o.index}
		if o.postgres() {
			name := strings.ToLower(fmt.Sprintf("scale_fresh_%d_%d_%s", os.Getpid(), round, alg))
			if err := pgExec(ctx, o.store, "CREATE DATABASE "+name); err != nil {
				return nil, err
			}
			defer pgExec(context.WithoutCancel(ctx), o.store, "DROP DATABASE "+name)
			if l.store, err = withDatabase(o.store, name); err != nil {
				return nil, err
			}
		}
	}
	var a flatAnswer
	p, err := spawn(ctx, &a, "flat", "-dir", l.dir, "-store", l.store, "-audit-index="+strconv.FormatBool(l.index), "-alg", string(alg), "-duration", o.duration.String(),
		"-warmup", o.warmup.String(), "-callers", strconv.Itoa(o.callers), "-checkpoints", strconv.Itoa(o.checkpoints))
	if err != nil {
		return nil, err
	}
	return &flatSample{Round: round + 1, Alg: alg, Ledger: which, flatAnswer: a, PeakRSS: p.PeakRSS}, nil
}

func summarize(runs []flatSample, alg keys.Alg) flatSummary {
	s := flatSummary{Alg: alg}
	type pair struct{ fresh, big *flatSample }
	pairs := map[int]*pair{}
	var rounds []int
	for i := range runs {
		r := &runs[i]
		if r.Alg != alg {
			continue
		}
		p := pairs[r.Round]
		if p == nil {
			p = &pair{}
			pairs[r.Round] = p
			rounds = append(rounds, r.Round)
		}
		if r.Ledger == "fresh" {
			p.fresh = r
		} else {
			p.big = r
		}
	}
	slices.Sort(rounds)
	var f, b, rr [4][]float64 // per second, p99, RSS, checkpoint
	for _, k := range rounds {
		p := pairs[k]
		if p.fresh == nil || p.big == nil {
			continue
		}
		fv := [4]float64{p.fresh.PerSecond, p.fresh.P99us, float64(p.fresh.PeakRSS), p.fresh.CheckpointP50ms}
		bv := [4]float64{p.big.PerSecond, p.big.P99us, float64(p.big.PeakRSS), p.big.CheckpointP50ms}
		for i := range fv {
			f[i], b[i] = append(f[i], fv[i]), append(b[i], bv[i])
			if fv[i] > 0 {
				rr[i] = append(rr[i], bv[i]/fv[i])
			}
		}
	}
	s.FreshPerSecond, s.BigPerSecond, s.RatioPerSecond = median(f[0]), median(b[0]), median(rr[0])
	s.FreshP99us, s.BigP99us, s.RatioP99 = median(f[1]), median(b[1]), median(rr[1])
	s.FreshPeakRSS, s.BigPeakRSS, s.RatioPeakRSS = median(f[2]), median(b[2]), median(rr[2])
	s.FreshCheckpointP50ms, s.BigCheckpointP50ms, s.RatioCheckpoint = median(f[3]), median(b[3]), median(rr[3])
	return s
}
