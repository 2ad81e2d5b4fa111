package auditlog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/jwtledger/jwtledger/auditor"
	"github.com/jwtledger/jwtledger/internal/witness"
	"github.com/jwtledger/jwtledger/store"
)

// WitnessStore is what [Witnessing] uses of the store.
type WitnessStore interface {
	store.Cosignatures
	HashReader(ctx context.Context, chain string) tlog.HashReader
	Checkpoints(ctx context.Context, chain string) ([]store.Checkpoint, error)
}

// Witnessing retry pacing after a failed request (the client's own retries
// within one request aside): 1 s, doubling up to a minute, or sooner when
// a new checkpoint arrives.
const (
	witnessRetryMin = time.Second
	witnessRetryMax = time.Minute
)

// WitnessingConfig configures [NewWitnessing].
type WitnessingConfig struct {
	Chain     string
	Witnesses []auditor.Witness // each with a URL
	// Quorum is how many witnesses make a checkpoint witnessed; 0 is all.
	Quorum int
	// HTTP requests: per attempt timeout and attempts per request (the
	// witness client's defaults when zero).
	Timeout  time.Duration
	Attempts int
	Now      func() time.Time
	Log      *slog.Logger
}

// Witnessing sends one node's checkpoints to its witnesses (C2SP
// tlog-witness), one goroutine per witness, verifies and stores their
// cosignatures, and tracks the newest checkpoint the quorum cosigned. It
// never holds up the caller of Notify.
type Witnessing struct {
	db      WitnessStore
	cfg     WitnessingConfig
	policy  *auditor.Policy
	workers []*witnessWorker

	mu        sync.Mutex
	latest    *store.Checkpoint
	cosigned  map[int64][]string // checkpoint size -> witnesses that cosigned it, for sizes above witnessed
	witnessed store.Checkpoint   // newest checkpoint the quorum cosigned (Size 0: none)
	sizes     map[int64]store.Checkpoint

	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
}

type witnessWorker struct {
	w      auditor.Witness
	client *witness.Client
	wake   chan struct{}

	// under Witnessing.mu
	size     int64     // the size of the chain the witness is known to have
	lastSize int64     // size of its newest cosignature stored by this process
	lastAt   time.Time // and when
	failures uint64
	lastErr  string
}

// NewWitnessing returns the witnessing of cfg.Chain; call Start to run it.
func NewWitnessing(db WitnessStore, cfg WitnessingConfig) (*Witnessing, error) {
	if len(cfg.Witnesses) == 0 {
		return nil, errors.New("no witnesses")
	}
	p, err := auditor.NewPolicy(cfg.Witnesses, cfg.Quorum)
	if err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	wg := &Witnessing{db: db, cfg: cfg, policy: p, cosigned: map[int64][]string{}, sizes: map[int64]store.Checkpoint{}, stop: make(chan struct{})}
	for _, w := range cfg.Witnesses {
		if w.URL == "" {
			return nil, fmt.Errorf("witness %s has no URL", w.Name)
		}
		wg.workers = append(wg.workers, &witnessWorker{w: w, wake: make(chan struct{}, 1),
			client: &witness.Client{URL: w.URL, Verifier: w.Verifier, Timeout: cfg.Timeout, Attempts: cfg.Attempts}})
	}
	return wg, nil
}

// StartWitnessing makes and starts the witnessing of cfg.Chain over db's
// trees, keeping the cosignatures in cs; it is nil (and no error) when cfg
// names no witness.
func StartWitnessing(ctx context.Context, db store.Trees, cs store.Cosignatures, cfg WitnessingConfig) (*Witnessing, error) {
	if len(cfg.Witnesses) == 0 {
		return nil, nil
	}
	if cs == nil {
		return nil, errors.New("witnesses: the store cannot keep cosignatures")
	}
	w, err := NewWitnessing(witnessStore{cs, db}, cfg)
	if err != nil {
		return nil, fmt.Errorf("witnesses: %w", err)
	}
	if err := w.Start(ctx); err != nil {
		return nil, fmt.Errorf("witnesses: %w", err)
	}
	return w, nil
}

// witnessStore is the store's trees with its cosignatures.
type witnessStore struct {
	cosignatures
	store.Trees
}

// cosignatures is embedded by a name other than its method's.
type cosignatures = store.Cosignatures

// Start loads the stored cosignatures and witness sizes, then starts one
// goroutine per witness, which sends the newest checkpoint at once.
func (g *Witnessing) Start(ctx context.Context) error {
	cps, err := g.db.Checkpoints(ctx, g.cfg.Chain)
	if err != nil {
		return err
	}
	cos, err := g.db.Cosignatures(ctx, g.cfg.Chain)
	if err != nil {
		return err
	}
	for _, w := range g.workers {
		if w.size, err = g.db.WitnessSize(ctx, g.cfg.Chain, w.w.Name); err != nil {
			return err
		}
	}
	g.mu.Lock()
	for _, cp := range cps {
		g.sizes[cp.Size] = cp
	}
	if n := len(cps); n > 0 {
		g.latest = &cps[n-1]
	}
	for _, c := range cos {
		g.addLocked(c.Size, c.Witness)
	}
	g.trimLocked()
	g.mu.Unlock()
	for _, w := range g.workers {
		g.wg.Add(1)
		go g.run(w)
		w.kick()
	}
	return nil
}

