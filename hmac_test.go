package jwtledger_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jwtledger/jwtledger"
	"github.com/jwtledger/jwtledger/keys"
)

// With RefuseHMACSigning (serve) an HMAC key never becomes the signer: a
// ledger whose active key is HMAC does not open, rotating or importing an
// active HMAC key is refused.
func TestRefuseHMACSigning(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	plain, err := jwtledger.Open(ctx, jwtledger.Config{DataDir: dir, TextLog: "off"})
	if err != nil {
		t.Fatal(err)
	}
	strict, err := jwtledger.Open(ctx, jwtledger.Config{DataDir: dir, TextLog: "off", RefuseHMACSigning: true})
	if err != nil {
		t.Fatal(err)
	}
	defer strict.Close()
	if _, err := strict.RotateKey(ctx, "HS256", jwtledger.Meta{}); !errors.Is(err, jwtledger.ErrHMACSigning) {
		t.Fatalf("rotate to HS256: %v, want ErrHMACSigning", err)
	}
	k, _ := keys.Generate("HS256")
	if _, err := strict.ImportKey(ctx, k, keys.Active, jwtledger.Meta{}); !errors.Is(err, jwtledger.ErrHMACSigning) {
		t.Fatalf("import an active HMAC key: %v, want ErrHMACSigning", err)
	}
	// Another process makes an HMAC key active.
	if _, err := plain.RotateKey(ctx, "HS256", jwtledger.Meta{}); err != nil {
		t.Fatal(err)
	}
	plain.Close()
	if _, err := jwtledger.Open(ctx, jwtledger.Config{DataDir: dir, TextLog: "off", RefuseHMACSigning: true}); !errors.Is(err, jwtledger.ErrHMACSigning) {
		t.Fatalf("Open with an active HMAC key: %v, want ErrHMACSigning", err)
	}
}
