package sqlite_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/jwtledger/jwtledger/internal/audit"
	"github.com/jwtledger/jwtledger/internal/store/sqlite"
)

func benchRecord() *audit.Record {
	var b [16]byte
	rand.Read(b[:])
	jti := base64.RawURLEncoding.EncodeToString(b[:])
	return &audit.Record{Time: time.Now(), Event: audit.TokenIssue, Outcome: audit.OK, Actor: "client-1", Sub: "user-" + jti[:6],
		Aud: []string{"api"}, JTI: jti, KID: "kid-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", Alg: "ES256", Exp: time.Now().Add(time.Hour),
		TokenSHA256: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}
}

// BenchmarkAppend measures the store's cost per record at several batch
// sizes (ns/op is per record; each batch is one transaction and fsync), with
// the Merkle tree hashes and without them (tree=off), side by side.
func BenchmarkAppend(b *testing.B) {
	for _, tree := range []bool{true, false} {
		for _, size := range []int{1, 32, 256} {
			b.Run(fmt.Sprintf("tree=%v/batch=%d", tree, size), func(b *testing.B) { benchAppend(b, tree, size) })
		}
	}
}

func benchAppend(b *testing.B, tree bool, size int) {
	{
		{
			db, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "a.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			sqlite.SetTreeHashing(db, tree)
			// Warm the ledger so index pages are realistic.
			for range 100 {
				recs := make([]*audit.Record, 100)
				for i := range recs {
					recs[i] = benchRecord()
				}
				db.Append(context.Background(), "n", recs)
			}
			recs := make([]*audit.Record, size)
			b.ResetTimer()
			for i := 0; i < b.N; i += size {
				for j := range recs {
					recs[j] = benchRecord()
				}
				if err := db.Append(context.Background(), "n", recs); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
}
