package jwtledger

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jwtledger/jwtledger/store"
)

// ReadyInterval is how long a successful readiness probe is reused: the
// store gets at most one probe write per interval, however often
// [Ledger.Ready] is called. A failed probe is retried after
// readyRetry, so that readiness follows a store's return quickly.
const ReadyInterval = time.Second

const readyRetry = 200 * time.Millisecond

// readyTimeout bounds one probe: a store that does not answer is not ready.
const readyTimeout = 2 * time.Second

// ErrStoreLost means the ledger's store is no longer the one it opened (its
// database file was deleted, replaced or truncated, or it holds another
// ledger): every operation fails until the process is restarted on a store
// that is the ledger's own.
var ErrStoreLost = store.ErrIdentity

// readiness caches the newest probe (see Ledger.Ready).
type readiness struct {
	mu      sync.Mutex
	at      time.Time // when the newest finished probe started
	err     error
	running chan struct{} // closed when the running probe ends; nil when none runs
}

// lost records that the store's identity was lost (see ErrStoreLost).
type lost struct {
	err    atomic.Pointer[error]
	rescue chan struct{} // closed when the rescue copy is written
	once   sync.Once
}

// Failed returns the error that made the ledger unusable for good (its
// store is no longer the one it opened, see [ErrStoreLost]), or nil.
func (l *Ledger) Failed() error {
	if p := l.lost.err.Load(); p != nil {
		return *p
	}
	return nil
}

// ReadOnly returns why the ledger was opened read-only (a damaged store
// opened with Config.AllowDamaged), or nil.
func (l *Ledger) ReadOnly() error { return l.readOnly }

// lose puts the ledger out of service after its store's identity was lost:
// an ERROR log line names the cause, and an embedded store that still has
// the old file open saves a copy of it (with a record saying which answers
// were not delivered) next to where it was.
func (l *Ledger) lose(cause error) {
	l.lost.once.Do(func() {
		err := fmt.Errorf("%w: %w", ErrAudit, cause)
		l.lost.err.Store(&err)
		l.lost.rescue = make(chan struct{})
		l.log.Error("store identity lost; refusing every request until restarted", "cause", cause.Error())
		go func() {
			defer close(l.lost.rescue)
			r := l.caps.Rescuer
			ok := r != nil
			if !ok || l.dbPath == "" {
				return
			}
			dst := fmt.Sprintf("%s.rescued-%s", l.dbPath, time.Now().UTC().Format("20060102T150405Z"))
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			if err := r.Rescue(ctx, dst, l.cfg.NodeID, l.w.Undelivered()); err != nil {
				l.log.Error("rescue copy of the lost database failed", "err", err)
				return
			}
			l.log.Error("rescued the database this process had open: it holds every record acknowledged so far; move it into place before restarting", "copy", dst)
		}()
	})
}

