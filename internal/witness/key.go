package witness

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/jwtledger/jwtledger/internal/keys"
)

// KeyFile is the name of the witness key file in the witness directory.
const KeyFile = "key.json"

// keyFile is how the witness key is kept: its name and verifier key in
// clear, the Ed25519 seed sealed with AES-256-GCM under the master key and
// bound to the name, as the ledger seals its keys.
type keyFile struct {
	Name        string `json:"name"`
	VerifierKey string `json:"vkey"`
	Sealed      []byte `json:"sealed"`
}

func keyAAD(name string) []byte { return []byte("jwtledger witness key\n" + name) }

// DefaultName returns a name for a new witness key: "jwtledger-witness-"
// and 8 random hex digits.
func DefaultName() string {
	var id [4]byte
	rand.Read(id[:])
	return "jwtledger-witness-" + hex.EncodeToString(id[:])
}

// LoadKey returns the signer of the witness key in dir, creating the key on
// first use under name (DefaultName when empty). The key keeps the name it
// was made with: a different non-empty name is an error, because the
// cosignature/v1 message does not commit to the name, so one key must not
// sign under two. master unseals the key (see [keys.LoadMasterKey]).
func LoadKey(dir, name string, master []byte) (*Signer, error) {
	path := filepath.Join(dir, KeyFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		if name == "" {
			name = DefaultName()
		}
		data, err = createKey(path, name, master)
	}
	if err != nil {
		return nil, fmt.Errorf("witness key: %w", err)
	}
	var kf keyFile
	if err := json.Unmarshal(data, &kf); err != nil {
		return nil, fmt.Errorf("witness key %s: %w", path, err)
	}
	if name != "" && name != kf.Name {
		return nil, fmt.Errorf("witness key %s was made for the name %q, not %q (hint: leave --name out, or use another data directory for a new witness)", path, kf.Name, name)
	}
	seed, err := keys.OpenBytes(master, keyAAD(kf.Name), kf.Sealed)
	if err != nil {
		return nil, fmt.Errorf("witness key %s: %w (hint: is JWTLEDGER_MASTER_KEY or master.key the one this key was made with?)", path, err)
	}
	defer clear(seed)
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("witness key %s: sealed seed has %d bytes", path, len(seed))
	}
	s, err := NewSigner(kf.Name, ed25519.NewKeyFromSeed(seed))
	if err != nil {
		return nil, fmt.Errorf("witness key %s: %w", path, err)
	}
	if s.Verifier().String() != kf.VerifierKey {
		return nil, fmt.Errorf("witness key %s: the sealed key does not match its verifier key", path)
	}
	return s, nil
}

func createKey(path, name string, master []byte) ([]byte, error) {
	seed := make([]byte, ed25519.SeedSize)
	rand.Read(seed)
	defer clear(seed)
	s, err := NewSigner(name, ed25519.NewKeyFromSeed(seed))
	if err != nil {
		return nil, err
	}
	sealed, err := keys.SealBytes(master, keyAAD(name), seed)
	if err != nil {
		return nil, err
	}
	j, err := json.MarshalIndent(keyFile{Name: name, VerifierKey: s.Verifier().String(), Sealed: sealed}, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	return keys.CreateFileOnce(path, append(j, '\n'))
}
