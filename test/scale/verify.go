package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/jwtledger/jwtledger"
	"github.com/jwtledger/jwtledger/auditor"
)

// verifyResult is `audit verify` of the whole ledger, in a fresh process:
// with the OS page cache warm (the store read just before), and, in
// Cold, after dropping it.
type verifyResult struct {
	verifyRun
	Cold *verifyRun `json:"cold,omitempty"`
}

type verifyRun struct {
	Records          int64   `json:"records"`
	OK               bool    `json:"ok"`
	Seconds          float64 `json:"seconds"` // the verification, not the open
	RecordsPerSecond float64 `json:"records_per_second"`
	// Cores is the CPU time of the verification over its wall time.
	Cores   float64 `json:"cores"`
	PeakRSS int64   `json:"peak_rss"` // of the whole process, bytes
}

type verifyAnswer struct {
	Records int64   `json:"records"`
	OK      bool    `json:"ok"`
	Seconds float64 `json:"seconds"`
	CPUSecs float64 `json:"cpu_seconds"`
}

// measureVerify verifies the ledger twice, each in a fresh process: first
// after dropping the page cache (when cold, and if the kernel lets it),
// then again with the cache as the first left it.
func measureVerify(ctx context.Context, o ledger, cold bool) (*verifyResult, error) {
	once := func() (*verifyRun, error) {
		var a verifyAnswer
		p, err := spawn(ctx, &a, "verify", "-dir", o.dir, "-store", o.store, "-audit-index="+strconv.FormatBool(o.index))
		if err != nil {
			return nil, err
		}
		r := &verifyRun{Records: a.Records, OK: a.OK, Seconds: a.Seconds, PeakRSS: p.PeakRSS}
		if a.Seconds > 0 {
			r.RecordsPerSecond = float64(a.Records) / a.Seconds
			r.Cores = a.CPUSecs / a.Seconds
		}
		return r, nil
	}
	res := &verifyResult{}
	if cold && dropCaches() {
		c, err := once()
		if err != nil {
			return nil, err
		}
		res.Cold = c
	}
	w, err := once()
	if err != nil {
		return nil, err
	}
	res.verifyRun = *w
	return res, nil
}

// verifyOnce is the child's job: Trail().Verify, as `audit verify` runs it.
func verifyOnce(ctx context.Context, o ledger) (*verifyAnswer, error) {
	l, err := jwtledger.Open(ctx, o.config())
	if err != nil {
		return nil, err
	}
	defer l.Close()
	c0, t0 := cpuTime(), time.Now()
	rep, err := l.Trail().Verify(ctx, auditor.VerifyOptions{})
	if err != nil {
		return nil, err
	}
	a := &verifyAnswer{Records: rep.Records, OK: rep.OK, Seconds: time.Since(t0).Seconds(), CPUSecs: float64(cpuTime()-c0) / 1e9}
	if !rep.OK {
		b, _ := json.Marshal(rep)
		return a, fmt.Errorf("the ledger does not verify: %s", b)
	}
	return a, nil
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}
