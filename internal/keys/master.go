package keys

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// LoadMasterKey returns the master key that seals private keys in dataDir:
// env (the value of JWTLEDGER_MASTER_KEY, base64 or hex) when it is set,
// else the key in dataDir/master.key, which is created (32 random bytes in
// base64, mode 0600) when missing. The file format is the ledger's, so a
// ledger and a witness sharing a data directory share the key.
func LoadMasterKey(dataDir, env string) ([]byte, error) {
	if env != "" {
		k, err := DecodeMasterKey(env)
		if err != nil {
			return nil, fmt.Errorf("JWTLEDGER_MASTER_KEY: %w", err)
		}
		return k, nil
	}
	path := filepath.Join(dataDir, "master.key")
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		k := make([]byte, MasterKeySize)
		rand.Read(k)
		data, err = CreateFileOnce(path, []byte(base64.StdEncoding.EncodeToString(k)+"\n"))
		if err != nil {
			return nil, fmt.Errorf("create master key: %w", err)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("read master key: %w", err)
	}
	k, err := DecodeMasterKey(strings.TrimSpace(string(data)))
	if err != nil {
		return nil, fmt.Errorf("master key %s: %w", path, err)
	}
	return k, nil
}

// DecodeMasterKey decodes a 32-byte master key written in base64 (standard
// or URL alphabet, padded or not) or hex.
func DecodeMasterKey(s string) ([]byte, error) {
	for _, dec := range []func(string) ([]byte, error){
		base64.StdEncoding.DecodeString, base64.RawStdEncoding.DecodeString,
		base64.URLEncoding.DecodeString, base64.RawURLEncoding.DecodeString, hex.DecodeString,
	} {
		if k, err := dec(s); err == nil && len(k) == MasterKeySize {
			return k, nil
		}
	}
	return nil, fmt.Errorf("want %d bytes, base64 or hex encoded", MasterKeySize)
}

// CreateFileOnce makes path hold data (mode 0600, synced) unless another
// process made it first, in which case it returns what that one wrote.
// Others see either no file or all of it: the data goes to a temporary file
// that is then hard-linked into place (a link never replaces a file).
func CreateFileOnce(path string, data []byte) ([]byte, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	_, werr := tmp.Write(data)
	if err := errors.Join(werr, tmp.Chmod(0o600), tmp.Sync(), tmp.Close()); err != nil {
		return nil, err
	}
	if err := os.Link(tmp.Name(), path); errors.Is(err, os.ErrExist) {
		return os.ReadFile(path)
	} else if err != nil {
		return nil, err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return data, nil
}
