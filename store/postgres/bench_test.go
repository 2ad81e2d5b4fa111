package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"testing"
	"time"

	"github.com/jwtledger/jwtledger/internal/audit"
	"github.com/jwtledger/jwtledger/internal/store/pgtest"
	"github.com/jwtledger/jwtledger/store/postgres"
)

func benchRecord() *audit.Record {
	var b [16]byte
	rand.Read(b[:])
	jti := base64.RawURLEncoding.EncodeToString(b[:])
	return &audit.Record{Time: time.Now(), Event: audit.TokenIssue, Outcome: audit.OK, Actor: "client-1", Sub: "user-" + jti[:6],
		Aud: []string{"api"}, JTI: jti, KID: "kid-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", Alg: "ES256", Exp: time.Now().Add(time.Hour),
		TokenSHA256: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}
}

// BenchmarkAppend is the PostgreSQL twin of the SQLite store's
// BenchmarkAppend: ns/op per record, one transaction per batch.
func BenchmarkAppend(b *testing.B) {
	pgtest.Require(b)
	for _, size := range []int{1, 32, 256} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			db, err := postgres.Open(context.Background(), pgtest.Database(b))
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
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
		})
	}
}
