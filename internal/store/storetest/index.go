package storetest

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/jwtledger/jwtledger/internal/audit"
	"github.com/jwtledger/jwtledger/internal/poll"
	"github.com/jwtledger/jwtledger/store"
)

// The audit index is kept behind the commits: a query is exact wherever
// its mark is (the records past it are read the slow way), a crash
// between the commit and the index is caught up at open, pruned records
// stay out, and two values sharing a key are told apart.

func openIdle(t *testing.T, loc Location) store.Store {
	t.Helper()
	s := loc.OpenIdle(t)
	t.Cleanup(func() { s.Close() })
	return s
}

func auditIndex(t *testing.T, s store.Store) store.AuditIndex {
	t.Helper()
	b, ok := s.(store.Backend)
	if !ok || b.Capabilities().Index == nil {
		t.Fatal("the backend keeps no audit index")
	}
	return b.Capabilities().Index
}

// indexRecords makes n records with varied members: token.issue and
// token.verify pairs sharing a jti, four subjects, three actors, two key
// ids, a request id each.
func indexRecords(n int, start time.Time, tag string) []*audit.Record {
	recs := make([]*audit.Record, n)
	verify := []string{"valid", "expired", "revoked"}
	for i := range recs {
		r := &audit.Record{Time: start.Add(time.Duration(i) * time.Second), Event: audit.TokenIssue, Outcome: audit.OK,
			Actor: "c" + strconv.Itoa(i%3), Sub: "u" + strconv.Itoa(i%4), JTI: tag + "j" + strconv.Itoa(i/2),
			KID: "k" + strconv.Itoa(i%5/4), RequestID: tag + "r" + strconv.Itoa(i), Alg: "ES256"}
		if i%2 == 1 {
			r.Event, r.Outcome = audit.TokenVerify, verify[i/2%3]
		}
		if i%7 == 6 {
			r.Event, r.Outcome, r.Sub, r.JTI = audit.AuthDenied, audit.Denied, "", ""
		}
		recs[i] = r
	}
	return recs
}

// oracle is what Query must answer for f, worked out from every record
// (all, in id order) without the index.
func oracle(all []*audit.Record, f audit.Filter) []int64 {
	var out []int64
	for _, r := range all {
		switch {
		case f.Chain != "" && r.Chain != f.Chain,
			!f.Since.IsZero() && r.Time.Before(f.Since),
			!f.Until.IsZero() && !r.Time.Before(f.Until),
			f.After > 0 && r.ID <= f.After,
			f.Before > 0 && r.ID >= f.Before:
			continue
		}
		ok := true
		for _, c := range []struct{ want, got string }{{string(f.Event), string(r.Event)}, {f.Outcome, r.Outcome}, {f.Sub, r.Sub},
			{f.JTI, r.JTI}, {f.Actor, r.Actor}, {f.KID, r.KID}, {f.RequestID, r.RequestID}} {
			ok = ok && (c.want == "" || c.want == c.got)
		}
		if ok {
			out = append(out, r.ID)
		}
	}
	if f.Limit > 0 && len(out) > f.Limit {
		if f.Newest {
			out = out[len(out)-f.Limit:]
		} else {
			out = out[:f.Limit]
		}
	}
	return out
}

