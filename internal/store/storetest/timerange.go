package storetest

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/jwtledger/jwtledger/internal/audit"
	"github.com/jwtledger/jwtledger/store"
)

// A query with a time range is exact whatever the order of the records'
// times and ids: records of two chains interleaved, a clock stepped back,
// records appended late with an old time, several records at one instant,
// pruned records inside a range; in both page orders, with cursors, a
// chain and member filters, on either side of the index's runs.

// timeRangeRuns is how many records TimeRangeLedger makes: past two runs
// of a run-major index (4,096 records each).
const timeRangeRuns = 2*4096 + 700

// TimeRangeLedger appends to s the records of the time-range checks and
// returns the time they start from. Chain "a" ticks one second a record
// from start, except that its clock steps back 600 s after a third of its
// records and that every 50th record is stamped an hour early (appended
// late); chain "b" runs ten records to a second from start+300 s, every
// 97th record at the same instant as the one before. The first 200
// records of chain b are pruned.
func TimeRangeLedger(t *testing.T, s store.Store) time.Time {
	t.Helper()
	start := time.Date(2026, 3, 4, 5, 0, 0, 0, time.UTC)
	var a, b []*audit.Record
	bAt := start.Add(300 * time.Second)
	for i := range timeRangeRuns / 2 {
		at := start.Add(time.Duration(i) * time.Second)
		if i > timeRangeRuns/6 {
			at = at.Add(-600 * time.Second)
		}
		if i%50 == 49 {
			at = at.Add(-time.Hour)
		}
		a = append(a, timeRecord(at, i, "a"))
		if i%97 != 96 {
			bAt = bAt.Add(100 * time.Millisecond)
		}
		b = append(b, timeRecord(bAt, i, "b"))
		if len(a) == 300 || i == timeRangeRuns/2-1 {
			mustAppend(t, s, "a", a)
			mustAppend(t, s, "b", b)
			a, b = nil, nil
		}
	}
	if _, err := s.Prune(ctx, "b", 200, start.Add(24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	return start
}

func timeRecord(at time.Time, i int, chain string) *audit.Record {
	r := &audit.Record{Time: at, Event: audit.TokenIssue, Outcome: audit.OK, Actor: "c" + strconv.Itoa(i%3),
		Sub: "u" + strconv.Itoa(i%5), JTI: chain + "j" + strconv.Itoa(i/2), RequestID: chain + "r" + strconv.Itoa(i), Alg: "ES256"}
	if i%2 == 1 {
		r.Event, r.Outcome = audit.TokenVerify, "valid"
		if i%6 == 5 {
			r.Outcome = "expired"
		}
	}
	return r
}

// CheckTimeRanges checks the time-range queries of s, which holds the
// records of TimeRangeLedger from start, against what the records say.
func CheckTimeRanges(t *testing.T, s store.Store, start time.Time) {
	t.Helper()
	all, err := s.Query(ctx, audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != timeRangeRuns-200 {
		t.Fatalf("%d records unpruned, want %d", len(all), timeRangeRuns-200)
	}
	ids := make([]int64, len(all))
	for i, r := range all {
		ids[i] = r.ID
	}
	sec := func(n float64) time.Time { return start.Add(time.Duration(n * float64(time.Second))) }
	// A record's time as a bound: it is in a range from it, not in one
	// until it.
	at := func(i int) time.Time { return all[i].Time }
	ranges := []struct{ since, until time.Time }{
		{sec(310), sec(330)},                                  // chain b's records, and a's before and after the step back
		{sec(600), sec(601)},                                  // one second
		{at(len(all) / 2), at(len(all)/2 + 7)},                // from a record's time to another's
		{at(4096), at(4096).Add(time.Nanosecond)},             // the instant of the record at a run's edge
		{at(8191), time.Time{}},                               // since only
		{time.Time{}, at(100)},                                // until only
		{sec(-3600), sec(-3000)},                              // only records stamped early
		{sec(320.05), sec(320.06)},                            // between two records: none
		{sec(-99999), sec(99999)},                             // everything
		{at(len(all) - 1), at(len(all) - 1).Add(time.Second)}, // the newest record's
	}
	mid := ids[len(ids)/2]
	for _, rg := range ranges {
		for _, v := range []func(*audit.Filter){
			func(*audit.Filter) {},
			func(f *audit.Filter) { f.Limit = 1 },
			func(f *audit.Filter) { f.Limit = 100 },
			func(f *audit.Filter) { f.Limit, f.Newest = 1, true },
			func(f *audit.Filter) { f.Limit, f.Newest = 51, true },
			func(f *audit.Filter) { f.After, f.Limit = mid, 20 },
			func(f *audit.Filter) { f.Before, f.Limit, f.Newest = mid, 20, true },
			func(f *audit.Filter) { f.After, f.Before = ids[100], ids[len(ids)-100] },
			func(f *audit.Filter) { f.Chain, f.Limit, f.Newest = "a", 30, true },
			func(f *audit.Filter) { f.Chain, f.Limit = "b", 30 },
			func(f *audit.Filter) { f.Event, f.Limit, f.Newest = audit.TokenVerify, 25, true },
			func(f *audit.Filter) { f.Outcome, f.Limit = "expired", 25 },
			func(f *audit.Filter) { f.Sub, f.Event, f.Limit, f.Newest = "u2", audit.TokenIssue, 10, true },
			func(f *audit.Filter) { f.JTI = all[len(all)/2].JTI },
			func(f *audit.Filter) { f.RequestID, f.Newest, f.Limit = all[len(all)/3].RequestID, true, 51 },
			func(f *audit.Filter) { f.Actor, f.Chain, f.Limit = "c1", "a", 40 },
		} {
			f := audit.Filter{Since: rg.since, Until: rg.until}
			v(&f)
			got, err := s.Query(ctx, f)
			if err != nil {
				t.Fatalf("query %+v: %v", f, err)
			}
			gotIDs := make([]int64, 0, len(got))
			for _, r := range got {
				gotIDs = append(gotIDs, r.ID)
				if !f.Since.IsZero() && r.Time.Before(f.Since) || !f.Until.IsZero() && !r.Time.Before(f.Until) {
					t.Errorf("query %+v: record %d at %v is outside the range", f, r.ID, r.Time)
				}
			}
			if want := oracle(all, f); !slices.Equal(gotIDs, want) {
				t.Errorf("query %+v:\n got %v\nwant %v", f, gotIDs, want)
			}
		}
	}
}

func testQueryTimeRanges(t *testing.T, loc Location) {
	s := open(t, loc)
	start := TimeRangeLedger(t, s)
	CheckTimeRanges(t, s, start)
	off := loc.OpenIndexOff(t)
	defer off.Close()
	CheckTimeRanges(t, off, start)
}
