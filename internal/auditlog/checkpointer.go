package auditlog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/jwtledger/jwtledger/auditor"
	"github.com/jwtledger/jwtledger/store"
)

// CheckpointStore is what a [Checkpointer] uses of the store.
type CheckpointStore interface {
	// AddCheckpoint builds chain's tree to its newest record and stores the
	// note sign returns for its size and root.
	AddCheckpoint(ctx context.Context, chain string, at time.Time, sign func(size int64, root tlog.Hash) ([]byte, error)) (*store.Checkpoint, error)
	TreeSize(ctx context.Context, chain string) (int64, error)
	Checkpoints(ctx context.Context, chain string) ([]store.Checkpoint, error)
	BuildTree(ctx context.Context, chain string) (int64, error)
}

// CheckpointConfig is the cadence of a node's checkpoints (see the
// ledger's Config).
type CheckpointConfig struct {
	Chain       string        // this node's chain
	Every       int           // records that call for a checkpoint
	MinInterval time.Duration // but not sooner than this after the previous one
	Interval    time.Duration // at least this often while records arrive
	File        string        // every checkpoint note is appended to it
	Now         func() time.Time
	Log         *slog.Logger
}

// maxBackoff bounds the wait between automatic attempts while checkpoints
// fail (1 s, 2 s, 4 s, ... up to this).
const maxBackoff = 30 * time.Second

// A Checkpointer makes, paces and tracks the health of one node's signed
// checkpoints.
type Checkpointer struct {
	db   CheckpointStore
	cfg  CheckpointConfig
	size atomic.Int64 // size of the newest checkpoint
	at   atomic.Int64 // and when it was made (Unix ns)
	// since counts records appended since the tree was last kicked.
	since atomic.Int64
	kick  chan struct{}

	mu       sync.Mutex
	failures uint64
	failing  *auditor.CheckpointFailure
	retryAt  time.Time // no automatic attempt before (backoff)
}

// NewCheckpointer returns a checkpointer of cfg.Chain in db; call Load
// before the first use.
func NewCheckpointer(db CheckpointStore, cfg CheckpointConfig) *Checkpointer {
	return &Checkpointer{db: db, cfg: cfg, kick: make(chan struct{}, 1)}
}

// Load reads the newest checkpoint of the chain.
func (c *Checkpointer) Load(ctx context.Context) error {
	cps, err := c.db.Checkpoints(ctx, c.cfg.Chain)
	if err != nil {
		return err
	}
	if n := len(cps); n > 0 {
		c.size.Store(cps[n-1].Size)
		c.at.Store(cps[n-1].Time.UnixNano())
	}
	return nil
}

// Make signs a checkpoint of the chain at its current size with signer,
// stores it and appends it to the checkpoint file; signed, if not nil, is
// told the size and root before the note is signed. A failure is tracked
// (see Failure) and returned.
func (c *Checkpointer) Make(ctx context.Context, signer note.Signer, signed func(size int64, root tlog.Hash)) (*store.Checkpoint, time.Time, error) {
	now := c.cfg.Now().UTC()
	cp, err := c.db.AddCheckpoint(ctx, c.cfg.Chain, now, func(size int64, root tlog.Hash) ([]byte, error) {
		if signed != nil {
			signed(size, root)
		}
		text := auditor.Checkpoint{Origin: auditor.Origin(c.cfg.Chain), Size: size, Root: root}.String()
		return note.Sign(&note.Note{Text: text}, signer)
	})
	if err != nil {
		c.Failed(err)
		return nil, now, err
	}
	c.succeeded()
	c.size.Store(cp.Size)
	c.at.Store(now.UnixNano())
	if err := c.appendFile(cp.Note); err != nil {
		c.cfg.Log.Warn("checkpoint file write failed", "err", err)
	}
	return cp, now, nil
}

