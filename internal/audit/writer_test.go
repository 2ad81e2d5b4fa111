package audit_test

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jwtledger/jwtledger/internal/audit"
)

// memStore numbers and keeps records; fail decides the outcome of a batch.
type memStore struct {
	mu      sync.Mutex
	recs    []*audit.Record
	batches int
	inside  int // concurrent Append calls (must stay at most 1)
	overlap bool
	fail    func(batch int) error
}

func (m *memStore) Append(_ context.Context, chain string, recs []*audit.Record) error {
	m.mu.Lock()
	m.inside++
	if m.inside > 1 {
		m.overlap = true
	}
	m.batches++
	n := m.batches
	m.mu.Unlock()
	// Hold the commit open a little, as an fsync would, so batches form.
	time.Sleep(200 * time.Microsecond)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.inside--
	if m.fail != nil {
		if err := m.fail(n); err != nil {
			return err
		}
	}
	for _, r := range recs {
		r.Chain, r.Seq = chain, uint64(len(m.recs)+1)
		m.recs = append(m.recs, r)
	}
	return nil
}

func appendMany(w *audit.Writer, n int) []error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = w.Record(context.Background(), func() *audit.Record {
				return &audit.Record{Event: audit.TokenIssue, Outcome: audit.OK, JTI: string(rune('a' + i%26))}
			})
		}()
	}
	wg.Wait()
	return errs
}

// TestWriterGroupCommit drives the writer with concurrent callers and
// checks that every acknowledged record is stored exactly once, that
// commits never overlap, and that a failed (or panicking) commit fails
// exactly its own callers while the writer goes on.
func TestWriterGroupCommit(t *testing.T) {
	tests := []struct {
		name     string
		callers  int
		fail     func(batch int) error
		wantFail bool // some callers must see an error
	}{
		{name: "lone caller", callers: 1},
		{name: "concurrent callers", callers: 500},
		{name: "first commit fails", callers: 300, fail: func(n int) error {
			if n == 1 {
				return errors.New("disk full")
			}
			return nil
		}, wantFail: true},
		{name: "store panics", callers: 300, fail: func(n int) error {
			if n == 1 {
				panic("store bug")
			}
			return nil
		}, wantFail: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := &memStore{fail: tt.fail}
			w := audit.NewWriter(st, "n", nil, nil)
			var flushed int
			var fmu sync.Mutex
			w.AfterFlush = func(n int) { fmu.Lock(); flushed += n; fmu.Unlock() }
			errs := appendMany(w, tt.callers)
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			ok, failed := 0, 0
			for _, err := range errs {
				switch {
				case err == nil:
					ok++
				case strings.Contains(err.Error(), "disk full") || strings.Contains(err.Error(), "panicked"):
					failed++
				default:
					t.Fatalf("unexpected error %v", err)
				}
			}
			if st.overlap {
				t.Fatal("two commits ran at once")
			}
			if ok != len(st.recs) || ok != flushed {
				t.Fatalf("%d callers acknowledged, %d records stored, %d reported flushed", ok, len(st.recs), flushed)
			}
			if tt.wantFail != (failed > 0) {
				t.Fatalf("%d callers failed, want failures %v", failed, tt.wantFail)
			}
			if tt.callers > 1 && w.Stats().Batches >= uint64(tt.callers) {
				t.Fatalf("%d batches for %d callers: no grouping", w.Stats().Batches, tt.callers)
			}
			for i, r := range st.recs {
				if r.Seq != uint64(i+1) {
					t.Fatalf("record %d has seq %d", i, r.Seq)
				}
			}
		})
	}
}

// announce starts n callers whose operation runs until release is
// closed and records nothing, and returns once all of them are counted
// by the writer; wait waits until they have returned.
func announce(w *audit.Writer, n int, release <-chan struct{}) (wait func()) {
	var started, done sync.WaitGroup
	for range n {
		started.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			w.Record(context.Background(), func() *audit.Record {
				started.Done()
				<-release
				return nil
			})
		}()
	}
	started.Wait()
	return done.Wait
}

// waitQueued polls until n records wait in the pending batch.
func waitQueued(t *testing.T, w *audit.Writer, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); w.QueueDepth() != n; {
		if time.Now().After(deadline) {
			t.Fatalf("%d records pending, want %d", w.QueueDepth(), n)
		}
		runtime.Gosched()
	}
}

// TestWriterClose checks that Close commits what is pending, then refuses
// new records.
func TestWriterClose(t *testing.T) {
	st := &memStore{}
	w := audit.NewWriter(st, "n", nil, nil)
	// Announced callers that never arrive hold the batch open until
	// MaxLinger; Close must not wait for them.
	release := make(chan struct{})
	wait := announce(w, 10, release)
	defer wait()
	defer close(release)
	done := make(chan error, 1)
	go func() {
		done <- w.Record(context.Background(), func() *audit.Record {
			return &audit.Record{Event: audit.TokenIssue, Outcome: audit.OK}
		})
	}()
	waitQueued(t, w, 1)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("pending append: %v", err)
	}
	if len(st.recs) != 1 {
		t.Fatalf("%d records stored, want 1", len(st.recs))
	}
	if err := w.Record(context.Background(), func() *audit.Record { return &audit.Record{} }); !errors.Is(err, audit.ErrClosed) {
		t.Fatalf("append after close: %v, want ErrClosed", err)
	}
}

// TestWriterLinger checks that a batch waiting for announced callers that
// never come is committed after MaxLinger, not held forever.
func TestWriterLinger(t *testing.T) {
	st := &memStore{}
	w := audit.NewWriter(st, "n", nil, nil)
	defer w.Close()
	release := make(chan struct{})
	wait := announce(w, 7, release)
	defer wait()
	defer close(release)
	start := time.Now()
	if err := w.Record(context.Background(), func() *audit.Record { return &audit.Record{Event: audit.TokenIssue, Outcome: audit.OK} }); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < audit.MaxLinger/2 || d > time.Second {
		t.Fatalf("append took %v, want about MaxLinger (%v)", d, audit.MaxLinger)
	}
}
