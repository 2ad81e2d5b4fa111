package auditlog

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"golang.org/x/mod/sumdb/note"

	"github.com/jwtledger/jwtledger/internal/keys"
)

// MetaStore keeps small named values (see the store's meta table).
type MetaStore interface {
	Meta(ctx context.Context, name string) (value []byte, ok bool, err error)
	// SetMetaOnce stores value under name unless one is stored, and returns
	// the stored one.
	SetMetaOnce(ctx context.Context, name string, value []byte) ([]byte, error)
}

// keyMeta is how the audit signing key is kept in the store.
type keyMeta struct {
	VerifierKey string `json:"vkey"`
	Sealed      []byte `json:"sealed"` // the note signer key, sealed
}

const keyName = "audit_key"

// Key is the ledger's checkpoint signing key.
type Key struct {
	Signer      note.Signer
	VerifierKey string // "name+hash+base64", what auditors are given
}

// LoadKey loads, or creates on first use, the ledger's Ed25519 audit
// signing key, sealed under master in db. It is kept apart from token keys
// and never signs tokens.
func LoadKey(ctx context.Context, db MetaStore, master []byte) (*Key, error) {
	raw, ok, err := db.Meta(ctx, keyName)
	if err != nil {
		return nil, err
	}
	if !ok {
		var id [4]byte
		rand.Read(id[:])
		skey, vkey, err := note.GenerateKey(rand.Reader, "jwtledger-audit-"+hex.EncodeToString(id[:]))
		if err != nil {
			return nil, fmt.Errorf("generate audit key: %w", err)
		}
		sealed, err := keys.SealBytes(master, []byte(keyName), []byte(skey))
		if err != nil {
			return nil, err
		}
		j, _ := json.Marshal(keyMeta{VerifierKey: vkey, Sealed: sealed})
		if raw, err = db.SetMetaOnce(ctx, keyName, j); err != nil {
			return nil, fmt.Errorf("store audit key: %w", err)
		}
	}
	var m keyMeta
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("audit key: %w", err)
	}
	skey, err := keys.OpenBytes(master, []byte(keyName), m.Sealed)
	if err != nil {
		return nil, fmt.Errorf("audit key: %w (hint: is JWTLEDGER_MASTER_KEY or master.key the one this store was made with?)", err)
	}
	signer, err := note.NewSigner(string(skey))
	clear(skey)
	if err != nil {
		return nil, fmt.Errorf("audit key: %w", err)
	}
	if _, err := note.NewVerifier(m.VerifierKey); err != nil {
		return nil, fmt.Errorf("audit key: %w", err)
	}
	return &Key{Signer: signer, VerifierKey: m.VerifierKey}, nil
}