// indexFilters are filters of every indexed member, alone and combined,
// with the paging, time and chain bounds; ids are of stored records.
func indexFilters(ids []int64, start time.Time) []audit.Filter {
	mid := ids[len(ids)/2]
	var out []audit.Filter
	for _, f := range []audit.Filter{
		{Event: audit.TokenVerify}, {Event: audit.AuthDenied}, {Outcome: "expired"}, {Outcome: audit.OK},
		{Event: audit.TokenVerify, Outcome: "revoked"}, {Event: audit.TokenIssue, Outcome: "expired"},
		{Sub: "u1"}, {Sub: "u1", Outcome: "valid"}, {Sub: "u3", Event: audit.TokenIssue}, {JTI: "aj3"}, {JTI: "bj3", Event: audit.TokenVerify},
		{Actor: "c2"}, {Actor: "c0", KID: "k1"}, {KID: "k1"}, {RequestID: "ar5"}, {RequestID: "br8"}, {Sub: "nobody"},
	} {
		out = append(out, f)
		for _, v := range []func(*audit.Filter){
			func(f *audit.Filter) { f.Limit = 3 },
			func(f *audit.Filter) { f.Limit, f.Newest = 3, true },
			func(f *audit.Filter) { f.After = mid },
			func(f *audit.Filter) { f.Before, f.Limit, f.Newest = mid, 2, true },
			func(f *audit.Filter) { f.Chain = "b" },
			func(f *audit.Filter) { f.Since, f.Until = start.Add(5*time.Second), start.Add(20*time.Second) },
		} {
			g := f
			v(&g)
			out = append(out, g)
		}
	}
	return out
}