// Stop ends the goroutines and waits for them; it may be called again.
func (g *Witnessing) Stop() {
	g.stopOnce.Do(func() { close(g.stop) })
	g.wg.Wait()
}

// Notify hands a new checkpoint to the witnesses; it does not wait.
func (g *Witnessing) Notify(cp store.Checkpoint) {
	g.mu.Lock()
	if g.latest == nil || cp.Size > g.latest.Size {
		c := cp
		g.latest = &c
	}
	g.sizes[cp.Size] = cp
	g.trimLocked()
	g.mu.Unlock()
	for _, w := range g.workers {
		w.kick()
	}
}

func (w *witnessWorker) kick() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// addLocked counts witness's cosignature of size and moves witnessed up
// when the quorum is met.
func (g *Witnessing) addLocked(size int64, name string) {
	if size <= g.witnessed.Size {
		return
	}
	if !slices.Contains(g.cosigned[size], name) {
		g.cosigned[size] = append(g.cosigned[size], name)
	}
	if g.policy.Satisfied(g.cosigned[size]) {
		if cp, ok := g.sizes[size]; ok {
			g.witnessed = cp
		} else {
			g.witnessed = store.Checkpoint{Chain: g.cfg.Chain, Size: size}
		}
		for s := range g.cosigned {
			if s <= size {
				delete(g.cosigned, s)
			}
		}
		for s := range g.sizes {
			if s < size {
				delete(g.sizes, s)
			}
		}
	}
}

// maxTracked bounds the checkpoints above the newest witnessed one that
// are kept in memory (while witnesses are away for a long time): the
// oldest are forgotten, they stay unwitnessed.
const maxTracked = 1024

func (g *Witnessing) trimLocked() {
	for len(g.sizes) > maxTracked {
		oldest := int64(-1)
		for s := range g.sizes {
			if oldest < 0 || s < oldest {
				oldest = s
			}
		}
		delete(g.sizes, oldest)
		delete(g.cosigned, oldest)
	}
	for s := range g.cosigned {
		if _, ok := g.sizes[s]; !ok && len(g.cosigned) > maxTracked {
			delete(g.cosigned, s)
		}
	}
}

func (g *Witnessing) run(w *witnessWorker) {
	defer g.wg.Done()
	var retry *time.Timer
	var retryC <-chan time.Time
	backoff := witnessRetryMin
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { <-g.stop; cancel() }()
	for {
		select {
		case <-g.stop:
			if retry != nil {
				retry.Stop()
			}
			return
		case <-w.wake:
		case <-retryC:
			retryC = nil
		}
		cp, size := g.next(w)
		if cp == nil {
			continue
		}
		err := g.cosign(ctx, w, cp, size)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			backoff = witnessRetryMin
			w.kick() // more may be waiting
			continue
		}
		g.mu.Lock()
		w.failures++
		w.lastErr = err.Error()
		g.mu.Unlock()
		g.cfg.Log.Warn("witness did not cosign the checkpoint", "witness", w.w.Name, "size", cp.Size, "retry_in", backoff, "err", err)
		if retry != nil {
			retry.Stop()
		}
		retry = time.NewTimer(backoff)
		retryC = retry.C
		backoff = min(backoff*2, witnessRetryMax)
	}
}

// maxBacklog is how many checkpoints a witness is sent one by one, in
// order, when it has fallen behind; with more waiting it is sent the
// newest (its cosignature covers the older ones' trees too, but they stay
// without its cosignature).
const maxBacklog = 16

// next returns the checkpoint to send w and the size w is known to have:
// the oldest newer than its last cosignature while few are waiting, else
// the newest; nil when w has cosigned the newest.
func (g *Witnessing) next(w *witnessWorker) (*store.Checkpoint, int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.latest == nil || g.latest.Size == 0 || g.latest.Size == w.lastSize {
		return nil, 0
	}
	var waiting []int64
	for size := range g.sizes {
		if size > w.lastSize {
			waiting = append(waiting, size)
		}
	}
	if w.lastSize == 0 || len(waiting) == 0 || len(waiting) > maxBacklog {
		cp := *g.latest
		return &cp, w.size
	}
	cp := g.sizes[slices.Min(waiting)]
	return &cp, w.size
}

