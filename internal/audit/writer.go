package audit

import (
	"context"
	"fmt"
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

// Writer appends records with group commit: concurrent [Writer.Record] calls
// are gathered into one store transaction (one fsync), and every caller is
// released together once that transaction is durable.
//
// Callers hand [Writer.Record] the operation that makes the record: they
// count as active from its start (signing, verifying) until the record is
// durable.
// While fewer than half of the active callers wait in the pending batch,
// the batch is held open (up to [MaxLinger]): one commit and one fsync then
// serve half of them while the other half computes. A lone caller never
// waits.
//
// The caller whose record makes a batch ready commits it itself, on its own
// goroutine, when no other commit is running; a caller finishing a commit
// goes on with the next batch if that one is ready by then. A background
// flusher commits only the batches that nobody else does: those held open
// until MaxLinger, and the ones left when a committer stops. Handing every
// commit to one flusher goroutine instead costs a scheduler wake-up per
// batch, and under load a woken goroutine waits behind the runnable request
// goroutines (measured: the flusher spent 60% of its time runnable, not
// running, and the commits' latency held the callers idle).
type Writer struct {
	store Store
	chain string
	sinks []Sink
	log   *slog.Logger

	mu         sync.Mutex
	pending    *batch
	committing bool // a caller or the flusher is committing a batch
	closed     bool
	arrive     chan struct{}
	stopped    chan struct{}

	active   atomic.Int64 // announced callers that have not returned from Record
	busy     atomic.Int64 // requests in progress upstream (see Busy)
	inCommit atomic.Int64 // records of the batch being committed

	sinkMu sync.Mutex
	notify notifier

	// AfterFlush, if set before the first Record, is called by the
	// committer with the size of every batch made durable.
	AfterFlush func(n int)
	// OnError, if set before the first Record, is called by the committer
	// with the error of every batch that failed.
	OnError func(err error)

	stats   Stats
	lastErr error     // of the newest flush
	failed  time.Time // when a batch last failed

	head atomic.Uint64 // highest seq known durable in chain (this process's appends)

	recMu       sync.Mutex
	undelivered []Range // failed batches that may be stored after all
	recTried    time.Time
}

// Stats counts what the writer did, for metrics.
type Stats struct {
	Batches, Records uint64
	Failures         uint64
	// Undelivered counts records marked by an audit.undelivered record.
	Undelivered uint64
	CommitTime  time.Duration
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
	recs   []*Record
	opened time.Time
	done   chan struct{}
	err    error
}

// NewWriter starts a writer appending to chain in store. log may be nil.
func NewWriter(store Store, chain string, sinks []Sink, log *slog.Logger) *Writer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	w := &Writer{store: store, chain: chain, sinks: sinks, log: log,
		arrive: make(chan struct{}, 1), stopped: make(chan struct{})}
	go w.run()
	return w
}

// MaxLinger bounds how long a batch is held open.
const MaxLinger = time.Millisecond

// maxBatch caps the records of one commit.
const maxBatch = 512

// maxChain is how many batches in a row a caller commits: its own, and the
// next one if it is ready when that commit ends. More would delay the
// caller's own answer; the flusher takes over after that.
const maxChain = 2

// Busy announces a request in progress that will probably Record an event
// (an HTTP request being served, from its first byte to its last): batches
// are sized from the callers that can be expected, and requests being
// parsed or answered are not yet (or no longer) announced by Record. Call
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

// done ends an announced caller (see Record).
func (w *Writer) done() {
	w.active.Add(-1)
	w.signal()
}

// signal tells the flusher that the pending batch may have become ready
// (fewer callers are expected), when nobody is committing.
func (w *Writer) signal() {
	select {
	case w.arrive <- struct{}{}:
	default:
	}
}

// ready reports whether b should be committed now; w.mu is held.
func (w *Writer) ready(b *batch) bool {
	n := int64(len(b.recs))
	return w.closed || n >= maxBatch || 2*n >= w.expected() || time.Since(b.opened) >= MaxLinger
}

// Record is the one way to write a record: it runs op, the operation's
// expensive part (signing, verifying, a lookup), with the caller counted
// as one that will join the pending batch, then appends the record op
// returns to that batch and waits until it is durable. A nil record
// appends nothing (op found nothing to record; Record returns nil). An
// error means the record may not be durable and the caller must not act
// as if the event was recorded (fail closed).
func (w *Writer) Record(ctx context.Context, op func() *Record) error {
	w.active.Add(1)
	defer w.done()
	r := op()
	if r == nil {
		return nil
	}
	return w.add(ctx, r)
}

