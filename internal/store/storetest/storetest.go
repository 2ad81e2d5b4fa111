// Package storetest is the conformance suite every storage backend passes:
// the behaviour the ledger relies on, asserted through the store.Store
// interface only.
package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/jwtledger/jwtledger/internal/audit"
	"github.com/jwtledger/jwtledger/internal/keys"
	"github.com/jwtledger/jwtledger/store"
)

// Backend makes stores for the suite.
type Backend struct {
	// New makes an empty store and returns a way to open handles on it;
	// every handle stands for another process sharing it. The suite closes
	// the handles.
	New func(t *testing.T) Location
}

// Location is one empty store made by a Backend.
type Location struct {
	// Open opens a handle with the audit index on (store.Options.AuditIndex).
	Open func(t *testing.T) store.Store
	// OpenIndexOff opens a handle like Open with the audit index off.
	OpenIndexOff func(t *testing.T) store.Store
	// IndexRows counts the rows of the index and of its marks, behind the
	// store's back (a closed store's, or one idle).
	IndexRows func(t *testing.T) int64
	// DeleteRecord removes record seq of chain behind the store's back
	// (tampering, or a lost row).
	DeleteRecord func(t *testing.T, chain string, seq int64)
	// TreeRows lists the indexes of chain's rows in the stored tree
	// (tree_hashes), behind the store's back.
	TreeRows func(t *testing.T, chain string) []int64
	// PutTreeHashes writes hash as chain's stored tree hash at each of
	// idxs, behind the store's back (as rows an older version, which
	// stored more levels, left).
	PutTreeHashes func(t *testing.T, chain string, idxs []int64, hash []byte)
	// DropCounts takes the closed store back to the schema version before
	// the aggregate count tables, dropping them.
	DropCounts func(t *testing.T)
	// OpenIdle opens a handle like Open whose index follower does not
	// run: its index moves only with CatchUpIndex.
	OpenIdle func(t *testing.T) store.Store
	// RewindIndex takes the closed store's index of chain back to seq: the
	// index rows of the records past seq removed and the mark moved back,
	// as a crash between the commit of records and of their index leaves
	// it.
	RewindIndex func(t *testing.T, chain string, seq int64)
	// ForgeIndexEntry adds the index row of member (an indexed filter, or
	// "event+outcome" with two values) with value to record seq of chain,
	// as a collision of two values' keys would.
	ForgeIndexEntry func(t *testing.T, chain string, seq int64, member string, value ...string)
}

// Run runs the whole suite against b.
func Run(t *testing.T, b Backend) {
	tests := []struct {
		name string
		fn   func(t *testing.T, loc Location)
	}{
		{"AppendNumbersAndHashes", testAppend},
		{"ScanChainRangeIsPartOfScanChain", testScanChainRange},
		{"AppendFromTwoHandlesStaysGapless", testTwoHandles},
		{"QueryFiltersAndPages", testQuery},
		{"QueryTimeRangesOutOfOrder", testTimeRanges},
		{"QueryTimeRangesExact", testQueryTimeRanges},
		{"CountsAgreeWithRecords", testCounts},
		{"BuildTreeCoversAppendedRecords", testBuildTree},
		{"BuildTreeStopsAtMissingRecord", testBuildTreeGap},
		{"TreeStoresNoLeaves", testTreeStorage},
		{"TreeReadsPastOlderLevels", testTreeOlderLevels},
		{"BuildTreeConcurrentWithAppendsAndBuilds", testBuildTreeConcurrent},
		{"Checkpoints", testCheckpoints},
		{"Cosignatures", testCosignatures},
		{"PruneKeepsLeaves", testPrune},
		{"Keys", testKeys},
		{"Revocations", testRevocations},
		{"Clients", testClients},
		{"Meta", testMeta},
		{"CountsMigrationFillsFromRecords", testCountsMigration},
		{"CountsFromAppendsSameAsFromRecords", testCountsFed},
		{"IndexAnswersExactlyAtEveryMark", testIndexMarks},
		{"IndexCaughtUpAtOpen", testIndexCatchUpAtOpen},
		{"IndexLeavesPrunedOut", testIndexPruned},
		{"IndexCollisionsFiltered", testIndexCollisions},
		{"QueryFiltersAndPagesIndexOff", testQueryIndexOff},
		{"IndexOffWritesNothing", testIndexOff},
		{"IndexSwitchedOnCatchesUp", testIndexSwitchedOn},
		{"IndexSwitchedOffStaysExact", testIndexSwitchedOff},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, b.New(t)) })
	}
}

var ctx = context.Background()

func open(t *testing.T, loc Location) store.Store {
	t.Helper()
	s := loc.Open(t)
	t.Cleanup(func() { s.Close() })
	return s
}

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// records makes n token.issue records, one second apart from start.
func records(n int, start time.Time) []*audit.Record {
	recs := make([]*audit.Record, n)
	for i := range recs {
		var b [12]byte
		rand.Read(b[:])
		jti := base64.RawURLEncoding.EncodeToString(b[:])
		recs[i] = &audit.Record{Time: start.Add(time.Duration(i) * time.Second), Event: audit.TokenIssue, Outcome: audit.OK,
			Actor: "client-1", Sub: "user-" + jti[:4], JTI: jti, Alg: "ES256", Exp: start.Add(time.Hour)}
	}
	return recs
}

func mustAppend(t *testing.T, s store.Store, chain string, recs []*audit.Record) {
	t.Helper()
	if err := s.Append(ctx, chain, recs); err != nil {
		t.Fatalf("append %d records to %s: %v", len(recs), chain, err)
	}
}