// cosign asks w to cosign cp, starting from the size it is known to have,
// and stores the cosignature.
func (g *Witnessing) cosign(ctx context.Context, w *witnessWorker, cp *store.Checkpoint, old int64) error {
	hr := g.db.HashReader(ctx, g.cfg.Chain)
	prove := func(ctx context.Context, from int64) (tlog.TreeProof, error) {
		return tlog.ProveTree(cp.Size, from, hr)
	}
	lines, known, err := w.client.Cosign(ctx, old, prove, cp.Note)
	if err != nil {
		var ce *witness.ConflictError
		if errors.As(err, &ce) && known != old {
			// The witness has another size of this chain than recorded:
			// keep it, the next request starts from there.
			if serr := g.db.SetWitnessSize(ctx, g.cfg.Chain, w.w.Name, known); serr == nil {
				g.mu.Lock()
				w.size = known
				g.mu.Unlock()
			}
			if known > cp.Size {
				return fmt.Errorf("%w (the witness has cosigned size %d, larger than this node's newest checkpoint %d: another history of this chain?)", err, known, cp.Size)
			}
		}
		return err
	}
	now := g.cfg.Now().UTC()
	if err := g.db.AddCosignature(ctx, store.Cosignature{Chain: g.cfg.Chain, Size: cp.Size, Witness: w.w.Name, Line: lines, Time: now}); err != nil {
		return fmt.Errorf("store the cosignature: %w", err)
	}
	g.mu.Lock()
	w.size, w.lastSize, w.lastAt = cp.Size, cp.Size, now
	g.addLocked(cp.Size, w.w.Name)
	g.mu.Unlock()
	return nil
}

// WitnessState is what one witness has cosigned.
type WitnessState struct {
	Name string `json:"name"`
	// Size is the newest size of the chain it cosigned (0: none yet).
	Size int64 `json:"size"`
	// At is when this process stored that cosignature (zero when it
	// was stored before the process started).
	At       time.Time `json:"at,omitzero"`
	Failures uint64    `json:"failures"`
	// Error is the newest failure, while the witness has not cosigned
	// the newest checkpoint since.
	Error string `json:"error,omitempty"`
}

// WitnessingStatus is the state of a node's witnessing.
type WitnessingStatus struct {
	Quorum string `json:"quorum"`
	// Checkpoint is the size of the newest checkpoint, Witnessed that of
	// the newest checkpoint the quorum cosigned (0: none) and
	// WitnessedTime when it was signed.
	Checkpoint    int64     `json:"checkpoint"`
	Witnessed     int64     `json:"witnessed"`
	WitnessedTime time.Time `json:"witnessed_time,omitzero"`
	// UnwitnessedSince is when the oldest checkpoint newer than
	// Witnessed was signed (zero when the newest checkpoint is witnessed).
	UnwitnessedSince time.Time      `json:"unwitnessed_since,omitzero"`
	Witnesses        []WitnessState `json:"witnesses"`
}

// Status returns the witnessing's state.
func (g *Witnessing) Status() WitnessingStatus {
	g.mu.Lock()
	defer g.mu.Unlock()
	st := WitnessingStatus{Quorum: g.policy.Quorum(), Witnessed: g.witnessed.Size, WitnessedTime: g.witnessed.Time}
	if g.latest != nil {
		st.Checkpoint = g.latest.Size
	}
	for size, cp := range g.sizes {
		if size > g.witnessed.Size && (st.UnwitnessedSince.IsZero() || cp.Time.Before(st.UnwitnessedSince)) {
			st.UnwitnessedSince = cp.Time
		}
	}
	for _, w := range g.workers {
		ws := WitnessState{Name: w.w.Name, Size: w.size, At: w.lastAt, Failures: w.failures}
		if w.lastSize != st.Checkpoint {
			ws.Error = w.lastErr
		}
		st.Witnesses = append(st.Witnesses, ws)
	}
	return st
}

// WithCosignatures returns db whose Checkpoints carry, after each note's
// signature lines, the witnesses' cosignature lines stored with it (what
// a witness policy checks; the log's own signature still verifies).
func WithCosignatures(db Reader, cs store.Cosignatures) Reader {
	if cs == nil {
		return db
	}
	return cosignedReader{db, cs}
}

type cosignedReader struct {
	Reader
	cs store.Cosignatures
}

func (r cosignedReader) Checkpoints(ctx context.Context, chain string) ([]store.Checkpoint, error) {
	cps, err := r.Reader.Checkpoints(ctx, chain)
	if err != nil {
		return nil, err
	}
	cos, err := r.cs.Cosignatures(ctx, chain)
	if err != nil {
		return nil, err
	}
	if len(cos) == 0 {
		return cps, nil
	}
	lines := map[int64][]byte{}
	for _, c := range cos {
		lines[c.Size] = append(lines[c.Size], c.Line...)
	}
	for i := range cps {
		if l := lines[cps[i].Size]; l != nil {
			cps[i].Note = append(append([]byte{}, cps[i].Note...), l...)
		}
	}
	return cps, nil
}
