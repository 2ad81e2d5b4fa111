package jwtledger

import (
	"context"
	"time"

	"github.com/jwtledger/jwtledger/internal/audit"
	"github.com/jwtledger/jwtledger/internal/defaults"
	"github.com/jwtledger/jwtledger/internal/denial"
)

// DenialLimit bounds the auth.denied records that callers without valid
// credentials (or with, but refused) can make the ledger write: a token
// bucket per source address and client id, and one for all of them.
// Denials beyond the buckets are still refused, but only counted; one
// auth.denied.suppressed record per SummaryEvery gives their number and
// the busiest sources. The zero value means the defaults.
type DenialLimit struct {
	// PerSource is the sustained rate (records per second) for one source
	// address and client id, Burst its bucket. Defaults 1 and 5.
	PerSource      float64
	PerSourceBurst int
	// Total is the sustained rate for all sources together, TotalBurst
	// its bucket. Defaults 5 and 20.
	Total      float64
	TotalBurst int
	// SummaryEvery is how often suppressed denials are summarized.
	// Default 10s.
	SummaryEvery time.Duration
	// Off records every denial (no limit).
	Off bool
}

// defaultDenialSummaryEvery is the default of [DenialLimit].SummaryEvery.
const defaultDenialSummaryEvery = 10 * time.Second

func (d DenialLimit) withDefaults() DenialLimit {
	if d.PerSource <= 0 {
		d.PerSource = defaults.DenialPerSource
	}
	if d.PerSourceBurst <= 0 {
		d.PerSourceBurst = defaults.DenialPerSourceBurst
	}
	if d.Total <= 0 {
		d.Total = defaults.DenialTotal
	}
	if d.TotalBurst <= 0 {
		d.TotalBurst = defaults.DenialTotalBurst
	}
	if d.SummaryEvery <= 0 {
		d.SummaryEvery = defaultDenialSummaryEvery
	}
	return d
}

// flushDenials writes the summary of suppressed denials, if any.
func (l *Ledger) flushDenials(ctx context.Context) {
	reason, ok := l.denied.Summary()
	if !ok {
		return
	}
	rec := l.record(audit.AuthDeniedSuppressed, audit.Denied, Meta{Actor: "jwtledger"})
	rec.Reason = reason
	if err := l.w.Record(ctx, func() *audit.Record { return rec }); err != nil {
		l.log.Warn("summary of suppressed denials not written", "err", err)
	}
}

// runDenialSummaries writes the summary every SummaryEvery until stop.
func (l *Ledger) runDenialSummaries(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(l.cfg.DenialLimit.SummaryEvery)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			l.flushDenials(context.Background())
		}
	}
}

// limiter returns the denial limiter of d (defaults filled in).
func (d DenialLimit) limiter() *denial.Limiter {
	return denial.New(denial.Limits{PerSource: d.PerSource, PerSourceBurst: d.PerSourceBurst, Total: d.Total, TotalBurst: d.TotalBurst, Off: d.Off})
}
