// Package witnesstest has what the witness tests share: an in-memory
// RFC 6962 tree that can fork, and a log that signs its checkpoints with a
// note key named like a jwtledger audit key.
package witnesstest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"testing"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/jwtledger/jwtledger/auditor"
)

// A Tree is an in-memory Merkle tree built with golang.org/x/mod/sumdb/tlog.
type Tree struct {
	hashes []tlog.Hash // the stored hashes, as tlog numbers them
	size   int64
}

// ReadHashes implements tlog.HashReader.
func (t *Tree) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if x < 0 || x >= int64(len(t.hashes)) {
			return nil, fmt.Errorf("hash %d not stored", x)
		}
		out[i] = t.hashes[x]
	}
	return out, nil
}

// Append adds records to the tree.
func (t *Tree) Append(records ...[]byte) {
	for _, r := range records {
		hs, err := tlog.StoredHashes(t.size, r, t)
		if err != nil {
			panic(err)
		}
		t.hashes = append(t.hashes, hs...)
		t.size++
	}
}

// AppendN adds n records named prefix-i.
func (t *Tree) AppendN(prefix string, n int) {
	for range n {
		t.Append(fmt.Appendf(nil, "%s-%d", prefix, t.size))
	}
}

// Size returns the number of records.
func (t *Tree) Size() int64 { return t.size }

// Root returns the root hash at the current size.
func (t *Tree) Root() tlog.Hash {
	h, err := tlog.TreeHash(t.size, t)
	if err != nil {
		panic(err)
	}
	return h
}

// Prove returns the consistency proof from size old to the current size,
// empty from 0 and from the current size.
func (t *Tree) Prove(old int64) tlog.TreeProof {
	if old == 0 || old == t.size {
		return nil
	}
	p, err := tlog.ProveTree(t.size, old, t)
	if err != nil {
		panic(err)
	}
	return p
}

// Fork returns a copy of the tree that grows on its own.
func (t *Tree) Fork() *Tree { return &Tree{hashes: slices.Clone(t.hashes), size: t.size} }

// A Log signs checkpoints of one origin.
type Log struct {
	Origin      string
	Signer      note.Signer
	VerifierKey string
	Verifier    note.Verifier
}

// NewLog makes a log of origin with a new Ed25519 note key named like the
// ledger's audit keys ("jwtledger-audit-" and 8 hex digits), which is not
// the origin.
func NewLog(t testing.TB, origin string) *Log {
	t.Helper()
	var id [4]byte
	rand.Read(id[:])
	skey, vkey, err := note.GenerateKey(rand.Reader, "jwtledger-audit-"+hex.EncodeToString(id[:]))
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return &Log{Origin: origin, Signer: s, VerifierKey: vkey, Verifier: v}
}

// Sign returns the signed checkpoint note of the tree at its current size.
func (l *Log) Sign(t testing.TB, tree *Tree) []byte {
	t.Helper()
	cp := auditor.Checkpoint{Origin: l.Origin, Size: tree.Size(), Root: tree.Root()}
	n, err := note.Sign(&note.Note{Text: cp.String()}, l.Signer)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
