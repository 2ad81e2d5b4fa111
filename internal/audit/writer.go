package audit

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Store is where the writer makes records durable.
type Store interface {
	// Append assigns the next sequence numbers of chain to recs (setting
	// Seq, Chain and LeafHash), and stores them in one transaction. The
	// records must be durable once Append returns nil; on error none of
	// them may be visible.
	Append(ctx context.Context, chain string, recs []*Record) error
}

// Sink receives records after they are durable, in chain order. Sinks are
// secondary copies: their failures are logged, never returned to callers.
type Sink interface {
	Write(recs []*Record) error
	Close() error
}

// Writer appends records with group commit: concurrent [Writer.Append] calls
// are gathered into one store transaction (one fsync), and every caller is
// released together once that transaction is durable.
//
// Each caller pays a mutex-protected slice append and one wake-up; the single
// flusher goroutine owns encoding, the transaction and the sinks.
//
// Callers announce an operation with [Writer.Expect] before its expensive
// part (signing, verifying); they count as active until Append returns.
// While fewer than half of the active callers are waiting in the pending
// batch, the flusher lingers (up to [MaxLinger]): one commit and one fsync
// then serve half of them while the other half computes. A lone caller never
// waits.
type Writer struct {
	store Store
	chain string
	sinks []Sink
	log   *slog.Logger

	mu      sync.Mutex
	pending *batch
	spare   *batch
	closed  bool
	wake    chan struct{}
	arrive  chan struct{}
	stopped chan struct{}

	active   atomic.Int64 // announced callers that have not returned from Append
	busy     atomic.Int64 // requests in progress upstream (see Busy)
	inCommit atomic.Int64 // records of the batch being committed

	sinkMu sync.Mutex

	// AfterFlush, if set before the first Append, is called by the flusher
	// with the size of every batch made durable.
	AfterFlush func(n int)

	stats   Stats
	lastErr error // of the newest flush
}

// Stats counts what the writer did, for metrics.
type Stats struct {
	Batches, Records uint64
	Failures         uint64
	CommitTime       time.Duration
	// BatchSizes[i] counts batches of at most BatchSizeBounds[i] records
	// (the last bucket is unbounded); Commits[i] counts commits that took
	// at most CommitBounds[i] (the last bucket is unbounded).
	BatchSizes [len(BatchSizeBounds) + 1]uint64
	Commits    [len(CommitBounds) + 1]uint64
}

// Histogram bucket bounds of [Stats].
var (
	BatchSizeBounds = [...]float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024}
	CommitBounds    = [...]float64{0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1}
)

func bucket(bounds []float64, v float64) int {
	for i, b := range bounds {
		if v <= b {
			return i
		}
	}
	return len(bounds)
}

type batch struct {
	recs []*Record
	done chan struct{}
	err  error
}

// NewWriter starts a writer appending to chain in store. log may be nil.
func NewWriter(store Store, chain string, sinks []Sink, log *slog.Logger) *Writer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	w := &Writer{store: store, chain: chain, sinks: sinks, log: log,
		wake: make(chan struct{}, 1), arrive: make(chan struct{}, 1), stopped: make(chan struct{})}
	go w.run()
	return w
}

// MaxLinger bounds how long the flusher holds a batch open.
const MaxLinger = time.Millisecond

// maxBatch caps the records of one commit.
const maxBatch = 512

// Expect announces that the caller will Append a record soon. Every Expect
// must be followed by exactly one Append or Unexpect.
func (w *Writer) Expect() { w.active.Add(1) }

// Busy announces a request in progress that will probably Append a record
// (an HTTP request being served, from its first byte to its last): the
// flusher sizes batches from the callers it can expect, and requests being
// parsed or answered are not yet (or no longer) announced with Expect. Call
// the returned function when the request is done.
func (w *Writer) Busy() (done func()) {
	w.busy.Add(1)
	return w.idle
}

func (w *Writer) idle() {
	w.busy.Add(-1)
	w.signal()
}

// expected is how many callers may still join the pending batch: the
// announced ones (or the busy requests, if more) not already committing.
func (w *Writer) expected() int64 {
	return max(w.active.Load(), w.busy.Load()) - w.inCommit.Load()
}

// Unexpect withdraws an Expect that will not be followed by Append.
func (w *Writer) Unexpect() {
	w.active.Add(-1)
	w.signal()
}

func (w *Writer) signal() {
	select {
	case w.arrive <- struct{}{}:
	default:
	}
}

