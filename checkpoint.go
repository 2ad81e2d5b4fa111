package jwtledger

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/jwtledger/jwtledger/internal/audit"
	"github.com/jwtledger/jwtledger/internal/keys"
)

// Checkpoint cadence defaults (see [Config]).
const (
	DefaultCheckpointEvery       = 1000
	DefaultCheckpointMinInterval = time.Second
	DefaultCheckpointInterval    = 10 * time.Second
)

// CheckpointInfo describes a signed checkpoint of one chain.
type CheckpointInfo struct {
	Chain string    `json:"chain"`
	Size  int64     `json:"size"`
	Root  tlog.Hash `json:"root"`
	Note  string    `json:"note"` // the signed note
	Time  time.Time `json:"time"`
}

// auditKeyMeta is how the audit signing key is kept in the store.
type auditKeyMeta struct {
	VerifierKey string `json:"vkey"`
	Sealed      []byte `json:"sealed"` // the note signer key, sealed
}

const auditKeyName = "audit_key"

// loadAuditKey loads, or creates on first use, the ledger's Ed25519 audit
// signing key. It is kept apart from token keys and never signs tokens.
func (l *Ledger) loadAuditKey(ctx context.Context) error {
	raw, ok, err := l.db.Meta(ctx, auditKeyName)
	if err != nil {
		return err
	}
	if !ok {
		var id [4]byte
		rand.Read(id[:])
		skey, vkey, err := note.GenerateKey(rand.Reader, "jwtledger-audit-"+hex.EncodeToString(id[:]))
		if err != nil {
			return fmt.Errorf("generate audit key: %w", err)
		}
		sealed, err := keys.SealBytes(l.master, []byte(auditKeyName), []byte(skey))
		if err != nil {
			return err
		}
		j, _ := json.Marshal(auditKeyMeta{VerifierKey: vkey, Sealed: sealed})
		if raw, err = l.db.SetMetaOnce(ctx, auditKeyName, j); err != nil {
			return fmt.Errorf("store audit key: %w", err)
		}
	}
	var m auditKeyMeta
	if err := json.Unmarshal(raw, &m); err != nil {
		return fmt.Errorf("audit key: %w", err)
	}
	skey, err := keys.OpenBytes(l.master, []byte(auditKeyName), m.Sealed)
	if err != nil {
		return fmt.Errorf("audit key: %w (hint: is JWTLEDGER_MASTER_KEY or master.key the one this store was made with?)", err)
	}
	signer, err := note.NewSigner(string(skey))
	clear(skey)
	if err != nil {
		return fmt.Errorf("audit key: %w", err)
	}
	verifier, err := note.NewVerifier(m.VerifierKey)
	if err != nil {
		return fmt.Errorf("audit key: %w", err)
	}
	l.auditSigner, l.auditVerifier, l.auditVKey = signer, verifier, m.VerifierKey
	return nil
}

// AuditVerifierKey is the note verifier key ("name+hash+base64") that checks
// this ledger's checkpoints.
func (l *Ledger) AuditVerifierKey() string { return l.auditVKey }

// Checkpoint signs a checkpoint of this node's chain at its current size,
// stores it, appends it to the checkpoint file and emits an
// audit.checkpoint event to the JSON sink. The event is not a record of the
// chain: a chain holds what happened to tokens and keys, and a checkpoint
// is a statement about the chain.
func (l *Ledger) Checkpoint(ctx context.Context, m Meta) (*CheckpointInfo, error) {
	chain := l.cfg.NodeID
	rec := l.record(audit.AuditCheckpoint, audit.OK, m)
	now := l.cfg.Now().UTC()
	cp, err := l.db.AddCheckpoint(ctx, chain, now, func(size int64, root tlog.Hash) ([]byte, error) {
		rec.Reason = fmt.Sprintf("tree size %d root %s", size, root)
		return note.Sign(&note.Note{Text: audit.CheckpointText(audit.Origin(chain), size, root)}, l.auditSigner)
	})
	if err != nil {
		l.cpFailed(err)
		return nil, fmt.Errorf("%w: checkpoint: %v", ErrAudit, err)
	}
	l.cpSucceeded()
	l.cpSize.Store(cp.Size)
	l.cpTime.Store(now.UnixNano())
	if err := l.appendCheckpointFile(cp.Note); err != nil {
		l.log.Warn("checkpoint file write failed", "err", err)
	}
	rec.Chain = chain
	l.w.EmitCheckpoint(rec)
	return &CheckpointInfo{Chain: chain, Size: cp.Size, Root: cp.Root, Note: string(cp.Note), Time: now}, nil
}