func (c *Checkpointer) appendFile(n []byte) error {
	f, err := os.OpenFile(c.cfg.File, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	_, werr := f.Write(append(append([]byte{}, n...), '\n'))
	return errors.Join(werr, f.Sync(), f.Close())
}

// Due reports whether records were appended since the newest checkpoint,
// and enough of them or long enough ago to warrant a new one (any number
// when force). Under load Every records arrive many times a second; one
// signed checkpoint per MinInterval at most keeps the checkpoint table and
// file from growing by a note every few milliseconds (the tree is still
// extended every Every records, see Run).
func (c *Checkpointer) Due(ctx context.Context, force bool) bool {
	size, err := c.db.TreeSize(ctx, c.cfg.Chain)
	if err != nil {
		return false
	}
	grown := size - c.size.Load()
	if grown <= 0 {
		return false
	}
	age := time.Since(time.Unix(0, c.at.Load()))
	return force || (grown >= int64(c.cfg.Every) && age >= c.cfg.MinInterval) || age >= c.cfg.Interval
}

// Failed tracks a failed attempt and backs off the next automatic one.
func (c *Checkpointer) Failed(err error) {
	c.mu.Lock()
	c.failures++
	if c.failing == nil {
		c.failing = &auditor.CheckpointFailure{Since: time.Now().UTC()}
	}
	c.failing.Err, c.failing.Attempts = err.Error(), c.failing.Attempts+1
	backoff := min(time.Second<<min(c.failing.Attempts-1, 10), maxBackoff)
	c.retryAt = time.Now().Add(backoff)
	n := c.failing.Attempts
	c.mu.Unlock()
	c.cfg.Log.Error("checkpoint failed; the newest records are not covered by a signed checkpoint", "attempts", n, "retry_in", backoff, "err", err)
}

func (c *Checkpointer) succeeded() {
	c.mu.Lock()
	was := c.failing
	c.failing, c.retryAt = nil, time.Time{}
	c.mu.Unlock()
	if was != nil {
		c.cfg.Log.Info("checkpoints succeed again", "failed_attempts", was.Attempts)
	}
}

// Failure says since when and why checkpoints fail, or is nil while the
// newest attempt succeeded.
func (c *Checkpointer) Failure() *auditor.CheckpointFailure {
	_, f := c.Health()
	return f
}

// Health returns the failed attempts since the checkpointer was made, and
// the current failure (nil when none).
func (c *Checkpointer) Health() (failures uint64, failing *auditor.CheckpointFailure) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.failing != nil {
		f := *c.failing
		failing = &f
	}
	return c.failures, failing
}

func (c *Checkpointer) backingOff() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Before(c.retryAt)
}

// Appended counts n records appended to the chain (the writer's
// AfterFlush), kicking Run every Every records.
func (c *Checkpointer) Appended(n int) {
	if c.since.Add(int64(n)) >= int64(c.cfg.Every) {
		c.since.Store(0)
		select {
		case c.kick <- struct{}{}:
		default:
		}
	}
}

// Tasks are what [Checkpointer.Run] does besides extending the tree.
type Tasks struct {
	// Checkpoint makes a checkpoint (the ledger records and emits it;
	// failures are tracked by Make).
	Checkpoint func(ctx context.Context)
	// Paused reports whether nothing should be attempted (the store is lost).
	Paused func() bool
	// Maintain and Prune, if set, run once an hour.
	Maintain func(ctx context.Context, now time.Time) error
	Prune    func(ctx context.Context) error
}

// Run makes checkpoints when they are due (see Due) and extends the tree
// every Every records, and runs the hourly tasks, until stop is closed;
// then it closes done. While checkpoints fail, attempts back off (see
// maxBackoff), and the failure shows in Failure and Health.
func (c *Checkpointer) Run(stop <-chan struct{}, done chan<- struct{}, t Tasks) {
	defer close(done)
	tick := time.NewTicker(c.cfg.MinInterval)
	defer tick.Stop()
	var lastPrune, lastMaintain time.Time
	for {
		kicked := false
		select {
		case <-stop:
			return
		case <-tick.C:
		case <-c.kick:
			kicked = true
		}
		ctx := context.Background()
		switch {
		case c.backingOff() || t.Paused():
		case c.Due(ctx, false):
			t.Checkpoint(ctx)
		case kicked:
			// Extend the tree over the new records now, in a short
			// transaction, so the next checkpoint has little left to build
			// while it holds the store's write lock.
			if _, err := c.db.BuildTree(ctx, c.cfg.Chain); err != nil {
				c.Failed(fmt.Errorf("extend the tree: %w", err))
			}
		}
		if t.Maintain != nil && time.Since(lastMaintain) >= time.Hour {
			lastMaintain = time.Now()
			if err := t.Maintain(ctx, time.Now()); err != nil {
				c.cfg.Log.Warn("store maintenance failed", "err", err)
			}
		}
		if t.Prune != nil && time.Since(lastPrune) >= time.Hour {
			lastPrune = time.Now()
			if err := t.Prune(ctx); err != nil {
				c.cfg.Log.Warn("audit retention failed", "err", err)
			}
		}
	}
}
