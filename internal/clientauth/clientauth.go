// Package clientauth holds the machinery of client credentials: secrets
// are generated here, stored and looked up only by their SHA-256 hash, and
// a process keeps the clients by secret hash in a [Cache] that is dropped
// on every change, its own or (through the store's change mark) another
// process's. The scope names a client holds are declared here for the
// server and the command.
package clientauth

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"sync"
)

// Hash is the stored form of a secret.
func Hash(secret string) [32]byte { return sha256.Sum256([]byte(secret)) }

// NewSecret returns a new random client secret.
func NewSecret() string {
	var b [32]byte
	rand.Read(b[:])
	return "jls_" + base64.RawURLEncoding.EncodeToString(b[:])
}

// Cache maps secret hashes to clients. It is loaded when empty and dropped
// by Invalidate, or by CheckMark when the store's change mark moved.
type Cache[C any] struct {
	mu     sync.RWMutex
	byHash map[[32]byte]C // nil: load on next use
	gen    uint64         // counts invalidations
	mark   []byte         // the store's change mark when last checked
	loadMu sync.Mutex     // one load at a time
}

// Invalidate drops the cache.
func (cc *Cache[C]) Invalidate() {
	cc.mu.Lock()
	cc.byHash = nil
	cc.gen++
	cc.mu.Unlock()
}

// CheckMark drops the cache if the store's change mark, read by mark,
// differs from the one seen last.
func (cc *Cache[C]) CheckMark(ctx context.Context, mark func(context.Context) ([]byte, error)) error {
	v, err := mark(ctx)
	if err != nil {
		return err
	}
	cc.mu.Lock()
	if !bytes.Equal(v, cc.mark) {
		cc.mark = v
		cc.byHash = nil
		cc.gen++
	}
	cc.mu.Unlock()
	return nil
}

// Load returns the clients by secret hash, calling read when the cache was
// dropped. The map must not be changed.
func (cc *Cache[C]) Load(ctx context.Context, read func(context.Context) (map[[32]byte]C, error)) (map[[32]byte]C, error) {
	cc.mu.RLock()
	m := cc.byHash
	cc.mu.RUnlock()
	if m != nil {
		return m, nil
	}
	cc.loadMu.Lock()
	defer cc.loadMu.Unlock()
	cc.mu.RLock()
	m, gen := cc.byHash, cc.gen
	cc.mu.RUnlock()
	if m != nil {
		return m, nil
	}
	m, err := read(ctx)
	if err != nil {
		return nil, err
	}
	cc.mu.Lock()
	// A change that landed while the clients were read invalidated the
	// cache again: this request may use what was read, later ones not.
	if cc.gen == gen {
		cc.byHash = m
	}
	cc.mu.Unlock()
	return m, nil
}

// The scopes a client can hold (the strings are the contract: the root's
// NewClient documents them, the HTTP API and the CLI take them).
const (
	ScopeIssue  = "tokens:issue"
	ScopeVerify = "tokens:verify"
	ScopeRevoke = "tokens:revoke"
	ScopeAudit  = "audit:read"
	ScopeAdmin  = "admin" // holds every scope
)

// AllScopes lists every scope.
var AllScopes = []string{ScopeIssue, ScopeVerify, ScopeRevoke, ScopeAudit, ScopeAdmin}

// AnyClaim in a client policy's claims allows any custom claim.
const AnyClaim = "*"