func (l *Ledger) appendCheckpointFile(n []byte) error {
	f, err := os.OpenFile(l.cfg.CheckpointFile, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	_, werr := f.Write(append(append([]byte{}, n...), '\n'))
	return errors.Join(werr, f.Sync(), f.Close())
}

// Checkpoints returns the stored checkpoints of chain (this node's when empty).
func (l *Ledger) Checkpoints(ctx context.Context, chain string) ([]CheckpointInfo, error) {
	if chain == "" {
		chain = l.cfg.NodeID
	}
	cps, err := l.db.Checkpoints(ctx, chain)
	if err != nil {
		return nil, err
	}
	out := make([]CheckpointInfo, len(cps))
	for i, c := range cps {
		out[i] = CheckpointInfo{Chain: c.Chain, Size: c.Size, Root: c.Root, Note: string(c.Note), Time: c.Time}
	}
	return out, nil
}

// checkpointDue reports whether records were appended since the newest
// checkpoint, and enough of them or long enough ago to warrant a new one.
// Under load CheckpointEvery records arrive many times a second; one signed
// checkpoint a second at most keeps the checkpoint table and file from
// growing by a note every few milliseconds (the tree is still extended every
// CheckpointEvery records, see runCheckpoints).
func (l *Ledger) checkpointDue(ctx context.Context, force bool) bool {
	size, err := l.db.TreeSize(ctx, l.cfg.NodeID)
	if err != nil {
		return false
	}
	grown := size - l.cpSize.Load()
	if grown <= 0 {
		return false
	}
	age := time.Since(time.Unix(0, l.cpTime.Load()))
	return force || (grown >= int64(l.cfg.CheckpointEvery) && age >= l.cfg.CheckpointMinInterval) || age >= l.cfg.CheckpointInterval
}

// CheckpointFailure says since when, and why, this node's checkpoints fail.
type CheckpointFailure struct {
	Since    time.Time `json:"since"`
	Err      string    `json:"error"`
	Attempts int       `json:"attempts"`
}

// CheckpointStatus is the health of this node's checkpointing.
type CheckpointStatus struct {
	// Failures counts failed attempts since the ledger was opened.
	Failures uint64
	// Failing is set while the newest attempt failed.
	Failing *CheckpointFailure
}

// cpHealth tracks checkpoint failures (readiness, metrics, VerifyAudit).
type cpHealth struct {
	mu       sync.Mutex
	failures uint64
	failing  *CheckpointFailure
	retryAt  time.Time // no automatic attempt before (backoff)
}

// maxCheckpointBackoff bounds the wait between automatic attempts while
// checkpoints fail (1 s, 2 s, 4 s, ... up to this).
const maxCheckpointBackoff = 30 * time.Second

func (l *Ledger) cpFailed(err error) {
	h := &l.cp
	h.mu.Lock()
	h.failures++
	if h.failing == nil {
		h.failing = &CheckpointFailure{Since: time.Now().UTC()}
	}
	h.failing.Err, h.failing.Attempts = err.Error(), h.failing.Attempts+1
	backoff := min(time.Second<<min(h.failing.Attempts-1, 10), maxCheckpointBackoff)
	h.retryAt = time.Now().Add(backoff)
	n := h.failing.Attempts
	h.mu.Unlock()
	l.log.Error("checkpoint failed; the newest records are not covered by a signed checkpoint", "attempts", n, "retry_in", backoff, "err", err)
}

func (l *Ledger) cpSucceeded() {
	h := &l.cp
	h.mu.Lock()
	was := h.failing
	h.failing, h.retryAt = nil, time.Time{}
	h.mu.Unlock()
	if was != nil {
		l.log.Info("checkpoints succeed again", "failed_attempts", was.Attempts)
	}
}

func (l *Ledger) cpFailure() *CheckpointFailure {
	h := &l.cp
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.failing == nil {
		return nil
	}
	f := *h.failing
	return &f
}

// CheckpointHealth reports this node's checkpoint failures.
func (l *Ledger) CheckpointHealth() CheckpointStatus {
	h := &l.cp
	h.mu.Lock()
	defer h.mu.Unlock()
	st := CheckpointStatus{Failures: h.failures}
	if h.failing != nil {
		f := *h.failing
		st.Failing = &f
	}
	return st
}

func (l *Ledger) cpBackingOff() bool {
	h := &l.cp
	h.mu.Lock()
	defer h.mu.Unlock()
	return time.Now().Before(h.retryAt)
}

// runCheckpoints makes checkpoints when they are due (see checkpointDue) and
// extends the tree every CheckpointEvery records, until stop is closed.
// While they fail, attempts back off (see maxCheckpointBackoff), and the
// failure shows in Ready, VerifyAudit and CheckpointHealth.
func (l *Ledger) runCheckpoints(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(l.cfg.CheckpointMinInterval)
	defer t.Stop()
	var lastPrune, lastMaintain time.Time
	for {
		kicked := false
		select {
		case <-stop:
			return
		case <-t.C:
		case <-l.cpKick:
			kicked = true
		}
		ctx := context.Background()
		switch {
		case l.cpBackingOff() || l.Failed() != nil:
		case l.checkpointDue(ctx, false):
			l.Checkpoint(ctx, Meta{Actor: "jwtledger"}) // failures are tracked by Checkpoint
		case kicked:
			// Extend the tree over the new records now, in a short
			// transaction, so the next checkpoint has little left to build
			// while it holds the store's write lock.
			if _, err := l.db.BuildTree(ctx, l.cfg.NodeID); err != nil {
				l.cpFailed(fmt.Errorf("extend the tree: %w", err))
			}
		}
		if m := l.caps.Maintainer; m != nil && time.Since(lastMaintain) >= time.Hour {
			lastMaintain = time.Now()
			if err := m.Maintain(ctx, time.Now()); err != nil {
				l.log.Warn("store maintenance failed", "err", err)
			}
		}
		if l.cfg.Retain > 0 && time.Since(lastPrune) >= time.Hour {
			lastPrune = time.Now()
			if _, err := l.Prune(ctx, l.cfg.Retain); err != nil {
				l.log.Warn("audit retention failed", "err", err)
			}
		}
	}
}

// recordsAppended counts records for the CheckpointEvery trigger.
func (l *Ledger) recordsAppended(n int) {
	if l.sinceCP.Add(int64(n)) >= int64(l.cfg.CheckpointEvery) {
		l.sinceCP.Store(0)
		select {
		case l.cpKick <- struct{}{}:
		default:
		}
	}
}

// initCheckpointState reads the newest checkpoint of this node's chain.
func (l *Ledger) initCheckpointState(ctx context.Context) error {
	cps, err := l.db.Checkpoints(ctx, l.cfg.NodeID)
	if err != nil {
		return err
	}
	if n := len(cps); n > 0 {
		l.cpSize.Store(cps[n-1].Size)
		l.cpTime.Store(cps[n-1].Time.UnixNano())
	}
	return nil
}
