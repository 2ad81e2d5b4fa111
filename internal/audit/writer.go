package audit

import (
	"context"
	"log/slog"
	"sync"
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
	stopped chan struct{}

	sinkMu sync.Mutex

	stats Stats
}

// Stats counts what the writer did, for metrics.
type Stats struct {
	Batches, Records uint64
	Failures         uint64
	CommitTime       time.Duration
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
		wake: make(chan struct{}, 1), stopped: make(chan struct{})}
	go w.run()
	return w
}

// Chain is the chain the writer appends to.
func (w *Writer) Chain() string { return w.chain }

// Append adds r to the next batch and waits until it is durable. An error
// means the record may not be durable and the caller must not act as if the
// event was recorded (fail closed).
func (w *Writer) Append(ctx context.Context, r *Record) error {
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
	select {
	case <-b.done:
		return b.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (w *Writer) run() {
	defer close(w.stopped)
	for {
		<-w.wake
		for {
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

func (w *Writer) flush(b *batch) {
	start := time.Now()
	err := w.store.Append(context.Background(), w.chain, b.recs)
	elapsed := time.Since(start)
	w.mu.Lock()
	w.stats.Batches++
	w.stats.Records += uint64(len(b.recs))
	w.stats.CommitTime += elapsed
	if err != nil {
		w.stats.Failures++
	}
	w.mu.Unlock()
	if err != nil {
		w.log.Error("audit append failed", "records", len(b.recs), "err", err)
		b.err = err
		close(b.done)
		return
	}
	close(b.done)
	w.Emit(b.recs)
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
