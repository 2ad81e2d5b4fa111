package storetest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"testing"
	"time"

	"github.com/jwtledger/jwtledger/internal/audit"
	"github.com/jwtledger/jwtledger/store"
)

// BenchRecord is a token.issue record of realistic size, with a fresh jti.
func BenchRecord() *audit.Record {
	var b [16]byte
	rand.Read(b[:])
	jti := base64.RawURLEncoding.EncodeToString(b[:])
	return &audit.Record{Time: time.Now(), Event: audit.TokenIssue, Outcome: audit.OK, Actor: "client-1", Sub: "user-" + jti[:6],
		Aud: []string{"api"}, JTI: jti, KID: "kid-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", Alg: "ES256", Exp: time.Now().Add(time.Hour),
		TokenSHA256: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}
}

// BenchAppend measures a store's cost per record at batch sizes 1, 32 and
// 256 (ns/op is per record; each batch is one Append, one transaction).
// It also reports cpu-µs/rec, the CPU time (user and system) of the whole
// process per record during the timed loop: ns/op is mostly the wait for
// the sync, which the CPU figure leaves out (a PostgreSQL server's CPU is
// not in it either). open makes the store of each sub-benchmark and closes
// it when the benchmark ends (b.Cleanup).
func BenchAppend(b *testing.B, open func(b *testing.B) store.Store) {
	for _, size := range []int{1, 32, 256} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			db := open(b)
			recs := make([]*audit.Record, size)
			b.ResetTimer()
			cpu0, cpuOK := processCPU()
			n := 0
			for i := 0; i < b.N; i += size {
				for j := range recs {
					recs[j] = BenchRecord()
				}
				if err := db.Append(context.Background(), "n", recs); err != nil {
					b.Fatal(err)
				}
				n += size
			}
			if cpu1, ok := processCPU(); cpuOK && ok && n > 0 {
				b.ReportMetric(float64(cpu1-cpu0)/float64(time.Microsecond)/float64(n), "cpu-µs/rec")
			}
		})
	}
}
