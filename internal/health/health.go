// Package health watches a ledger's store: the readiness probe (a cached
// small write, the store's identity and head, the newest audit commit and
// checkpoint attempt) and the loss of the store's identity, after which
// the ledger refuses every request and an embedded store saves a rescue
// copy of the file it still has open.
package health

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jwtledger/jwtledger/auditor"
	"github.com/jwtledger/jwtledger/internal/audit"
	"github.com/jwtledger/jwtledger/internal/defaults"
	"github.com/jwtledger/jwtledger/store"
)

// A successful readiness probe is reused for defaults.ReadyInterval: the
// store gets at most one probe write per interval, however often Ready is
// called. A failed probe is retried after readyRetry, so that readiness
// follows a store's return quickly.
const readyRetry = 200 * time.Millisecond

// readyTimeout bounds one probe: a store that does not answer is not ready.
const readyTimeout = 2 * time.Second

// Monitor is the health of one ledger's store. Set its fields, then
// LedgerID once it is known, before the first Ready.
type Monitor struct {
	Prober  store.Prober  // nil: Ping is the probe
	Rescuer store.Rescuer // nil: no rescue copy
	Ping    func(context.Context) error
	Writer  *audit.Writer
	// CheckpointFailure returns the failure of the newest checkpoint
	// attempt, or nil; Checkpoint retries one.
	CheckpointFailure func() *auditor.CheckpointFailure
	Checkpoint        func(context.Context)
	NodeID            string
	LedgerID          string
	DBPath            string // of an embedded store, for its rescue copy
	Log               *slog.Logger
	// ErrAudit wraps every failure the monitor reports.
	ErrAudit error

	ready readiness
	lost  lost
}

// readiness caches the newest probe.
type readiness struct {
	mu      sync.Mutex
	at      time.Time // when the newest finished probe started
	err     error
	running chan struct{} // closed when the running probe ends; nil when none runs
}

// lost records that the store's identity was lost.
type lost struct {
	err    atomic.Pointer[error]
	rescue chan struct{} // closed when the rescue copy is written
	once   sync.Once
}

// Failed returns the error that made the ledger unusable for good, or nil.
func (m *Monitor) Failed() error {
	if p := m.lost.err.Load(); p != nil {
		return *p
	}
	return nil
}

// WaitRescue waits for the rescue copy, if one is being written.
func (m *Monitor) WaitRescue() {
	if m.lost.rescue != nil {
		<-m.lost.rescue
	}
}

// Lose puts the ledger out of service after its store's identity was lost:
// an ERROR log line names the cause, and an embedded store that still has
// the old file open saves a copy of it (with a record saying which answers
// were not delivered) next to where it was.
func (m *Monitor) Lose(cause error) {
	m.lost.once.Do(func() {
		err := fmt.Errorf("%w: %w", m.ErrAudit, cause)
		m.lost.err.Store(&err)
		m.lost.rescue = make(chan struct{})
		m.Log.Error("store identity lost; refusing every request until restarted", "cause", cause.Error())
		go func() {
			defer close(m.lost.rescue)
			r := m.Rescuer
			if r == nil || m.DBPath == "" {
				return
			}
			dst := fmt.Sprintf("%s.rescued-%s", m.DBPath, time.Now().UTC().Format("20060102T150405Z"))
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			if err := r.Rescue(ctx, dst, m.NodeID, m.Writer.Undelivered()); err != nil {
				m.Log.Error("rescue copy of the lost database failed", "err", err)
				return
			}
			m.Log.Error("rescued the database this process had open: it holds every record acknowledged so far; move it into place before restarting", "copy", dst)
		}()
	})
}

// Ready reports whether the store can serve (see jwtledger's Ledger.Ready).
func (m *Monitor) Ready(ctx context.Context) error {
	if err := m.Failed(); err != nil {
		return err
	}
	// The part without a write (a stat and a statfs, or a ping) is checked
	// on every call.
	if p := m.Prober; p != nil {
		if err := p.CheckLive(ctx); errors.Is(err, store.ErrIdentity) {
			m.Lose(err)
			return m.Failed()
		} else if err != nil {
			return fmt.Errorf("%w: %w", m.ErrAudit, err)
		}
	}
	r := &m.ready
	r.mu.Lock()
	// A probe that failed, or whose success an append failure has since
	// contradicted, is redone after readyRetry.
	valid := defaults.ReadyInterval
	if r.err != nil || m.Writer.FailedSince(r.at) != nil {
		valid = readyRetry
	}
	if !r.at.IsZero() && time.Since(r.at) < valid {
		at, err := r.at, r.err
		r.mu.Unlock()
		return m.state(at, err)
	}
	ch := r.running
	if ch == nil {
		ch = make(chan struct{})
		r.running = ch
		prev := r.err
		go func() {
			start := time.Now()
			pctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
			err := m.probe(pctx, prev)
			cancel()
			r.mu.Lock()
			r.at, r.err, r.running = start, err, nil
			r.mu.Unlock()
			close(ch)
		}()
	}
	r.mu.Unlock()
	select {
	case <-ch:
	case <-ctx.Done():
		return ctx.Err()
	}
	r.mu.Lock()
	at, err := r.at, r.err
	r.mu.Unlock()
	return m.state(at, err)
}

// state combines the probe's result with what happened since it ran.
func (m *Monitor) state(at time.Time, probeErr error) error {
	if err := m.Failed(); err != nil {
		return err
	}
	if probeErr != nil {
		return probeErr
	}
	if err := m.Writer.FailedSince(at); err != nil {
		return fmt.Errorf("%w: last append failed: %v", m.ErrAudit, err)
	}
	if f := m.CheckpointFailure(); f != nil {
		return fmt.Errorf("%w: checkpoint failing since %s: %s", m.ErrAudit, f.Since.Format(time.RFC3339), f.Err)
	}
	return nil
}

// probe checks the store (see Ready).
func (m *Monitor) probe(ctx context.Context, prev error) error {
	p := m.Prober
	if p == nil {
		return m.Ping(ctx)
	}
	// What this process made durable before the probe reads the store's
	// head: appends committed meanwhile may be missing from its snapshot.
	ours := m.Writer.Head()
	id, head, err := p.Probe(ctx, m.NodeID)
	switch {
	case errors.Is(err, store.ErrIdentity):
		m.Lose(err)
		return m.Failed()
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%w: the store did not answer within %s", m.ErrAudit, readyTimeout)
	case err != nil:
		return fmt.Errorf("%w: %v", m.ErrAudit, err)
	case id != m.LedgerID:
		m.Lose(&store.IdentityError{What: fmt.Sprintf("the store now holds another ledger (ledger id %q; this process opened %q)", id, m.LedgerID)})
		return m.Failed()
	case uint64(head) < ours:
		m.Lose(&store.IdentityError{What: fmt.Sprintf("the store went back in time: chain %s has %d records, this process made %d durable", m.NodeID, head, ours)})
		return m.Failed()
	}
	// The store takes writes again: settle the batches that failed.
	if err := m.Writer.Reconcile(ctx); err != nil {
		return fmt.Errorf("%w: %v", m.ErrAudit, err)
	}
	// Checkpoints that failed while the store was away are retried at
	// once, not after their backoff: readiness follows the store's return.
	// (One that fails while the store takes writes, such as a damaged tree
	// page, keeps its backoff.)
	if f := m.CheckpointFailure(); f != nil && (prev != nil || !m.Writer.LastFailure().Before(f.Since.Add(-time.Second))) {
		m.Checkpoint(ctx)
	}
	return nil
}