// add puts r in the pending batch and waits until it is durable.
func (w *Writer) add(ctx context.Context, r *Record) error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return ErrClosed
	}
	b := w.pending
	if b == nil {
		b = &batch{done: make(chan struct{}), recs: make([]*Record, 0, 32), opened: time.Now()}
		w.pending = b
	}
	b.recs = append(b.recs, r)
	if !w.committing && w.ready(b) {
		w.committing = true
		w.pending = nil
		w.mu.Unlock()
		w.commit(b, maxChain)
		return b.err
	}
	first := len(b.recs) == 1
	w.mu.Unlock()
	if first {
		// The flusher bounds how long this batch stays open.
		w.signal()
	}
	select {
	case <-b.done:
		return b.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// commit makes b durable, then goes on with the pending batch while it is
// ready, up to limit batches in all (no limit when limit <= 0). The caller
// has set w.committing; commit clears it.
func (w *Writer) commit(b *batch, limit int) {
	for n := 1; ; n++ {
		w.flush(b)
		w.mu.Lock()
		next := w.pending
		if next != nil && (limit <= 0 || n < limit) && w.ready(next) {
			w.pending = nil
			w.mu.Unlock()
			b = next
			continue
		}
		w.committing = false
		wake := next != nil || w.closed
		w.mu.Unlock()
		if wake {
			w.signal()
		}
		return
	}
}

// run is the flusher: it commits the pending batch once it is ready and
// nobody else does (held open for MaxLinger, or left by a committer), and
// everything pending at Close.
func (w *Writer) run() {
	defer close(w.stopped)
	t := time.NewTimer(MaxLinger)
	t.Stop()
	for {
		w.mu.Lock()
		b := w.pending
		switch {
		case b == nil && w.closed && !w.committing:
			w.mu.Unlock()
			return
		case b != nil && !w.committing && w.ready(b):
			w.committing = true
			w.pending = nil
			w.mu.Unlock()
			w.commit(b, 0)
			continue
		}
		var wait time.Duration
		if b != nil && !w.committing {
			wait = MaxLinger - time.Since(b.opened)
		}
		w.mu.Unlock()
		if wait > 0 {
			t.Reset(wait)
			select {
			case <-w.arrive:
				t.Stop()
			case <-t.C:
			}
		} else {
			<-w.arrive
		}
	}
}

func (w *Writer) flush(b *batch) {
	start := time.Now()
	w.inCommit.Store(int64(len(b.recs)))
	w.reconcile(context.Background(), false)
	err := w.append(b.recs)
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
	if err != nil {
		w.failed = time.Now()
	}
	w.mu.Unlock()
	if err != nil {
		w.log.Error("audit append failed", "records", len(b.recs), "err", err)
		if r, ok := rangeOf(b.recs, err); ok {
			w.recMu.Lock()
			w.undelivered = append(w.undelivered, r)
			w.recMu.Unlock()
		}
		if w.OnError != nil {
			w.OnError(err)
		}
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

// append stores recs. A panic in the store fails the batch like an error
// instead of unwinding the committer (a request goroutine whose panic the
// HTTP server would recover, leaving the writer committing forever).
func (w *Writer) append(recs []*Record) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("audit store panicked: %v", p)
		}
	}()
	return w.store.Append(context.Background(), w.chain, recs)
}

// Emit hands durable records to the sinks. Records appended by the store
// inside other transactions (key changes, revocations) come through here.
func (w *Writer) Emit(recs []*Record) {
	w.advance(recs)
	w.sinkMu.Lock()
	for _, s := range w.sinks {
		if err := s.Write(recs); err != nil {
			w.log.Warn("audit sink write failed", "err", err)
		}
	}
	w.sinkMu.Unlock()
	w.notify.wake()
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

// FailedSince returns the error of the newest batch if it failed after t.
func (w *Writer) FailedSince(t time.Time) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.lastErr != nil && w.failed.After(t) {
		return w.lastErr
	}
	return nil
}

// LastFailure is when a batch last failed (zero if none did).
func (w *Writer) LastFailure() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.failed
}

func (w *Writer) advance(recs []*Record) {
	var top uint64
	for _, r := range recs {
		if r.Chain == w.chain {
			top = max(top, r.Seq)
		}
	}
	for {
		h := w.head.Load()
		if top <= h || w.head.CompareAndSwap(h, top) {
			return
		}
	}
}

// Head is the highest sequence number of the writer's chain that this
// process knows to be durable.
func (w *Writer) Head() uint64 { return w.head.Load() }

// Reconcile settles the batches whose commit failed: for each one the
// store holds after all, an audit.undelivered record is appended (see
// [UndeliveredRecord]); the ones it does not hold are forgotten. The ones
// it cannot tell yet (the store is still away) stay for the next call.
// Commits call it too, at most every 200 ms while batches fail.
func (w *Writer) Reconcile(ctx context.Context) error {
	return w.reconcile(ctx, true)
}

// Undelivered takes the failed batches not settled yet (see Reconcile).
func (w *Writer) Undelivered() []Range {
	w.recMu.Lock()
	defer w.recMu.Unlock()
	rs := w.undelivered
	w.undelivered = nil
	return rs
}

func (w *Writer) reconcile(ctx context.Context, force bool) error {
	w.recMu.Lock()
	defer w.recMu.Unlock()
	if len(w.undelivered) == 0 || (!force && time.Since(w.recTried) < 200*time.Millisecond) {
		return nil
	}
	w.recTried = time.Now()
	rr, ok := w.store.(RecordReader)
	if !ok {
		w.undelivered = nil
		return nil
	}
	var keep []Range
	var marks []*Record
	var n uint64
	for _, r := range w.undelivered {
		yes, decided := present(ctx, rr, w.chain, r)
		switch {
		case !decided:
			keep = append(keep, r)
		case yes:
			marks = append(marks, UndeliveredRecord(r, time.Now()))
			n += r.Last - r.First + 1
		}
	}
	if len(marks) > 0 {
		if err := w.append(marks); err != nil {
			return err // all kept for the next try
		}
		w.Emit(marks)
		w.mu.Lock()
		w.stats.Undelivered += n
		w.mu.Unlock()
		w.log.Warn("audit records marked undelivered", "records", n, "markers", len(marks))
	}
	w.undelivered = keep
	return nil
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
	w.signal()
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