func checkQueries(t *testing.T, s store.Store, stage string, start time.Time) {
	t.Helper()
	all, err := s.Query(ctx, audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, r := range all {
		ids = append(ids, r.ID)
	}
	for _, f := range indexFilters(ids, start) {
		got, err := s.Query(ctx, f)
		if err != nil {
			t.Fatalf("%s: query %+v: %v", stage, f, err)
		}
		var gotIDs []int64
		for _, r := range got {
			gotIDs = append(gotIDs, r.ID)
		}
		if want := oracle(all, f); !slices.Equal(gotIDs, want) {
			t.Errorf("%s: query %+v:\n got %v\nwant %v", stage, f, gotIDs, want)
		}
	}
}

func heads(t *testing.T, s store.Store) map[string]int64 {
	t.Helper()
	chains, err := s.Chains(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, c := range chains {
		n, err := s.TreeSize(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		out[c] = n
	}
	return out
}

// testIndexMarks: queries give the same answer with nothing indexed, part
// indexed, everything indexed and records appended past the mark.
func testIndexMarks(t *testing.T, loc Location) {
	s := openIdle(t, loc)
	idx := auditIndex(t, s)
	mustAppend(t, s, "a", indexRecords(20, t0, "a")[:9])
	mustAppend(t, s, "b", indexRecords(30, t0, "b"))
	mustAppend(t, s, "a", indexRecords(20, t0, "a")[9:])
	checkQueries(t, s, "nothing indexed", t0)
	for _, budget := range []int{7, 13, 19} {
		if _, err := idx.CatchUpIndex(ctx, budget); err != nil {
			t.Fatal(err)
		}
		checkQueries(t, s, fmt.Sprintf("%d more indexed", budget), t0)
	}
	pending, err := idx.CatchUpIndex(ctx, -1)
	if err != nil || pending != 0 {
		t.Fatalf("CatchUpIndex = %d, %v; want 0 pending", pending, err)
	}
	marks, err := idx.IndexedUpTo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := heads(t, s); !maps.Equal(marks, want) {
		t.Fatalf("marks %v after catching up, want the heads %v", marks, want)
	}
	checkQueries(t, s, "all indexed", t0)
	mustAppend(t, s, "b", indexRecords(10, t0.Add(time.Minute), "c"))
	checkQueries(t, s, "records past the mark", t0)
}

// testIndexCatchUpAtOpen: records whose index did not commit (a crash)
// are found meanwhile and indexed by the next process to open the store.
func testIndexCatchUpAtOpen(t *testing.T, loc Location) {
	s := loc.OpenIdle(t)
	mustAppend(t, s, "a", indexRecords(20, t0, "a"))
	mustAppend(t, s, "b", indexRecords(30, t0, "b"))
	if _, err := auditIndex(t, s).CatchUpIndex(ctx, -1); err != nil {
		t.Fatal(err)
	}
	want := heads(t, s)
	s.Close()
	loc.RewindIndex(t, "a", 4)
	loc.RewindIndex(t, "b", 0)
	idle := loc.OpenIdle(t)
	if marks, err := auditIndex(t, idle).IndexedUpTo(ctx); err != nil || marks["a"] != 4 || marks["b"] != 0 {
		t.Fatalf("marks after the rewind: %v, %v", marks, err)
	}
	checkQueries(t, idle, "after the crash", t0)
	idle.Close()

	s = open(t, loc)
	idx := auditIndex(t, s)
	var marks map[string]int64
	if waited, ok := poll.Within(30*time.Second, func() bool {
		m, err := idx.IndexedUpTo(ctx)
		marks = m
		return err == nil && maps.Equal(m, want)
	}); !ok {
		t.Fatalf("after %v the marks are %v, want %v", waited, marks, want)
	}
	checkQueries(t, s, "caught up", t0)
}

// testIndexPruned: a pruned record is found by no filter, whether it was
// indexed before it was pruned or not.
func testIndexPruned(t *testing.T, loc Location) {
	s := openIdle(t, loc)
	idx := auditIndex(t, s)
	mustAppend(t, s, "a", indexRecords(20, t0, "a"))
	if _, err := idx.CatchUpIndex(ctx, 8); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Prune(ctx, "a", 20, t0.Add(10*time.Second)); err != nil || n != 10 {
		t.Fatalf("Prune = %d, %v; want 10", n, err)
	}
	check := func(stage string) {
		t.Helper()
		checkQueries(t, s, stage, t0)
		for _, f := range []audit.Filter{{Sub: "u0"}, {RequestID: "ar2"}, {Event: audit.TokenIssue}, {Actor: "c1", Newest: true, Limit: 50}} {
			got, err := s.Query(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range got {
				if r.Seq <= 10 {
					t.Errorf("%s: query %+v shows pruned record %d", stage, f, r.Seq)
				}
			}
		}
	}
	check("pruned, part indexed")
	if _, err := idx.CatchUpIndex(ctx, -1); err != nil {
		t.Fatal(err)
	}
	check("pruned, all indexed")
}

// testIndexCollisions: index rows of another value (what two values with
// one key give) never make a record match, also where they take the
// places of a page.
func testIndexCollisions(t *testing.T, loc Location) {
	s := openIdle(t, loc)
	mustAppend(t, s, "a", indexRecords(20, t0, "a"))
	if _, err := auditIndex(t, s).CatchUpIndex(ctx, -1); err != nil {
		t.Fatal(err)
	}
	// Records 17-20 are u0, u1, u2, u3: make the newest ones look like u0's
	// and like expired verifications, the oldest like u3's.
	for seq := int64(18); seq <= 20; seq++ {
		loc.ForgeIndexEntry(t, "a", seq, "sub", "u0")
		loc.ForgeIndexEntry(t, "a", seq, "event+outcome", string(audit.TokenVerify), "expired")
	}
	for seq := int64(1); seq <= 3; seq++ {
		loc.ForgeIndexEntry(t, "a", seq, "sub", "u3")
		loc.ForgeIndexEntry(t, "a", seq, "jti", "aj9")
		loc.ForgeIndexEntry(t, "a", seq, "request_id", "ar19")
	}
	checkQueries(t, s, "with collisions", t0)
	for _, f := range []audit.Filter{{Sub: "u0", Newest: true, Limit: 1}, {Sub: "u3", Limit: 1}, {Event: audit.TokenVerify, Outcome: "expired", Newest: true, Limit: 2}} {
		got, err := s.Query(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != f.Limit {
			t.Errorf("query %+v: %d records, want %d", f, len(got), f.Limit)
		}
	}
}

func openIndexOff(t *testing.T, loc Location) store.Store {
	t.Helper()
	s := loc.OpenIndexOff(t)
	t.Cleanup(func() { s.Close() })
	return s
}

// waitIndexed waits until s's index marks are the heads want.
func waitIndexed(t *testing.T, s store.Store, want map[string]int64) {
	t.Helper()
	idx := auditIndex(t, s)
	var marks map[string]int64
	if waited, ok := poll.Within(30*time.Second, func() bool {
		m, err := idx.IndexedUpTo(ctx)
		marks = m
		return err == nil && maps.Equal(m, want)
	}); !ok {
		t.Fatalf("after %v the marks are %v, want the heads %v", waited, marks, want)
	}
}

// testQueryIndexOff: the query suite with the index off.
func testQueryIndexOff(t *testing.T, loc Location) {
	testQuery(t, Location{Open: loc.OpenIndexOff})
}

// testIndexOff: a store opened with the index off says it keeps none,
// writes no index row or mark and answers every filter exactly.
func testIndexOff(t *testing.T, loc Location) {
	s := openIndexOff(t, loc)
	if b, ok := s.(store.Backend); !ok || b.Capabilities().Index != nil {
		t.Fatal("a store with the index off offers an audit index")
	}
	mustAppend(t, s, "a", indexRecords(20, t0, "a"))
	mustAppend(t, s, "b", indexRecords(30, t0, "b"))
	checkQueries(t, s, "index off", t0)
	s.Close()
	if n := loc.IndexRows(t); n != 0 {
		t.Fatalf("%d index rows and marks written with the index off, want 0", n)
	}
}

// testIndexSwitchedOn: records appended with the index off are indexed
// once the store is opened with it on; queries are exact before and after.
func testIndexSwitchedOn(t *testing.T, loc Location) {
	s := loc.OpenIndexOff(t)
	mustAppend(t, s, "a", indexRecords(20, t0, "a"))
	mustAppend(t, s, "b", indexRecords(30, t0, "b"))
	want := heads(t, s)
	s.Close()

	s = open(t, loc)
	checkQueries(t, s, "switched on", t0)
	waitIndexed(t, s, want)
	checkQueries(t, s, "switched on, caught up", t0)
	if n := loc.IndexRows(t); n == 0 {
		t.Fatal("no index rows after catching up")
	}
}

// testIndexSwitchedOff: an index that stopped being maintained (records
// appended and pruned with the index off) neither changes the answers of
// the store with it off nor, switched on again, of the store with it on.
func testIndexSwitchedOff(t *testing.T, loc Location) {
	s := loc.Open(t)
	mustAppend(t, s, "a", indexRecords(20, t0, "a"))
	mustAppend(t, s, "b", indexRecords(30, t0, "b"))
	waitIndexed(t, s, heads(t, s))
	s.Close()
	rows := loc.IndexRows(t)

	s = loc.OpenIndexOff(t)
	mustAppend(t, s, "b", indexRecords(10, t0.Add(time.Minute), "c"))
	mustAppend(t, s, "a", indexRecords(6, t0.Add(time.Minute), "d"))
	if n, err := s.Prune(ctx, "a", 26, t0.Add(10*time.Second)); err != nil || n != 10 {
		t.Fatalf("Prune = %d, %v; want 10", n, err)
	}
	checkQueries(t, s, "switched off", t0)
	want := heads(t, s)
	s.Close()
	if n := loc.IndexRows(t); n != rows {
		t.Fatalf("%d index rows and marks after appending with the index off, want the %d before", n, rows)
	}

	s = open(t, loc)
	checkQueries(t, s, "switched on again", t0)
	waitIndexed(t, s, want)
	checkQueries(t, s, "switched on again, caught up", t0)
	for _, f := range []audit.Filter{{Sub: "u0"}, {RequestID: "ar2"}, {Event: audit.TokenIssue, Chain: "a"}} {
		got, err := s.Query(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range got {
			if r.Chain == "a" && r.Seq <= 10 {
				t.Errorf("query %+v shows pruned record %d", f, r.Seq)
			}
		}
	}
}
