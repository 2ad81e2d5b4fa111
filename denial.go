package jwtledger

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jwtledger/jwtledger/internal/audit"
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

// Defaults of [DenialLimit].
const (
	DefaultDenialPerSource      = 1
	DefaultDenialPerSourceBurst = 5
	DefaultDenialTotal          = 5
	DefaultDenialTotalBurst     = 20
	DefaultDenialSummaryEvery   = 10 * time.Second
)

// maxDenialKeys bounds the per-source buckets kept; beyond it, new sources
// share the total bucket only.
const maxDenialKeys = 10000

func (d DenialLimit) withDefaults() DenialLimit {
	if d.PerSource <= 0 {
		d.PerSource = DefaultDenialPerSource
	}
	if d.PerSourceBurst <= 0 {
		d.PerSourceBurst = DefaultDenialPerSourceBurst
	}
	if d.Total <= 0 {
		d.Total = DefaultDenialTotal
	}
	if d.TotalBurst <= 0 {
		d.TotalBurst = DefaultDenialTotalBurst
	}
	if d.SummaryEvery <= 0 {
		d.SummaryEvery = DefaultDenialSummaryEvery
	}
	return d
}

type bucket struct {
	tokens float64
	last   time.Time
}

// take refills b at rate up to burst and takes one token if there is one.
func (b *bucket) take(now time.Time, rate float64, burst int) bool {
	if b.last.IsZero() {
		b.tokens = float64(burst)
	} else {
		b.tokens = min(float64(burst), b.tokens+now.Sub(b.last).Seconds()*rate)
	}
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true
	}
	return false
}

// denials is the limiter of RecordDenied.
type denials struct {
	cfg        DenialLimit
	mu         sync.Mutex
	total      bucket
	per        map[string]*bucket
	suppressed map[string]int // by source, since the last summary
	count      int
	since      time.Time
}

func denialKey(m Meta) (key, source string) {
	source = m.Remote
	if h, _, err := net.SplitHostPort(source); err == nil {
		source = h
	}
	return source + "\x00" + m.Actor, source
}

// allow reports whether a denial for m may be recorded now.
func (d *denials) allow(now time.Time, m Meta) bool {
	if d.cfg.Off {
		return true
	}
	key, source := denialKey(m)
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.per == nil {
		d.per, d.suppressed = map[string]*bucket{}, map[string]int{}
	}
	b := d.per[key]
	if b == nil {
		if len(d.per) >= maxDenialKeys {
			for k, old := range d.per { // forget sources whose bucket is full again
				if now.Sub(old.last).Seconds()*d.cfg.PerSource >= float64(d.cfg.PerSourceBurst) {
					delete(d.per, k)
				}
			}
		}
		if len(d.per) < maxDenialKeys {
			b = &bucket{}
			d.per[key] = b
		}
	}
	if (b == nil || b.take(now, d.cfg.PerSource, d.cfg.PerSourceBurst)) && d.total.take(now, d.cfg.Total, d.cfg.TotalBurst) {
		return true
	}
	if d.count == 0 {
		d.since = now
	}
	d.count++
	if len(d.suppressed) < maxDenialKeys || d.suppressed[source] > 0 {
		d.suppressed[source]++
	}
	return false
}

// summary takes the suppressed denials counted so far as a record, or nil.
func (d *denials) summary(l *Ledger) *audit.Record {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.count == 0 {
		return nil
	}
	type src struct {
		name string
		n    int
	}
	var top []src
	for s, n := range d.suppressed {
		top = append(top, src{s, n})
	}
	sort.Slice(top, func(i, j int) bool { return top[i].n > top[j].n || top[i].n == top[j].n && top[i].name < top[j].name })
	var parts []string
	for i, s := range top {
		if i == 5 {
			break
		}
		name := s.name
		if name == "" {
			name = "unknown"
		}
		parts = append(parts, fmt.Sprintf("%s %d", name, s.n))
	}
	rec := l.record(audit.AuthDeniedSuppressed, audit.Denied, Meta{Actor: "jwtledger"})
	rec.Reason = fmt.Sprintf("%d denials not recorded one by one since %s (limit per source and client %g/s, burst %d; all %g/s, burst %d) from %d sources; most: %s",
		d.count, d.since.UTC().Format(time.RFC3339), d.cfg.PerSource, d.cfg.PerSourceBurst, d.cfg.Total, d.cfg.TotalBurst, len(d.suppressed), strings.Join(parts, ", "))
	d.count = 0
	clear(d.suppressed)
	return rec
}

// SuppressedDenials is the number of denials counted but not yet
// summarized in an auth.denied.suppressed record.
func (l *Ledger) SuppressedDenials() int {
	l.denied.mu.Lock()
	defer l.denied.mu.Unlock()
	return l.denied.count
}

// flushDenials writes the summary of suppressed denials, if any.
func (l *Ledger) flushDenials(ctx context.Context) {
	rec := l.denied.summary(l)
	if rec == nil {
		return
	}
	if err := l.w.Record(ctx, func() *audit.Record { return rec }); err != nil {
		l.log.Warn("summary of suppressed denials not written", "err", err)
	}
}

// runDenialSummaries writes the summary every SummaryEvery until stop.
func (l *Ledger) runDenialSummaries(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(l.denied.cfg.SummaryEvery)
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