// Ready reports whether the ledger can serve: its store is the one it
// opened (same file, same ledger id, not gone back in time), a small write
// to it is durable, its file system has room (Config.MinFreeSpace), the
// newest audit commit and the newest checkpoint attempt succeeded. The
// store is probed at most once per [ReadyInterval]; callers in between get
// the cached result (plus any failure since), so a load balancer polling
// readiness costs one small write a second. A store that comes back is
// ready again within ReadyInterval of the next call, with no other traffic.
func (l *Ledger) Ready(ctx context.Context) error {
	if err := l.Failed(); err != nil {
		return err
	}
	if l.readOnly != nil {
		return l.readOnly
	}
	// The part without a write (a stat and a statfs, or a ping) is checked
	// on every call.
	if p := l.caps.Prober; p != nil {
		if err := p.CheckLive(ctx); errors.Is(err, store.ErrIdentity) {
			l.lose(err)
			return l.Failed()
		} else if err != nil {
			return fmt.Errorf("%w: %w", ErrAudit, err)
		}
	}
	r := &l.ready
	r.mu.Lock()
	// A probe that failed, or whose success an append failure has since
	// contradicted, is redone after readyRetry.
	valid := ReadyInterval
	if r.err != nil || l.w.FailedSince(r.at) != nil {
		valid = readyRetry
	}
	if !r.at.IsZero() && time.Since(r.at) < valid {
		at, err := r.at, r.err
		r.mu.Unlock()
		return l.readyState(at, err)
	}
	ch := r.running
	if ch == nil {
		ch = make(chan struct{})
		r.running = ch
		prev := r.err
		go func() {
			start := time.Now()
			pctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
			err := l.probe(pctx, prev)
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
	return l.readyState(at, err)
}

// readyState combines the probe's result with what happened since it ran.
func (l *Ledger) readyState(at time.Time, probeErr error) error {
	if err := l.Failed(); err != nil {
		return err
	}
	if probeErr != nil {
		return probeErr
	}
	if err := l.w.FailedSince(at); err != nil {
		return fmt.Errorf("%w: last append failed: %v", ErrAudit, err)
	}
	if f := l.cpFailure(); f != nil {
		return fmt.Errorf("%w: checkpoint failing since %s: %s", ErrAudit, f.Since.Format(time.RFC3339), f.Err)
	}
	return nil
}

// probe checks the store (see Ready).
func (l *Ledger) probe(ctx context.Context, prev error) error {
	p := l.caps.Prober
	ok := p != nil
	if !ok {
		return l.db.Ping(ctx)
	}
	// What this process made durable before the probe reads the store's
	// head: appends committed meanwhile may be missing from its snapshot.
	ours := l.w.Head()
	id, head, err := p.Probe(ctx, l.cfg.NodeID)
	switch {
	case errors.Is(err, store.ErrIdentity):
		l.lose(err)
		return l.Failed()
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%w: the store did not answer within %s", ErrAudit, readyTimeout)
	case err != nil:
		return fmt.Errorf("%w: %v", ErrAudit, err)
	case id != l.ledgerID:
		l.lose(&store.IdentityError{What: fmt.Sprintf("the store now holds another ledger (ledger id %q; this process opened %q)", id, l.ledgerID)})
		return l.Failed()
	case uint64(head) < ours:
		l.lose(&store.IdentityError{What: fmt.Sprintf("the store went back in time: chain %s has %d records, this process made %d durable", l.cfg.NodeID, head, ours)})
		return l.Failed()
	}
	// The store takes writes again: settle the batches that failed.
	if err := l.w.Reconcile(ctx); err != nil {
		return fmt.Errorf("%w: %v", ErrAudit, err)
	}
	// Checkpoints that failed while the store was away are retried at
	// once, not after their backoff: readiness follows the store's return.
	// (One that fails while the store takes writes, such as a damaged tree
	// page, keeps its backoff.)
	if f := l.cpFailure(); f != nil && (prev != nil || !l.w.LastFailure().Before(f.Since.Add(-time.Second))) {
		l.Checkpoint(ctx, Meta{Actor: "jwtledger"})
	}
	return nil
}

const ledgerIDName = "ledger_id"

// loadLedgerID reads, or makes on first use, the store's ledger id.
func (l *Ledger) loadLedgerID(ctx context.Context) error {
	if l.readOnly != nil {
		id, _, err := l.db.Meta(ctx, ledgerIDName)
		l.ledgerID = string(id)
		return err
	}
	var b [16]byte
	rand.Read(b[:])
	id, err := l.db.SetMetaOnce(ctx, ledgerIDName, []byte(hex.EncodeToString(b[:])))
	if err != nil {
		return fmt.Errorf("store ledger id: %w", err)
	}
	l.ledgerID = string(id)
	return nil
}

// ErrDamaged means the store's file is damaged (SQLite: "database disk
// image is malformed"); see Config.CheckIntegrity and the damage of kind
// "damaged" that [Ledger.VerifyAudit] reports.
var ErrDamaged = store.ErrDamaged

// ErrMissingDatabase means the data directory belongs to a ledger whose
// database file is gone: Open refuses to create a new, empty one there.
var ErrMissingDatabase = errors.New("the data directory has a ledger but its database is missing")

// checkNotMissing refuses to make a fresh database in a data directory
// that shows an earlier ledger (master.key, node-id, checkpoints.log).
func checkNotMissing(dbPath, dataDir, cpFile string) error {
	if _, err := os.Stat(dbPath); !errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if cpFile == "" {
		cpFile = filepath.Join(dataDir, "checkpoints.log")
	}
	var found []string
	for _, p := range []string{filepath.Join(dataDir, "master.key"), filepath.Join(dataDir, "node-id"), cpFile} {
		if _, err := os.Stat(p); err == nil {
			found = append(found, filepath.Base(p))
		}
	}
	if len(found) == 0 {
		return nil
	}
	hint := "restore the database from a backup"
	if rescued, _ := filepath.Glob(dbPath + ".rescued-*"); len(rescued) > 0 {
		hint = "a copy saved when it was lost is " + rescued[len(rescued)-1] + ": move it to " + dbPath
	}
	return fmt.Errorf("%w: %s has %s but no %s; refusing to start a new, empty ledger there (hint: %s, or use another --data-dir for a new ledger)",
		ErrMissingDatabase, dataDir, strings.Join(found, ", "), filepath.Base(dbPath), hint)
}
