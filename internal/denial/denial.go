// Package denial is the limiter of the ledger's auth.denied records: a
// token bucket per source address and client id, and one for all of them.
// Denials beyond the buckets are counted by source, and summarized on
// demand in one line.
package denial

import (
	"fmt"
	"net"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jwtledger/jwtledger/internal/defaults"
)

// maxKeys bounds the per-source buckets kept; beyond it, new sources share
// the total bucket only.
const maxKeys = 10000

// Limits are the rates (per second) and bursts of a [Limiter], all
// positive (see WithDefaults), and how often suppressed denials are
// summarized; Off lets every denial through. Its fields are those of
// jwtledger.DenialLimit, which converts to it.
type Limits struct {
	PerSource      float64
	PerSourceBurst int
	Total          float64
	TotalBurst     int
	SummaryEvery   time.Duration
	Off            bool
}

// defaultSummaryEvery is the default of Limits.SummaryEvery.
const defaultSummaryEvery = 10 * time.Second

// WithDefaults is l with the defaults in place of unset values.
func (l Limits) WithDefaults() Limits {
	if l.PerSource <= 0 {
		l.PerSource = defaults.DenialPerSource
	}
	if l.PerSourceBurst <= 0 {
		l.PerSourceBurst = defaults.DenialPerSourceBurst
	}
	if l.Total <= 0 {
		l.Total = defaults.DenialTotal
	}
	if l.TotalBurst <= 0 {
		l.TotalBurst = defaults.DenialTotalBurst
	}
	if l.SummaryEvery <= 0 {
		l.SummaryEvery = defaultSummaryEvery
	}
	return l
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

// Limiter decides which denials are recorded one by one. Its zero value
// is not usable; make one with [New].
type Limiter struct {
	cfg        Limits
	mu         sync.Mutex
	total      bucket
	per        map[string]*bucket
	suppressed map[string]int // by source, since the last summary
	count      int
	since      time.Time
}

// New returns a limiter with the limits cfg.
func New(cfg Limits) *Limiter {
	return &Limiter{cfg: cfg, per: map[string]*bucket{}, suppressed: map[string]int{}}
}

func key(remote, actor string) (key, source string) {
	source = remote
	if h, _, err := net.SplitHostPort(source); err == nil {
		source = h
	}
	return source + "\x00" + actor, source
}

// Allow reports whether a denial of actor from the address remote may be
// recorded now; if not, it is counted for the next [Limiter.Summary].
func (d *Limiter) Allow(now time.Time, remote, actor string) bool {
	if d.cfg.Off {
		return true
	}
	key, source := key(remote, actor)
	d.mu.Lock()
	defer d.mu.Unlock()
	b := d.per[key]
	if b == nil {
		if len(d.per) >= maxKeys {
			for k, old := range d.per { // forget sources whose bucket is full again
				if now.Sub(old.last).Seconds()*d.cfg.PerSource >= float64(d.cfg.PerSourceBurst) {
					delete(d.per, k)
				}
			}
		}
		if len(d.per) < maxKeys {
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
	if len(d.suppressed) < maxKeys || d.suppressed[source] > 0 {
		d.suppressed[source]++
	}
	return false
}

// Summary takes the denials counted since the last summary: the reason of
// an auth.denied.suppressed record naming their number, the limits and the
// five busiest sources; ok is false when there were none.
func (d *Limiter) Summary() (reason string, ok bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.count == 0 {
		return "", false
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
	reason = fmt.Sprintf("%d denials not recorded one by one since %s (limit per source and client %g/s, burst %d; all %g/s, burst %d) from %d sources; most: %s",
		d.count, d.since.UTC().Format(time.RFC3339), d.cfg.PerSource, d.cfg.PerSourceBurst, d.cfg.Total, d.cfg.TotalBurst, len(d.suppressed), strings.Join(parts, ", "))
	d.count = 0
	clear(d.suppressed)
	return reason, true
}