func seqs(t *testing.T, s store.Store, chain string) []int64 {
	t.Helper()
	var out []int64
	if err := s.ScanChain(ctx, chain, func(seq int64, body, leaf []byte) error {
		out = append(out, seq)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func testAppend(t *testing.T, loc Location) {
	s := open(t, loc)
	for _, n := range []int{1, 3, 64, 65, 200} {
		mustAppend(t, s, "a", records(n, t0))
	}
	mustAppend(t, s, "b", records(2, t0))
	if n, err := s.TreeSize(ctx, "a"); err != nil || n != 333 {
		t.Fatalf("TreeSize(a) = %d, %v; want 333", n, err)
	}
	if got, err := s.Chains(ctx); err != nil || !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("Chains = %v, %v", got, err)
	}
	recs := records(2, t0)
	mustAppend(t, s, "b", recs)
	for i, r := range recs {
		if r.Seq != uint64(3+i) || r.Chain != "b" {
			t.Fatalf("record %d: seq %d chain %q, want %d b", i, r.Seq, r.Chain, 3+i)
		}
		body, err := s.RecordBody(ctx, "b", int64(r.Seq))
		if err != nil {
			t.Fatal(err)
		}
		if audit.LeafHash(body) != r.LeafHash {
			t.Fatalf("record %d: leaf hash is not the hash of the stored body", i)
		}
	}
	// Every row of every batch size: gapless sequence numbers, and the
	// stored leaf hash is the hash of the stored body.
	want := int64(1)
	if err := s.ScanChain(ctx, "a", func(seq int64, body, leaf []byte) error {
		if seq != want {
			return fmt.Errorf("record %d follows %d", seq, want-1)
		}
		if h := audit.LeafHash(body); !bytes.Equal(leaf, h[:]) {
			return fmt.Errorf("record %d: the stored leaf hash is not the hash of the stored body", seq)
		}
		want++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if want != 334 {
		t.Fatalf("ScanChain(a) gave %d records, want 333", want-1)
	}
	if _, err := s.RecordBody(ctx, "b", 99); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("RecordBody of a missing record: %v, want ErrNotFound", err)
	}
}

// testScanChainRange checks that a store that reads by seq range
// ([store.RangeScanner]) gives, for each range and from several goroutines
// at once, exactly the rows of ScanChain in that range.
func testScanChainRange(t *testing.T, loc Location) {
	s := open(t, loc)
	rs, ok := s.(store.RangeScanner)
	if !ok {
		t.Skip("the store does not read by range")
	}
	mustAppend(t, s, "a", records(300, t0))
	mustAppend(t, s, "b", records(5, t0))
	if loc.DeleteRecord != nil {
		loc.DeleteRecord(t, "a", 100)
	}
	type row struct {
		seq        int64
		body, leaf string
		pruned     bool
	}
	var all []row
	if err := s.ScanChain(ctx, "a", func(seq int64, body, leaf []byte) error {
		all = append(all, row{seq, string(body), string(leaf), body == nil})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	ranges := [][2]int64{{math.MinInt64, math.MaxInt64}, {math.MinInt64, 1}, {math.MinInt64, 2}, {1, 2}, {64, 200}, {99, 102}, {300, math.MaxInt64}, {301, math.MaxInt64}, {400, 500}}
	errs := make(chan error, len(ranges))
	for _, r := range ranges {
		go func() {
			var got, want []row
			for _, x := range all {
				if x.seq >= r[0] && x.seq < r[1] {
					want = append(want, x)
				}
			}
			err := rs.ScanChainRange(ctx, "a", r[0], r[1], func(seq int64, body, leaf []byte) error {
				got = append(got, row{seq, string(body), string(leaf), body == nil})
				return nil
			})
			if err == nil && !slices.Equal(got, want) {
				err = fmt.Errorf("ScanChainRange(a, %d, %d) gave %d rows, ScanChain %d in the range", r[0], r[1], len(got), len(want))
			}
			errs <- err
		}()
	}
	for range ranges {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// Two handles stand for two processes on one store: each may remember the
// chain head of its own last commit, and the other's appends must neither
// collide with nor leave gaps in the sequence.
func testTwoHandles(t *testing.T, loc Location) {
	a, b := open(t, loc), open(t, loc)
	steps := []struct {
		s store.Store
		n int
	}{{a, 3}, {b, 5}, {a, 1}, {a, 70}, {b, 2}, {a, 4}, {b, 64}, {b, 1}}
	total := 0
	for i, st := range steps {
		recs := records(st.n, t0)
		mustAppend(t, st.s, "n", recs)
		for j, r := range recs {
			if want := uint64(total + j + 1); r.Seq != want {
				t.Fatalf("step %d record %d: seq %d, want %d", i, j, r.Seq, want)
			}
		}
		total += st.n
	}
	got := seqs(t, a, "n")
	if len(got) != total {
		t.Fatalf("%d records stored, want %d", len(got), total)
	}
	for i, s := range got {
		if s != int64(i+1) {
			t.Fatalf("record %d has seq %d", i, s)
		}
	}
}

func testQuery(t *testing.T, loc Location) {
	s := open(t, loc)
	recs := records(10, t0)
	recs[3].Event, recs[3].Outcome = audit.TokenVerify, "expired"
	recs[5].Actor = "client-2"
	recs[6].KID, recs[6].RequestID = "kid-6", "req-6"
	mustAppend(t, s, "a", recs)
	mustAppend(t, s, "b", records(2, t0))
	stored, err := s.Query(ctx, audit.Filter{Chain: "a"})
	if err != nil || len(stored) != len(recs) {
		t.Fatalf("records of chain a: %d, %v", len(stored), err)
	}
	tests := []struct {
		name string
		f    audit.Filter
		want []int // indexes into recs (chain a)
	}{
		{"event", audit.Filter{Chain: "a", Event: audit.TokenVerify}, []int{3}},
		{"outcome", audit.Filter{Chain: "a", Outcome: "expired"}, []int{3}},
		{"actor", audit.Filter{Chain: "a", Actor: "client-2"}, []int{5}},
		{"sub", audit.Filter{Chain: "a", Sub: recs[7].Sub}, []int{7}},
		{"jti", audit.Filter{Chain: "a", JTI: recs[8].JTI}, []int{8}},
		{"since until", audit.Filter{Chain: "a", Since: t0.Add(2 * time.Second), Until: t0.Add(5 * time.Second)}, []int{2, 3, 4}},
		{"limit", audit.Filter{Chain: "a", Limit: 2}, []int{0, 1}},
		{"newest", audit.Filter{Chain: "a", Limit: 2, Newest: true}, []int{8, 9}},
		{"kid", audit.Filter{Chain: "a", KID: "kid-6"}, []int{6}},
		{"request id", audit.Filter{Chain: "a", RequestID: "req-6"}, []int{6}},
		{"before", audit.Filter{Chain: "a", Before: stored[3].ID}, []int{0, 1, 2}},
		{"newest before", audit.Filter{Chain: "a", Before: stored[3].ID, Limit: 2, Newest: true}, []int{1, 2}},
		{"after and before", audit.Filter{Chain: "a", After: stored[3].ID, Before: stored[6].ID}, []int{4, 5}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.Query(ctx, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			var gotJTI, wantJTI []string
			for _, r := range got {
				gotJTI = append(gotJTI, r.JTI)
			}
			for _, i := range tc.want {
				wantJTI = append(wantJTI, recs[i].JTI)
			}
			if !slices.Equal(gotJTI, wantJTI) {
				t.Fatalf("got %v, want %v", gotJTI, wantJTI)
			}
		})
	}
	// Cursor pagination visits every record of every chain once, in order.
	all, err := s.Query(ctx, audit.Filter{})
	if err != nil || len(all) != 12 {
		t.Fatalf("all records: %d, %v", len(all), err)
	}
	var paged []*audit.Record
	for after := int64(0); ; {
		page, err := s.Query(ctx, audit.Filter{After: after, Limit: 5})
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		paged = append(paged, page...)
		after = page[len(page)-1].ID
	}
	if len(paged) != len(all) {
		t.Fatalf("pagination gave %d records, want %d", len(paged), len(all))
	}
	for i := range all {
		if paged[i].ID != all[i].ID || paged[i].JTI != all[i].JTI {
			t.Fatalf("page record %d differs", i)
		}
	}
}

// testCounts: the aggregate counts agree with the records appended, in
// minute and hour buckets, per chain, event and outcome, with the actors
// and subjects ranked; pruning bodies leaves them alone.
func testCounts(t *testing.T, loc Location) {
	s := open(t, loc)
	base := time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)
	var recs []*audit.Record
	add := func(at time.Duration, ev audit.Event, outcome, actor, sub string) {
		recs = append(recs, &audit.Record{Time: base.Add(at), Event: ev, Outcome: outcome, Actor: actor, Sub: sub})
	}
	add(10*time.Second, audit.TokenIssue, audit.OK, "c1", "alice")
	add(20*time.Second, audit.TokenIssue, audit.OK, "c1", "alice")
	add(30*time.Second, audit.TokenVerify, "expired", "c2", "alice")
	add(70*time.Second, audit.TokenVerify, "valid", "c2", "bob")
	add(90*time.Minute, audit.AuthDenied, audit.Denied, "", "")
	add(91*time.Minute, audit.ClientCreate, audit.OK, "c1", "cl_x") // a sub, but not of a token event
	mustAppend(t, s, "a", recs[:4])
	mustAppend(t, s, "a", recs[4:])
	mustAppend(t, s, "b", []*audit.Record{{Time: base.Add(15 * time.Second), Event: audit.TokenIssue, Outcome: audit.OK, Actor: "c3", Sub: "carol"}})
	type row struct {
		min   int
		chain string
		ev    audit.Event
		out   string
		n     int64
	}
	rows := func(c *audit.Counts, width time.Duration) []row {
		var out []row
		for _, x := range c.Series {
			out = append(out, row{int(x.Bucket.Sub(base) / width), x.Chain, x.Event, x.Outcome, x.N})
		}
		return out
	}
	check := func(name string, q audit.CountQuery, want []row, actors, subjects []audit.Ranked) {
		t.Helper()
		c, err := s.Counts(ctx, q)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := rows(c, q.Step); !slices.Equal(got, want) {
			t.Errorf("%s: series\n got %v\nwant %v", name, got, want)
		}
		if !slices.Equal(c.Actors, actors) || !slices.Equal(c.Subjects, subjects) {
			t.Errorf("%s: actors %v subjects %v, want %v %v", name, c.Actors, c.Subjects, actors, subjects)
		}
	}
	allActors := []audit.Ranked{{Name: "c1", N: 3}, {Name: "c2", N: 2}, {Name: "c3", N: 1}}
	allSubjects := []audit.Ranked{{Name: "alice", N: 3}, {Name: "bob", N: 1}, {Name: "carol", N: 1}}
	check("minutes", audit.CountQuery{Since: base, Until: base.Add(2 * time.Hour), Step: audit.StepMinute},
		[]row{{0, "a", audit.TokenIssue, audit.OK, 2}, {0, "a", audit.TokenVerify, "expired", 1}, {0, "b", audit.TokenIssue, audit.OK, 1},
			{1, "a", audit.TokenVerify, "valid", 1}, {90, "a", audit.AuthDenied, audit.Denied, 1}, {91, "a", audit.ClientCreate, audit.OK, 1}},
		allActors, allSubjects)
	check("hours", audit.CountQuery{Since: base, Step: audit.StepHour},
		[]row{{0, "a", audit.TokenIssue, audit.OK, 2}, {0, "a", audit.TokenVerify, "expired", 1}, {0, "a", audit.TokenVerify, "valid", 1},
			{0, "b", audit.TokenIssue, audit.OK, 1}, {1, "a", audit.AuthDenied, audit.Denied, 1}, {1, "a", audit.ClientCreate, audit.OK, 1}},
		allActors, allSubjects)
	// A window inside the first minute is widened to that minute; the
	// ranks cover the first hour.
	check("one minute", audit.CountQuery{Since: base.Add(5 * time.Second), Until: base.Add(25 * time.Second), Step: audit.StepMinute, Top: 1},
		[]row{{0, "a", audit.TokenIssue, audit.OK, 2}, {0, "a", audit.TokenVerify, "expired", 1}, {0, "b", audit.TokenIssue, audit.OK, 1}},
		[]audit.Ranked{{Name: "c1", N: 2}}, []audit.Ranked{{Name: "alice", N: 3}})
	check("later", audit.CountQuery{Since: base.Add(3 * time.Hour), Step: audit.StepHour}, nil, nil, nil)
	if _, err := s.Counts(ctx, audit.CountQuery{Step: time.Second}); err == nil {
		t.Error("a step of 1s was accepted")
	}
	// Pruned bodies still count: the events happened.
	if _, err := s.Prune(ctx, "a", 6, base.Add(24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	check("after prune", audit.CountQuery{Since: base, Step: audit.StepHour},
		[]row{{0, "a", audit.TokenIssue, audit.OK, 2}, {0, "a", audit.TokenVerify, "expired", 1}, {0, "a", audit.TokenVerify, "valid", 1},
			{0, "b", audit.TokenIssue, audit.OK, 1}, {1, "a", audit.AuthDenied, audit.Denied, 1}, {1, "a", audit.ClientCreate, audit.OK, 1}},
		allActors, allSubjects)
}

// rootOf computes the RFC 6962 root of leaves independently of the store.
func rootOf(leaves []tlog.Hash) tlog.Hash {
	if len(leaves) == 1 {
		return leaves[0]
	}
	k := 1
	for k*2 < len(leaves) {
		k *= 2
	}
	return tlog.NodeHash(rootOf(leaves[:k]), rootOf(leaves[k:]))
}

// BuildTree from two handles and two goroutines while records are appended
// (a step computed outside the write transaction may find the tree
// extended by another meanwhile) leaves the stored tree the root of the
// leaves.
func testBuildTreeConcurrent(t *testing.T, loc Location) {
	a, b := open(t, loc), open(t, loc)
	var leaves []tlog.Hash
	stop := make(chan struct{})
	errs := make(chan error, 2)
	for _, s := range []store.Store{a, b} {
		go func() {
			for {
				select {
				case <-stop:
					errs <- nil
					return
				default:
				}
				if _, err := s.BuildTree(ctx, "n"); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for i, n := range []int{1, 300, 7, 600, 256, 1, 2100, 40, 513} {
		recs := records(n, t0)
		mustAppend(t, []store.Store{a, b}[i%2], "n", recs)
		for _, r := range recs {
			leaves = append(leaves, tlog.Hash(r.LeafHash))
		}
	}
	close(stop)
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatalf("BuildTree: %v", err)
		}
	}
	size, err := a.BuildTree(ctx, "n")
	if err != nil || size != int64(len(leaves)) {
		t.Fatalf("BuildTree = %d, %v; want %d", size, err, len(leaves))
	}
	for _, s := range []store.Store{a, b} {
		got, err := tlog.TreeHash(size, s.HashReader(ctx, "n"))
		if err != nil {
			t.Fatal(err)
		}
		if want := rootOf(leaves); got != want {
			t.Fatalf("root of %d records: stored tree %x, leaves %x", size, got, want)
		}
	}
}

// Records are appended without tree hashes; BuildTree extends the tree
// over them in bulk, and the stored tree gives the root of the leaves.
func testBuildTree(t *testing.T, loc Location) {
	s := open(t, loc)
	var leaves []tlog.Hash
	for _, n := range []int{1, 6, 4097, 30} {
		recs := records(n, t0)
		mustAppend(t, s, "n", recs)
		for _, r := range recs {
			leaves = append(leaves, tlog.Hash(r.LeafHash))
		}
		if built, err := s.TreeBuilt(ctx, "n"); err != nil || built != int64(len(leaves)-n) {
			t.Fatalf("before BuildTree: built %d, %v; want %d", built, err, len(leaves)-n)
		}
		size, err := s.BuildTree(ctx, "n")
		if err != nil || size != int64(len(leaves)) {
			t.Fatalf("BuildTree = %d, %v; want %d", size, err, len(leaves))
		}
		got, err := tlog.TreeHash(size, s.HashReader(ctx, "n"))
		if err != nil {
			t.Fatal(err)
		}
		if want := rootOf(leaves); got != want {
			t.Fatalf("root of %d records: stored tree %x, leaves %x", size, got, want)
		}
	}
	if size, err := s.BuildTree(ctx, "n"); err != nil || size != int64(len(leaves)) {
		t.Fatalf("BuildTree with nothing new = %d, %v", size, err)
	}
	// Inclusion and consistency proofs from the stored tree check against
	// roots computed from the leaves alone.
	size := int64(len(leaves))
	root := rootOf(leaves)
	for _, i := range []int64{0, 1, 255, 256, 257, 1000, 4095, 4096, size - 1} {
		p, err := tlog.ProveRecord(size, i, s.HashReader(ctx, "n"))
		if err != nil {
			t.Fatalf("prove record %d: %v", i, err)
		}
		if err := tlog.CheckRecord(p, size, root, i, leaves[i]); err != nil {
			t.Fatalf("inclusion proof of record %d: %v", i, err)
		}
	}
	for _, old := range []int64{1, 7, 256, 300, 4103} {
		p, err := tlog.ProveTree(size, old, s.HashReader(ctx, "n"))
		if err != nil {
			t.Fatalf("prove tree %d: %v", old, err)
		}
		if err := tlog.CheckTree(p, size, root, old, rootOf(leaves[:old])); err != nil {
			t.Fatalf("consistency proof %d -> %d: %v", old, size, err)
		}
	}
}

func testBuildTreeGap(t *testing.T, loc Location) {
	s := open(t, loc)
	mustAppend(t, s, "n", records(10, t0))
	loc.DeleteRecord(t, "n", 7)
	size, err := s.BuildTree(ctx, "n")
	if err == nil || size != 0 {
		t.Fatalf("BuildTree over a gap = %d, %v; want 0 and an error", size, err)
	}
	if want := "record 7 is missing"; !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not say %q", err, want)
	}
	if _, err := s.AddCheckpoint(ctx, "n", t0, func(int64, tlog.Hash) ([]byte, error) { return []byte("note"), nil }); err == nil {
		t.Fatal("a checkpoint was made over a missing record")
	}
}

func testCheckpoints(t *testing.T, loc Location) {
	s := open(t, loc)
	var leaves []tlog.Hash
	for i, n := range []int{5, 12} {
		recs := records(n, t0)
		mustAppend(t, s, "n", recs)
		for _, r := range recs {
			leaves = append(leaves, tlog.Hash(r.LeafHash))
		}
		var signedSize int64
		var signedRoot tlog.Hash
		cp, err := s.AddCheckpoint(ctx, "n", t0.Add(time.Duration(i)*time.Minute), func(size int64, root tlog.Hash) ([]byte, error) {
			signedSize, signedRoot = size, root
			return []byte("note " + string(rune('A'+i))), nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if signedSize != int64(len(leaves)) || signedRoot != rootOf(leaves) || cp.Size != signedSize || cp.Root != signedRoot {
			t.Fatalf("checkpoint %d: size %d root %x; want %d %x", i, signedSize, signedRoot, len(leaves), rootOf(leaves))
		}
	}
	if _, err := s.AddCheckpoint(ctx, "n", t0, func(int64, tlog.Hash) ([]byte, error) { return nil, errors.New("signer down") }); err == nil {
		t.Fatal("AddCheckpoint ignored the signer's error")
	}
	cps, err := s.Checkpoints(ctx, "n")
	if err != nil || len(cps) != 2 {
		t.Fatalf("Checkpoints = %d, %v; want 2", len(cps), err)
	}
	if cps[0].Size != 5 || cps[1].Size != 17 || string(cps[1].Note) != "note B" || !cps[1].Time.Equal(t0.Add(time.Minute)) {
		t.Fatalf("checkpoints: %+v", cps)
	}
}

func testPrune(t *testing.T, loc Location) {
	s := open(t, loc)
	recs := records(20, t0)
	mustAppend(t, s, "n", recs)
	n, err := s.Prune(ctx, "n", 15, t0.Add(10*time.Second))
	if err != nil || n != 10 {
		t.Fatalf("Prune = %d, %v; want 10 (seq 1..10 are before the cut)", n, err)
	}
	var pruned int
	if err := s.ScanChain(ctx, "n", func(seq int64, body, leaf []byte) error {
		if body == nil {
			pruned++
			if seq > 10 {
				t.Errorf("record %d pruned", seq)
			}
		}
		if tlog.Hash(leaf) != tlog.Hash(recs[seq-1].LeafHash) {
			t.Errorf("record %d lost its leaf hash", seq)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if pruned != 10 {
		t.Fatalf("%d bodies pruned, want 10", pruned)
	}
	if got, _ := s.Query(ctx, audit.Filter{Chain: "n"}); len(got) != 10 {
		t.Fatalf("Query shows %d records, want the 10 unpruned", len(got))
	}
	// The tree still builds over pruned records, from their leaves.
	if size, err := s.BuildTree(ctx, "n"); err != nil || size != 20 {
		t.Fatalf("BuildTree after pruning = %d, %v", size, err)
	}
	var leaves []tlog.Hash
	for _, r := range recs {
		leaves = append(leaves, tlog.Hash(r.LeafHash))
	}
	if got, err := tlog.TreeHash(20, s.HashReader(ctx, "n")); err != nil || got != rootOf(leaves) {
		t.Fatalf("tree root after pruning = %x, %v; want %x", got, err, rootOf(leaves))
	}
	p, err := tlog.ProveRecord(20, 3, s.HashReader(ctx, "n"))
	if err == nil {
		err = tlog.CheckRecord(p, 20, rootOf(leaves), 3, leaves[3])
	}
	if err != nil {
		t.Fatalf("inclusion proof of pruned record 4: %v", err)
	}
}

// The stored tree holds only the interior hashes from level 8 up (the
// complete subtrees of 256 leaves and more): the leaves are read from the
// records, so a read of the tree that needs the leaf of a record deleted
// after the build fails rather than answer from a second copy.
func testTreeStorage(t *testing.T, loc Location) {
	for _, tc := range []struct {
		name      string
		records   int
		del       int64 // record deleted after the build, 0 for none
		rootFails bool  // the root needs del's leaf (it is not under a stored subtree)
	}{
		{name: "below one stored subtree", records: 255},
		{name: "one stored subtree", records: 256},
		{name: "several levels", records: 1300},
		{name: "record deleted in an unstored subtree", records: 1300, del: 1299, rootFails: true},
		{name: "record deleted under a stored subtree", records: 1300, del: 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t, loc)
			chain := fmt.Sprintf("t%d-%d", tc.records, tc.del)
			recs := records(tc.records, t0)
			mustAppend(t, s, chain, recs)
			size, err := s.BuildTree(ctx, chain)
			if err != nil || size != int64(tc.records) {
				t.Fatalf("BuildTree = %d, %v", size, err)
			}
			var want []int64
			for level := 8; int64(1)<<level <= size; level++ {
				for n := int64(0); n < size>>level; n++ {
					want = append(want, tlog.StoredHashIndex(level, n))
				}
			}
			got := loc.TreeRows(t, chain)
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Fatalf("stored tree rows %v, want %v (levels 8 and up)", got, want)
			}
			if tc.del == 0 {
				return
			}
			loc.DeleteRecord(t, chain, tc.del)
			_, err = tlog.TreeHash(size, s.HashReader(ctx, chain))
			if tc.rootFails != (err != nil) {
				t.Fatalf("tree root with record %d deleted: error %v, want an error: %v", tc.del, err, tc.rootFails)
			}
			// The proof of its neighbour has the deleted leaf as a sibling
			// (leaf index del-1 is the neighbour of index del).
			if _, err := tlog.ProveRecord(size, tc.del, s.HashReader(ctx, chain)); err == nil {
				t.Fatalf("inclusion proof of record %d made with record %d deleted", tc.del+1, tc.del)
			}
		})
	}
}

// A store made by an older version holds the leaves and lower levels in
// its tree too; reads take those hashes from the records, so a stale or
// altered row there changes nothing, and the tree keeps growing.
func testTreeOlderLevels(t *testing.T, loc Location) {
	s := open(t, loc)
	recs := records(700, t0)
	mustAppend(t, s, "o", recs)
	if size, err := s.BuildTree(ctx, "o"); err != nil || size != 700 {
		t.Fatalf("BuildTree = %d, %v", size, err)
	}
	var leaves []tlog.Hash
	for _, r := range recs {
		leaves = append(leaves, tlog.Hash(r.LeafHash))
	}
	var older []int64
	for n := int64(0); n < 700; n++ {
		for level := 0; level < 8 && (n+1)%(1<<level) == 0; level++ {
			older = append(older, tlog.StoredHashIndex(level, n>>level))
		}
	}
	loc.PutTreeHashes(t, "o", older, make([]byte, tlog.HashSize))
	more := records(400, t0.Add(time.Hour))
	mustAppend(t, s, "o", more)
	for _, r := range more {
		leaves = append(leaves, tlog.Hash(r.LeafHash))
	}
	size, err := s.BuildTree(ctx, "o")
	if err != nil || size != 1100 {
		t.Fatalf("BuildTree past the older rows = %d, %v", size, err)
	}
	if got, err := tlog.TreeHash(size, s.HashReader(ctx, "o")); err != nil || got != rootOf(leaves) {
		t.Fatalf("root = %x, %v; want %x", got, err, rootOf(leaves))
	}
	for _, i := range []int64{0, 255, 699, 700, 1099} {
		p, err := tlog.ProveRecord(size, i, s.HashReader(ctx, "o"))
		if err == nil {
			err = tlog.CheckRecord(p, size, rootOf(leaves), i, leaves[i])
		}
		if err != nil {
			t.Fatalf("inclusion proof of record %d: %v", i+1, err)
		}
	}
	p, err := tlog.ProveTree(size, 700, s.HashReader(ctx, "o"))
	if err == nil {
		err = tlog.CheckTree(p, size, rootOf(leaves), 700, rootOf(leaves[:700]))
	}
	if err != nil {
		t.Fatalf("consistency proof 700 -> 1100: %v", err)
	}
	// The next open deletes the older rows, and only those.
	s2 := open(t, loc)
	for _, idx := range loc.TreeRows(t, "o") {
		if level, _ := tlog.SplitStoredHashIndex(idx); level < 8 {
			t.Fatalf("tree row %d (level %d) left after reopening", idx, level)
		}
	}
	if got := len(loc.TreeRows(t, "o")); got != 4+2+1 {
		t.Fatalf("%d tree rows after reopening, want the 7 of levels 8 to 10", got)
	}
	if got, err := tlog.TreeHash(size, s2.HashReader(ctx, "o")); err != nil || got != rootOf(leaves) {
		t.Fatalf("root after reopening = %x, %v; want %x", got, err, rootOf(leaves))
	}
}

func event(e audit.Event) []*audit.Record {
	return []*audit.Record{{Time: t0, Event: e, Outcome: audit.OK, Actor: "jwtledger"}}
}

func testKeys(t *testing.T, loc Location) {
	s := open(t, loc)
	k1 := keys.Stored{KID: "k1", Alg: "ES256", State: keys.Active, Created: t0, Public: []byte(`{"kty":"EC"}`), Sealed: []byte("sealed-1")}
	if err := s.AddKey(ctx, k1, false, true, "n", event(audit.KeyCreate)); err != nil {
		t.Fatal(err)
	}
	if err := s.AddKey(ctx, keys.Stored{KID: "k0", Alg: "ES256", State: keys.Active, Created: t0, Sealed: []byte("x")}, false, true, "n", event(audit.KeyCreate)); !errors.Is(err, store.ErrExists) {
		t.Fatalf("second first-use key: %v, want ErrExists", err)
	}
	k2 := keys.Stored{KID: "k2", Alg: "EdDSA", State: keys.Active, Created: t0.Add(time.Hour), Sealed: []byte("sealed-2")}
	if err := s.AddKey(ctx, k2, true, false, "n", event(audit.KeyRotate)); err != nil {
		t.Fatal(err)
	}
	k3 := keys.Stored{KID: "k3", Alg: "ES256", State: keys.VerifyOnly, Created: t0.Add(2 * time.Hour), Activates: t0.Add(3 * time.Hour), Sealed: []byte("sealed-3")}
	if err := s.AddKey(ctx, k3, false, false, "n", event(audit.KeyRotate)); err != nil {
		t.Fatal(err)
	}
	k4 := keys.Stored{KID: "k4", Alg: "ES256", State: keys.VerifyOnly, Created: t0.Add(2 * time.Hour), Activates: t0.Add(3 * time.Hour), Sealed: []byte("sealed-4")}
	if err := s.AddKey(ctx, k4, false, false, "n", event(audit.KeyRotate)); !errors.Is(err, store.ErrExists) {
		t.Fatalf("a second pre-published key: %v, want ErrExists", err)
	}
	if err := s.PromoteKey(ctx, "k3", t0.Add(3*time.Hour), "n", event(audit.KeyRotate)); err != nil {
		t.Fatal(err)
	}
	if err := s.PromoteKey(ctx, "k3", t0.Add(3*time.Hour), "n", event(audit.KeyRotate)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("promoting a key twice: %v, want ErrNotFound", err)
	}
	if err := s.SetKeyState(ctx, "k1", keys.Retired, t0.Add(4*time.Hour), "n", event(audit.KeyRetire)); err != nil {
		t.Fatal(err)
	}
	if err := s.SetKeyState(ctx, "nope", keys.Retired, t0, "n", event(audit.KeyRetire)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("retiring an unknown key: %v, want ErrNotFound", err)
	}
	ks, err := s.Keys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	state := map[string]keys.State{}
	for _, k := range ks {
		state[k.KID] = k.State
		if k.KID == "k1" && (string(k.Sealed) != "sealed-1" || string(k.Public) != `{"kty":"EC"}` || k.Alg != "ES256" || !k.Created.Equal(t0)) {
			t.Fatalf("k1 read back as %+v", k)
		}
	}
	want := map[string]keys.State{"k1": keys.Retired, "k2": keys.VerifyOnly, "k3": keys.Active}
	for kid, st := range want {
		if state[kid] != st {
			t.Fatalf("states %v, want %v", state, want)
		}
	}
	// Every change appended its record (the refused ones did not).
	if got := len(seqs(t, s, "n")); got != 5 {
		t.Fatalf("%d key records, want 5", got)
	}
}

func testRevocations(t *testing.T, loc Location) {
	s := open(t, loc)
	at := t0
	for i, tc := range []struct {
		iss, jti string
		exp      time.Time
		already  bool
	}{
		{"iss", "j1", t0.Add(time.Hour), false},
		{"iss", "j1", t0.Add(time.Hour), true},
		{"other", "j1", time.Time{}, false},
		{"iss", "j2", t0.Add(-time.Hour), false},
	} {
		at = at.Add(time.Second)
		already, err := s.Revoke(ctx, tc.iss, tc.jti, tc.exp, at, "n", event(audit.TokenRevoke))
		if err != nil || already != tc.already {
			t.Fatalf("revoke %d: already %v, %v; want %v", i, already, err, tc.already)
		}
	}
	revs, err := s.RevocationsSince(ctx, 0, t0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range revs {
		got = append(got, r.Iss+"/"+r.JTI)
	}
	slices.Sort(got)
	if want := []string{"iss/j1", "other/j1"}; !slices.Equal(got, want) {
		t.Fatalf("live revocations %v, want %v (j2 expired before t0)", got, want)
	}
	later, err := s.RevocationsSince(ctx, t0.Add(2*time.Second).UnixNano(), t0)
	if err != nil || len(later) != 1 || later[0].Iss != "other" {
		t.Fatalf("revocations after the second: %+v, %v", later, err)
	}
}

func testClients(t *testing.T, loc Location) {
	s, other := open(t, loc), open(t, loc)
	// Every change gives MetaClientsChanged a new value that another
	// handle (another process) sees; a failed change leaves it alone.
	var marks [][]byte
	mark := func(what string) {
		t.Helper()
		v, ok, err := other.Meta(ctx, store.MetaClientsChanged)
		if err != nil || !ok || len(v) == 0 {
			t.Fatalf("after %s: change mark %x, %v, %v", what, v, ok, err)
		}
		for _, m := range marks {
			if bytes.Equal(m, v) {
				t.Fatalf("after %s: the change mark did not change", what)
			}
		}
		marks = append(marks, v)
	}
	unchanged := func(what string) {
		t.Helper()
		if v, _, _ := other.Meta(ctx, store.MetaClientsChanged); !bytes.Equal(v, marks[len(marks)-1]) {
			t.Fatalf("after %s: the change mark changed", what)
		}
	}
	c := store.ClientRow{ID: "c1", Name: "one", SecretHash: []byte("h1"), Scopes: "tokens:issue audit:read", Policy: []byte(`{}`), Created: t0}
	if err := s.AddClient(ctx, c, "n", event(audit.ClientCreate)); err != nil {
		t.Fatal(err)
	}
	mark("AddClient")
	if err := s.AddClient(ctx, c, "n", event(audit.ClientCreate)); !errors.Is(err, store.ErrExists) {
		t.Fatalf("adding a client twice: %v, want ErrExists", err)
	}
	unchanged("a refused AddClient")
	if err := s.SetClientSecret(ctx, "c1", []byte("h2"), "n", event(audit.ClientCreate)); err != nil {
		t.Fatal(err)
	}
	mark("SetClientSecret")
	if err := s.SetClientSecret(ctx, "nobody", []byte("h3"), "n", event(audit.ClientCreate)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("new secret of an unknown client: %v, want ErrNotFound", err)
	}
	unchanged("a refused SetClientSecret")
	cs, err := other.Clients(ctx)
	if err != nil || len(cs) != 1 {
		t.Fatalf("Clients = %v, %v", cs, err)
	}
	if got := cs[0]; got.ID != "c1" || got.Name != "one" || string(got.SecretHash) != "h2" || got.Scopes != c.Scopes || string(got.Policy) != "{}" || !got.Created.Equal(t0) {
		t.Fatalf("client read back as %+v", got)
	}
	if err := s.DeleteClient(ctx, "c1", "n", event(audit.ClientDelete)); err != nil {
		t.Fatal(err)
	}
	mark("DeleteClient")
	if err := s.DeleteClient(ctx, "c1", "n", event(audit.ClientDelete)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleting a deleted client: %v, want ErrNotFound", err)
	}
	unchanged("a refused DeleteClient")
	if cs, _ := other.Clients(ctx); len(cs) != 0 {
		t.Fatalf("clients after delete: %v", cs)
	}
}

func testMeta(t *testing.T, loc Location) {
	a, b := open(t, loc), open(t, loc)
	if _, ok, err := a.Meta(ctx, "k"); ok || err != nil {
		t.Fatalf("Meta of an unset name: ok %v, %v", ok, err)
	}
	v, err := a.SetMetaOnce(ctx, "k", []byte("first"))
	if err != nil || string(v) != "first" {
		t.Fatalf("SetMetaOnce = %q, %v", v, err)
	}
	if v, err := b.SetMetaOnce(ctx, "k", []byte("second")); err != nil || string(v) != "first" {
		t.Fatalf("second SetMetaOnce = %q, %v; want the first value", v, err)
	}
	if v, ok, err := b.Meta(ctx, "k"); !ok || err != nil || string(v) != "first" {
		t.Fatalf("Meta = %q, %v, %v", v, ok, err)
	}
}

// A store made before the aggregate tables gets them filled from its
// records when it is opened (the migration that adds them).
func testCountsMigration(t *testing.T, loc Location) {
	db := loc.Open(t)
	base := time.Now().UTC().Truncate(time.Hour) // PostgreSQL has partitions around now
	var recs []*audit.Record
	for i := range 50 {
		recs = append(recs, &audit.Record{Time: base.Add(time.Duration(i) * 7 * time.Second), Event: audit.TokenVerify,
			Outcome: []string{"valid", "expired"}[i%2], Actor: "c" + strconv.Itoa(i%3), Sub: "u" + strconv.Itoa(i%4)})
	}
	if err := db.Append(ctx, "a", recs); err != nil {
		t.Fatal(err)
	}
	q := audit.CountQuery{Since: base, Step: audit.StepMinute}
	want, err := db.Counts(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	loc.DropCounts(t)
	got, err := open(t, loc).Counts(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) || len(got.Series) == 0 {
		t.Fatalf("after migration:\n got %+v\nwant %+v", got, want)
	}
}

// A store that counts takes what it appends from memory (the counter is
// fed each committed batch); appends from another handle in between, a
// second chain and catch-ups at any point leave the counts those records
// make when they are read back from the store (after DropCounts, at open).
func testCountsFed(t *testing.T, loc Location) {
	a, b := loc.Open(t), loc.Open(t)
	base := time.Now().UTC().Truncate(time.Hour) // PostgreSQL has partitions around now
	q := audit.CountQuery{Since: base, Step: audit.StepMinute, Top: 100}
	if _, err := a.Counts(ctx, q); err != nil { // starts counting in a
		t.Fatal(err)
	}
	events := []audit.Event{audit.TokenIssue, audit.TokenVerify, audit.AuthDenied}
	outcomes := []string{audit.OK, "valid", "expired", audit.Denied}
	n := 0
	batch := func(k int) []*audit.Record {
		recs := make([]*audit.Record, k)
		for i := range recs {
			recs[i] = &audit.Record{Time: base.Add(time.Duration(n) * 11 * time.Second), Event: events[n%3],
				Outcome: outcomes[n%4], Actor: "c" + strconv.Itoa(n%5), Sub: "u" + strconv.Itoa(n%7)}
			n++
		}
		return recs
	}
	for i, step := range []struct {
		s      store.Store
		chain  string
		k      int
		counts store.Store // catches up after the append (nil: nobody)
	}{
		{a, "a", 3, nil}, {a, "a", 64, a}, {a, "a", 5, nil},
		{b, "a", 4, nil}, // another handle: a's tally no longer continues
		{a, "a", 2, nil}, {a, "b", 9, a}, {a, "a", 70, nil},
		{b, "a", 1, a}, {a, "a", 1, nil}, {a, "b", 3, nil}, {a, "a", 12, a},
		// b counts past the start of a's tally: a must not add it again.
		{a, "a", 5, nil}, {b, "a", 2, b}, {a, "a", 3, nil}, {a, "b", 4, b}, {a, "a", 6, a},
	} {
		mustAppend(t, step.s, step.chain, batch(step.k))
		if step.counts != nil {
			if _, err := step.counts.Counts(ctx, q); err != nil {
				t.Fatalf("step %d: %v", i, err)
			}
		}
	}
	got, err := a.Counts(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, x := range got.Series {
		total += x.N
	}
	if total != int64(n) || got.Pending != 0 {
		t.Fatalf("counted %d records (%d pending), appended %d", total, got.Pending, n)
	}
	a.Close()
	b.Close()
	loc.DropCounts(t)
	want, err := open(t, loc).Counts(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("counted from appends:\n got %+v\nfrom the records:\n want %+v", got, want)
	}
}

func testCosignatures(t *testing.T, loc Location) {
	s := open(t, loc)
	b, ok := s.(store.Backend)
	if !ok || b.Capabilities().Cosignatures == nil {
		t.Fatal("the backend keeps no cosignatures")
	}
	cs := b.Capabilities().Cosignatures
	if n, err := cs.WitnessSize(ctx, "n", "w1"); err != nil || n != 0 {
		t.Fatalf("WitnessSize of an unknown witness = %d, %v; want 0", n, err)
	}
	for _, c := range []store.Cosignature{
		{Chain: "n", Size: 5, Witness: "w2", Line: []byte("— w2 AAAA\n"), Time: t0},
		{Chain: "n", Size: 5, Witness: "w1", Line: []byte("— w1 BBBB\n"), Time: t0},
		{Chain: "n", Size: 9, Witness: "w1", Line: []byte("— w1 CCCC\n"), Time: t0.Add(time.Second)},
		{Chain: "n", Size: 9, Witness: "w1", Line: []byte("— w1 DDDD\n"), Time: t0.Add(time.Second)}, // a second one is dropped
		{Chain: "other", Size: 3, Witness: "w1", Line: []byte("— w1 EEEE\n"), Time: t0},
	} {
		if err := cs.AddCosignature(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	got, err := cs.Cosignatures(ctx, "n")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"5 w1 — w1 BBBB\n", "5 w2 — w2 AAAA\n", "9 w1 — w1 CCCC\n"}
	if len(got) != len(want) {
		t.Fatalf("Cosignatures = %+v; want %q", got, want)
	}
	for i, c := range got {
		if s := fmt.Sprintf("%d %s %s", c.Size, c.Witness, c.Line); s != want[i] || c.Chain != "n" {
			t.Errorf("cosignature %d = %q; want %q", i, s, want[i])
		}
	}
	if !got[2].Time.Equal(t0.Add(time.Second)) {
		t.Errorf("time = %v", got[2].Time)
	}
	if n, err := cs.WitnessSize(ctx, "n", "w1"); err != nil || n != 9 {
		t.Fatalf("WitnessSize(w1) = %d, %v; want 9", n, err)
	}
	if err := cs.SetWitnessSize(ctx, "n", "w1", 12); err != nil {
		t.Fatal(err)
	}
	if n, err := cs.WitnessSize(ctx, "n", "w1"); err != nil || n != 12 {
		t.Fatalf("WitnessSize(w1) after SetWitnessSize = %d, %v; want 12", n, err)
	}
	if n, _ := cs.WitnessSize(ctx, "other", "w1"); n != 3 {
		t.Fatalf("WitnessSize(other, w1) = %d; want 3", n)
	}
}