// Append adds r to the next batch and waits until it is durable. It
// ends the caller's [Writer.Expect]. An error
// means the record may not be durable and the caller must not act as if the
// event was recorded (fail closed).
func (w *Writer) Append(ctx context.Context, r *Record) error {
	defer w.Unexpect()
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return ErrClosed
	}
	b := w.pending
	if b == nil {
		b = w.spare
		w.spare = nil
		if b == nil {
			b = &batch{done: make(chan struct{})}
		}
		w.pending = b
	}
	b.recs = append(b.recs, r)
	first := len(b.recs) == 1
	w.mu.Unlock()
	if first {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
	w.signal()
	select {
	case <-b.done:
		return b.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (w *Writer) run() {
	defer close(w.stopped)
	linger := time.NewTimer(MaxLinger)
	linger.Stop()
	for {
		<-w.wake
		for {
			w.linger(linger)
			w.mu.Lock()
			b := w.pending
			w.pending = nil
			if w.spare == nil {
				w.spare = &batch{done: make(chan struct{}), recs: make([]*Record, 0, 64)}
			}
			w.mu.Unlock()
			if b == nil {
				break
			}
			w.flush(b)
		}
		w.mu.Lock()
		closed := w.closed && w.pending == nil
		w.mu.Unlock()
		if closed {
			return
		}
	}
}

// linger holds the pending batch open until half of the callers that may
// still join it wait in it, or for at most MaxLinger; a lone caller never
// waits. Committing when half wait lets the other half compute (sign,
// verify, parse, answer) while the commit and its fsync run, instead of the
// whole load converging on one batch and leaving the CPU idle during fsync.
func (w *Writer) linger(t *time.Timer) {
	if w.expected() <= 1 {
		return
	}
	t.Reset(MaxLinger)
	defer t.Stop()
	for {
		w.mu.Lock()
		n, closed := 0, w.closed
		if w.pending != nil {
			n = len(w.pending.recs)
		}
		w.mu.Unlock()
		if closed || n == 0 || n >= maxBatch || 2*int64(n) >= w.expected() {
			return
		}
		select {
		case <-w.arrive:
		case <-t.C:
			return
		}
	}
}

func (w *Writer) flush(b *batch) {
	start := time.Now()
	w.inCommit.Store(int64(len(b.recs)))
	err := w.store.Append(context.Background(), w.chain, b.recs)
	w.inCommit.Store(0)
	elapsed := time.Since(start)
	w.mu.Lock()
	w.stats.Batches++
	w.stats.Records += uint64(len(b.recs))
	w.stats.CommitTime += elapsed
	w.stats.BatchSizes[bucket(BatchSizeBounds[:], float64(len(b.recs)))]++
	w.stats.Commits[bucket(CommitBounds[:], elapsed.Seconds())]++
	if err != nil {
		w.stats.Failures++
	}
	w.lastErr = err
	w.mu.Unlock()
	if err != nil {
		w.log.Error("audit append failed", "records", len(b.recs), "err", err)
		b.err = err
		close(b.done)
		return
	}
	close(b.done)
	w.Emit(b.recs)
	if w.AfterFlush != nil {
		w.AfterFlush(len(b.recs))
	}
}

// Emit hands durable records to the sinks. Records appended by the store
// inside other transactions (key changes, revocations) come through here.
func (w *Writer) Emit(recs []*Record) {
	w.sinkMu.Lock()
	defer w.sinkMu.Unlock()
	for _, s := range w.sinks {
		if err := s.Write(recs); err != nil {
			w.log.Warn("audit sink write failed", "err", err)
		}
	}
}

// EmitCheckpoint hands an audit.checkpoint event to the sinks that want
// checkpoints (the JSON sink); it is not a record of any chain.
func (w *Writer) EmitCheckpoint(r *Record) {
	w.sinkMu.Lock()
	defer w.sinkMu.Unlock()
	for _, s := range w.sinks {
		if c, ok := s.(interface{ WantsCheckpoints() bool }); ok && c.WantsCheckpoints() {
			if err := s.Write([]*Record{r}); err != nil {
				w.log.Warn("audit sink write failed", "err", err)
			}
		}
	}
}

// Healthy returns the error of the newest batch, or nil when it was made
// durable (or none was tried yet).
func (w *Writer) Healthy() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lastErr
}

// QueueDepth is the number of records waiting for the next commit.
func (w *Writer) QueueDepth() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.pending == nil {
		return 0
	}
	return len(w.pending.recs)
}

// Stats returns a snapshot of the writer's counters.
func (w *Writer) Stats() Stats {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stats
}

// Close flushes pending records, stops the writer and closes the sinks.
func (w *Writer) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
	<-w.stopped
	var first error
	w.sinkMu.Lock()
	defer w.sinkMu.Unlock()
	for _, s := range w.sinks {
		if err := s.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}
