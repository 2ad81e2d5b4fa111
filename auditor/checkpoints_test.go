package auditor_test

import (
	"reflect"
	"runtime"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/jwtledger/jwtledger/auditor"
)

// TestCheckpointsSameAsCheckpoint checks that Checkpoints, which checks
// the signatures on several cores, reports exactly what Checkpoint does
// for each checkpoint in order, whatever is wrong with them.
func TestCheckpointsSameAsCheckpoint(t *testing.T) {
	log := newTestLog(t, "jwtledger-audit-test")
	other := newTestLog(t, "jwtledger-audit-other")
	const n = 600
	sizes := make([]int64, 0, n)
	for s := int64(1); s <= n; s++ {
		sizes = append(sizes, s) // many: every worker takes some
	}
	rows, cps := testChain(t, log, n, sizes...)
	_, foreign := testChain(t, other, n, 17, 300)
	for _, tc := range []struct {
		name   string
		change func(cps [][3]any) [][3]any
	}{
		{"intact", func(cps [][3]any) [][3]any { return cps }},
		{"none", func(cps [][3]any) [][3]any { return nil }},
		{"one", func(cps [][3]any) [][3]any { return cps[:1] }},
		{"bad signatures", func(cps [][3]any) [][3]any {
			for _, i := range []int{3, 299, 599} {
				note := append([]byte(nil), cps[i][0].([]byte)...)
				note[len(note)-5] ^= 1
				cps[i][0] = note
			}
			return cps
		}},
		{"another log's", func(cps [][3]any) [][3]any { return append(cps[:100:100], append(foreign, cps[100:]...)...) }},
		{"row differs from its note", func(cps [][3]any) [][3]any {
			cps[10][1] = int64(11)
			cps[20][2] = tlog.Hash{1}
			return cps
		}},
		{"not a note", func(cps [][3]any) [][3]any { cps[50][0] = []byte("hello"); return cps }},
		{"repeated", func(cps [][3]any) [][3]any { return append(cps, cps[7], cps[7]) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cps := tc.change(append([][3]any(nil), cps...))
			run := func(all bool) *auditor.LogReport {
				v, err := auditor.NewLogVerifier(log.vkey, auditor.VerifyOptions{})
				if err != nil {
					t.Fatal(err)
				}
				c, err := v.Chain("n1", nil)
				if err != nil {
					t.Fatal(err)
				}
				if all {
					stored := make([]auditor.StoredCheckpoint, len(cps))
					for i, cp := range cps {
						stored[i] = auditor.StoredCheckpoint{Note: cp[0].([]byte), Size: cp[1].(int64), Root: cp[2].(tlog.Hash)}
					}
					c.Checkpoints(stored)
				} else {
					for _, cp := range cps {
						c.Checkpoint(cp[0].([]byte), cp[1].(int64), cp[2].(tlog.Hash))
					}
				}
				c.CheckSize(n)
				for _, r := range rows {
					if err := c.Record(r.seq, r.body, r.leaf); err != nil {
						t.Fatal(err)
					}
				}
				c.Done(true)
				return v.Report()
			}
			want := run(false)
			if tc.name == "intact" && (!want.OK || want.Chains[0].Checkpoints != n) {
				t.Fatalf("intact: %+v", want)
			}
			if tc.name == "bad signatures" && want.OK {
				t.Fatalf("bad signatures not reported: %+v", want)
			}
			for _, procs := range []int{1, 3} {
				prev := runtime.GOMAXPROCS(procs)
				got := run(true)
				runtime.GOMAXPROCS(prev)
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("GOMAXPROCS %d: Checkpoints: %+v\nCheckpoint: %+v", procs, got, want)
				}
			}
		})
	}
}
