//go:build cgo

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
	"github.com/jwtledger/jwtledger/store/sqlite"
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
// sizes (ns/op is per record; each batch is one transaction and fsync).
// Records are appended without tree hashes; BenchmarkBuildTree measures
// extending the tree over them, which checkpoints do in bulk.
func BenchmarkAppend(b *testing.B) {
	for _, size := range []int{1, 32, 256} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			db := warmDB(b)
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

// BenchmarkBuildTree measures extending the Merkle tree over appended
// records, per record, in steps of 1,000 records (the checkpoint cadence).
func BenchmarkBuildTree(b *testing.B) {
	db := warmDB(b)
	const step = 1000
	for i := 0; i < b.N; i += step {
		b.StopTimer()
		recs := make([]*audit.Record, step)
		for j := range recs {
			recs[j] = benchRecord()
		}
		if err := db.Append(context.Background(), "n", recs); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := db.BuildTree(context.Background(), "n"); err != nil {
			b.Fatal(err)
		}
	}
}

// warmDB is a store holding 10,000 records (tree built), so index pages
// are realistic.
func warmDB(b *testing.B) *sqlite.DB {
	db, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "a.db"), sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	for range 100 {
		recs := make([]*audit.Record, 100)
		for i := range recs {
			recs[i] = benchRecord()
		}
		if err := db.Append(context.Background(), "n", recs); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := db.BuildTree(context.Background(), "n"); err != nil {
		b.Fatal(err)
	}
	return db
}
