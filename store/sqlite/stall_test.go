//go:build cgo

package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/jwtledger/jwtledger/internal/audit"
	"github.com/jwtledger/jwtledger/internal/store/storetest"
	"github.com/jwtledger/jwtledger/store/sqlite"
)

// BenchmarkAppendStalls appends 200,000 records in batches of 22 (the
// batch size of the wrk soak) while the tree is extended every 1,000
// records, as a serving ledger does, and reports the slow appends: the
// soak's throughput dips are appends that wait for something else.
//
//	go test -run '^$' -bench AppendStalls -benchtime 1x ./store/sqlite
func BenchmarkAppendStalls(b *testing.B) {
	for _, pages := range []int{1000, 500, 250} {
		b.Run(fmt.Sprintf("checkpoint=%d", pages), func(b *testing.B) {
			sqlite.SetAutoCheckpoint(pages)
			defer sqlite.SetAutoCheckpoint(1000)
			appendStalls(b)
		})
	}
}

func appendStalls(b *testing.B) {
	for range b.N {
		db, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "s.db"), sqlite.Options{})
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		var lat []time.Duration
		recs := make([]*audit.Record, 22)
		n := 0
		for n < 200000 {
			for j := range recs {
				recs[j] = storetest.BenchRecord()
			}
			t0 := time.Now()
			if err := db.Append(ctx, "n", recs); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(t0))
			n += len(recs)
			if n%1012 < 22 {
				if _, err := db.BuildTree(ctx, "n"); err != nil {
					b.Fatal(err)
				}
			}
		}
		db.Close()
		slices.Sort(lat)
		over := func(d time.Duration) (k int) {
			for _, l := range lat {
				if l > d {
					k++
				}
			}
			return
		}
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(lat[len(lat)*999/1000].Microseconds()), "p99.9-µs")
		b.ReportMetric(float64(lat[len(lat)-1].Microseconds()), "max-µs")
		b.ReportMetric(float64(over(5*time.Millisecond)), "over-5ms")
		b.ReportMetric(float64(over(20*time.Millisecond)), "over-20ms")
	}
}

// BenchmarkAppendBehindTree appends 100,000 records in batches of 22 from
// one goroutine while another extends the tree every 1,000 records, as a
// serving ledger's checkpointer does, and reports the appends' latency:
// an append that needs the write connection while the tree is being
// extended waits for that transaction.
//
//	go test -run '^$' -bench AppendBehindTree -benchtime 1x ./store/sqlite
func BenchmarkAppendBehindTree(b *testing.B) {
	for range b.N {
		db, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "s.db"), sqlite.Options{})
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		kick := make(chan struct{}, 1)
		built := make(chan error, 1)
		go func() {
			var err error
			for range kick {
				if _, e := db.BuildTree(ctx, "n"); e != nil && err == nil {
					err = e
				}
			}
			built <- err
		}()
		var lat []time.Duration
		recs := make([]*audit.Record, 22)
		for n := 0; n < 100000; n += len(recs) {
			for j := range recs {
				recs[j] = storetest.BenchRecord()
			}
			t0 := time.Now()
			if err := db.Append(ctx, "n", recs); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(t0))
			if n%1012 < 22 {
				select {
				case kick <- struct{}{}:
				default:
				}
			}
		}
		close(kick)
		if err := <-built; err != nil {
			b.Fatal(err)
		}
		db.Close()
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
		b.ReportMetric(float64(lat[len(lat)-1].Microseconds()), "max-µs")
	}
}
