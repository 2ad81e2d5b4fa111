// Package loadgen drives an HTTP endpoint with a fixed number of concurrent
// workers for a fixed time and reports throughput and latency percentiles.
// It only talks to the URL it is given; use loopback addresses for tests.
package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Request makes the i-th request of a worker.
type Request func(ctx context.Context) (*http.Request, error)

// Config is a load run.
type Config struct {
	Concurrency int
	Duration    time.Duration
	MaxRequests int64 // stop after this many, if positive
	Client      *http.Client
	Request     Request
	// Check, if set, decides whether a response counts as a success
	// (default: status 200).
	Check func(status int, body []byte) bool
	// Progress, if set, is called about every 200 ms with requests done.
	Progress func(done int64)
}

// Result is what a run measured.
type Result struct {
	Requests   int64         `json:"requests"`
	Errors     int64         `json:"errors"`
	Elapsed    time.Duration `json:"elapsed_ns"`
	PerSecond  float64       `json:"requests_per_second"`
	P50        time.Duration `json:"p50_ns"`
	P90        time.Duration `json:"p90_ns"`
	P99        time.Duration `json:"p99_ns"`
	Max        time.Duration `json:"max_ns"`
	FirstError string        `json:"first_error,omitempty"`
}

func (r *Result) String() string {
	return fmt.Sprintf("%d requests in %s, %.0f req/s, %d errors; latency p50 %s p90 %s p99 %s max %s",
		r.Requests, r.Elapsed.Round(time.Millisecond), r.PerSecond, r.Errors,
		r.P50.Round(time.Microsecond), r.P90.Round(time.Microsecond), r.P99.Round(time.Microsecond), r.Max.Round(time.Microsecond))
}

// NewClient is an HTTP client with enough idle connections for n workers.
func NewClient(n int) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = n * 2
	t.MaxIdleConnsPerHost = n * 2
	return &http.Client{Transport: t, Timeout: 30 * time.Second}
}

// Run runs the load and returns what it measured.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if cfg.Concurrency < 1 || cfg.Duration <= 0 || cfg.Request == nil {
		return nil, errors.New("loadgen: need concurrency >= 1, a positive duration and a request")
	}
	if cfg.Client == nil {
		cfg.Client = NewClient(cfg.Concurrency)
	}
	check := cfg.Check
	if check == nil {
		check = func(status int, _ []byte) bool { return status == http.StatusOK }
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	var done, errs atomic.Int64
	var firstErr atomic.Value
	lat := make([][]time.Duration, cfg.Concurrency)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range cfg.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := make([]time.Duration, 0, 4096)
			for ctx.Err() == nil {
				if cfg.MaxRequests > 0 && done.Load() >= cfg.MaxRequests {
					break
				}
				req, err := cfg.Request(ctx)
				if err != nil {
					firstErr.CompareAndSwap(nil, err.Error())
					errs.Add(1)
					continue
				}
				t0 := time.Now()
				resp, err := cfg.Client.Do(req)
				if err != nil {
					if ctx.Err() != nil {
						break // the run ended mid-request
					}
					firstErr.CompareAndSwap(nil, err.Error())
					errs.Add(1)
					done.Add(1)
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				mine = append(mine, time.Since(t0))
				if !check(resp.StatusCode, body) {
					firstErr.CompareAndSwap(nil, fmt.Sprintf("status %d: %.200s", resp.StatusCode, body))
					errs.Add(1)
				}
				done.Add(1)
			}
			lat[w] = mine
		}()
	}
	stopProgress := make(chan struct{})
	if cfg.Progress != nil {
		go func() {
			t := time.NewTicker(200 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-stopProgress:
					return
				case <-t.C:
					cfg.Progress(done.Load())
				}
			}
		}()
	}
	wg.Wait()
	close(stopProgress)
	elapsed := time.Since(start)
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	res := &Result{Requests: done.Load(), Errors: errs.Load(), Elapsed: elapsed}
	if s, ok := firstErr.Load().(string); ok {
		res.FirstError = s
	}
	res.PerSecond = float64(res.Requests) / elapsed.Seconds()
	if n := len(all); n > 0 {
		pct := func(p float64) time.Duration { return all[min(n-1, int(p*float64(n)))] }
		res.P50, res.P90, res.P99, res.Max = pct(0.50), pct(0.90), pct(0.99), all[n-1]
	}
	return res, nil
}
