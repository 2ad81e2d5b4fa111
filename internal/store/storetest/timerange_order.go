package storetest

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/jwtledger/jwtledger/internal/audit"
	"github.com/jwtledger/jwtledger/store"
)

// testTimeRanges: a query by time range answers exactly whichever way the
// backend reads it (by time, or walking the ids), with the index on and
// off, though record times are not in id order.
func testTimeRanges(t *testing.T, loc Location) {
	for _, tc := range []struct {
		name string
		open func(t *testing.T) store.Store
	}{{"index on", loc.Open}, {"index off", loc.OpenIndexOff}} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.open(t)
			t.Cleanup(func() { s.Close() })
			AppendOutOfOrder(t, s)
			CheckOutOfOrderRanges(t, s)
		})
	}
}

// AppendOutOfOrder appends 120 records to chain a and 60 to chain b of
// s, a second apart from t0 and interleaved, except that every 9th is
// stamped an hour early and every 11th an hour late (a node's clock off):
// time is not monotonic in id.
func AppendOutOfOrder(t *testing.T, s store.Store) {
	t.Helper()
	for batch := 0; batch < 6; batch++ {
		for _, chain := range []string{"a", "b", "a"} {
			recs := indexRecords(10, t0, chain+strconv.Itoa(batch))
			for i, r := range recs {
				n := batch*30 + len(chain)*i // a rough clock shared by both chains
				r.Time = t0.Add(time.Duration(n) * time.Second)
				switch {
				case (n+i)%9 == 0:
					r.Time = r.Time.Add(-time.Hour)
				case (n+i)%11 == 0:
					r.Time = r.Time.Add(time.Hour)
				}
			}
			mustAppend(t, s, chain, recs)
		}
	}
}

// CheckOutOfOrderRanges compares the answers of s to time-range queries (small
// and large ranges, open at either end, touching the ledger's ends or
// not, paged, with a chain or a member filter) with the records' own.
func CheckOutOfOrderRanges(t *testing.T, s store.Store) {
	t.Helper()
	all, err := s.Query(ctx, audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	mid := all[len(all)/2].ID
	at := func(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }
	ranges := []struct{ since, until time.Time }{
		{at(40), at(50)}, {at(60), at(61)}, {at(10), at(170)}, {at(90), time.Time{}}, {time.Time{}, at(90)},
		{at(170), time.Time{}}, {time.Time{}, at(3)}, {at(-3600), at(-3500)}, {at(3600), time.Time{}},
		{at(-7200), at(7200)}, {at(500), at(600)},
	}
	for _, r := range ranges {
		base := audit.Filter{Since: r.since, Until: r.until}
		for _, v := range []func(*audit.Filter){
			func(*audit.Filter) {},
			func(f *audit.Filter) { f.Limit = 4 },
			func(f *audit.Filter) { f.Limit, f.Newest = 4, true },
			func(f *audit.Filter) { f.After, f.Limit = mid, 4 },
			func(f *audit.Filter) { f.Before, f.Limit, f.Newest = mid, 3, true },
			func(f *audit.Filter) { f.Chain, f.Limit = "b", 5 },
			func(f *audit.Filter) { f.Outcome, f.Limit, f.Newest = "expired", 3, true },
		} {
			f := base
			v(&f)
			got, err := s.Query(ctx, f)
			if err != nil {
				t.Fatalf("query %+v: %v", f, err)
			}
			var gotIDs []int64
			for _, r := range got {
				gotIDs = append(gotIDs, r.ID)
			}
			if want := oracle(all, f); !slices.Equal(gotIDs, want) {
				t.Errorf("query %+v:\n got %v\nwant %v", f, gotIDs, want)
			}
		}
	}
}
