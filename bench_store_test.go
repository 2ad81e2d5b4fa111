package jwtledger_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jwtledger/jwtledger"
	"github.com/jwtledger/jwtledger/internal/store/pgtest"
	"github.com/jwtledger/jwtledger/trail"
)

// BenchmarkStores compares the stores in one run: audited ES256 issuance
// with 64 concurrent callers on SQLite (one node), PostgreSQL with one node
// and PostgreSQL with two nodes (two ledgers on one database, 32 callers
// each). ns/op is wall time per issued token; recs/commit is the group
// commit size. The PostgreSQL cases need JWTLEDGER_TEST_POSTGRES.
//
//	go test -run '^$' -bench Stores -benchtime 20000x .
func BenchmarkStores(b *testing.B) {
	master := make([]byte, 32)
	rand.Read(master)
	cases := []struct {
		name  string
		nodes int
		pg    bool
	}{{"sqlite/nodes=1", 1, false}, {"postgres/nodes=1", 1, true}, {"postgres/nodes=2", 2, true}}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			store := ""
			if tc.pg {
				if os.Getenv(pgtest.Env) == "" {
					b.Skip(pgtest.Env + " is not set")
				}
				store = pgtest.Database(b)
			}
			nodes := make([]*jwtledger.Ledger, tc.nodes)
			for i := range nodes {
				l, err := jwtledger.Open(context.Background(), jwtledger.Config{DataDir: b.TempDir(), Store: store, MasterKey: master,
					NodeID: fmt.Sprintf("bench-%d", i), TextLog: "off"})
				if err != nil {
					b.Fatal(err)
				}
				defer l.Close()
				nodes[i] = l
			}
			// The first key: made by the first Issue of node 0.
			if _, err := nodes[0].Issue(context.Background(), jwtledger.IssueRequest{Subject: "warm"}); err != nil {
				b.Fatal(err)
			}
			before := make([]trail.Stats, len(nodes))
			for i, l := range nodes {
				before[i], _ = l.Trail().Stats()
			}
			var left atomic.Int64
			left.Store(int64(b.N))
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for w := range 64 {
				l := nodes[w%len(nodes)]
				wg.Go(func() {
					for left.Add(-1) >= 0 {
						if _, err := l.Issue(context.Background(), jwtledger.IssueRequest{Subject: "bench"}); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			var batches, recs uint64
			for i, l := range nodes {
				st, _ := l.Trail().Stats()
				batches += st.Batches - before[i].Batches
				recs += st.Records - before[i].Records
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "issues/s")
			if batches > 0 {
				b.ReportMetric(float64(recs)/float64(batches), "recs/commit")
			}
		})
	}
}
