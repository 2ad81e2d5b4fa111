package auditor_test

import (
	"cmp"
	"errors"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/jwtledger/jwtledger/auditor"
)

// testRow is a row of a chain as a store holds it.
type testRow struct {
	seq        int64
	body, leaf []byte
	failHere   bool // a range scan fails at this row
}

// testChain makes n rows of chain n1 and signed checkpoints at the given
// sizes, over the intact rows.
func testChain(t testing.TB, log *testLog, n int, sizes ...int64) ([]testRow, [][3]any) {
	t.Helper()
	rows := make([]testRow, n)
	var stored []tlog.Hash
	hr := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			out[i] = stored[x]
		}
		return out, nil
	})
	for i := range rows {
		r := &auditor.Record{Seq: uint64(i + 1), Chain: "n1", Time: time.Unix(1700000000, int64(i)).UTC(), Event: "token.verify", Outcome: "valid",
			Sub: "user-" + strconv.Itoa(i%7), Aud: []string{"api"}, JTI: "j" + strconv.Itoa(i)}
		body := auditor.Encode(nil, r)
		leaf := auditor.LeafHash(body)
		rows[i] = testRow{seq: int64(i + 1), body: body, leaf: leaf[:]}
		hs, err := tlog.StoredHashes(int64(i), body, hr)
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, hs...)
	}
	var cps [][3]any
	for _, size := range sizes {
		root, err := tlog.TreeHash(size, hr)
		if err != nil {
			t.Fatal(err)
		}
		text := auditor.Checkpoint{Origin: auditor.Origin("n1"), Size: size, Root: root}.String()
		cps = append(cps, [3]any{log.sign(t, text), size, root})
	}
	return rows, cps
}

// Ways verifyRows gives the rows to a ChainVerifier.
const (
	byRecord = iota // Record, one row at a time
	byScan          // Scan
	byRanges        // ScanRanges, the rows sorted by seq as a store gives them
)

// verifyRows checks rows as chain n1 in one of the ways above and returns
// the report; a scan fails with scanErr after the rows (byRanges: at row
// errAt, when it is a row).
func verifyRows(t testing.TB, vkey string, rows []testRow, cps [][3]any, way int, scanErr error) (*auditor.LogReport, int64, error) {
	t.Helper()
	v, err := auditor.NewLogVerifier(vkey, auditor.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var progress []int64
	c, err := v.Chain("n1", func(n int64) { progress = append(progress, n) })
	if err != nil {
		t.Fatal(err)
	}
	for _, cp := range cps {
		c.Checkpoint(cp[0].([]byte), cp[1].(int64), cp[2].(tlog.Hash))
	}
	c.CheckSize(int64(len(rows)))
	c.MissingLeaf = func(n int64) (tlog.Hash, error) {
		if n%5 == 0 {
			return tlog.Hash{}, errors.New("no stored hash")
		}
		return tlog.Hash{byte(n)}, nil
	}
	switch way {
	case byRanges:
		var size int64
		for _, r := range rows {
			size = max(size, r.seq)
		}
		err = c.ScanRanges(size, func(from, to int64, add func(seq int64, body, leaf []byte) error) error {
			for _, r := range rows {
				if r.seq < from || r.seq >= to {
					continue
				}
				if r.failHere {
					return scanErr
				}
				body := append([]byte(nil), r.body...)
				if r.body == nil {
					body = nil
				} else if len(r.body) == 0 {
					body = []byte{}
				}
				if err := add(r.seq, body, append([]byte(nil), r.leaf...)); err != nil {
					return err
				}
				clear(body)
			}
			return nil
		})
	case byScan:
		err = c.Scan(func(add func(seq int64, body, leaf []byte) error) error {
			for _, r := range rows {
				// The slices are only valid during the call.
				var body []byte
				if r.body != nil {
					body = append(make([]byte, 0, len(r.body)), r.body...)
				}
				leaf := append([]byte(nil), r.leaf...)
				if err := add(r.seq, body, leaf); err != nil {
					return err
				}
				clear(body)
				clear(leaf)
			}
			return scanErr
		})
	default:
		err = scanErr
		for _, r := range rows {
			if r.failHere {
				break
			}
			if err := c.Record(r.seq, r.body, r.leaf); err != nil {
				t.Fatal(err)
			}
		}
	}
	c.Done(err == nil)
	if len(progress) != int(c.Report().Records/16384) {
		t.Fatalf("progress called %d times for %d records", len(progress), c.Report().Records)
	}
	return v.Report(), c.Next(), err
}

// damageRows returns a copy of rows with a kind of damage at position i.
var damages = []struct {
	name string
	do   func(rows []testRow, i int) []testRow
}{
	{"intact", func(rows []testRow, i int) []testRow { return rows }},
	{"body edited", func(rows []testRow, i int) []testRow {
		rows[i].body = append([]byte(nil), rows[i].body...)
		rows[i].body[len(rows[i].body)-3] ^= 1
		return rows
	}},
	{"body and leaf rewritten", func(rows []testRow, i int) []testRow {
		rows[i].body = append([]byte(nil), rows[i].body...)
		rows[i].body[len(rows[i].body)-3] ^= 1
		h := auditor.LeafHash(rows[i].body)
		rows[i].leaf = h[:]
		return rows
	}},
	{"row deleted", func(rows []testRow, i int) []testRow { return append(rows[:i:i], rows[i+1:]...) }},
	{"rows deleted", func(rows []testRow, i int) []testRow { return append(rows[:i:i], rows[min(len(rows), i+1500):]...) }},
	{"row repeated", func(rows []testRow, i int) []testRow { return append(rows[:i+1:i+1], rows[i:]...) }},
	{"rows swapped", func(rows []testRow, i int) []testRow {
		j := min(i+1, len(rows)-1)
		rows[i].body, rows[j].body, rows[i].leaf, rows[j].leaf = rows[j].body, rows[i].body, rows[j].leaf, rows[i].leaf
		return rows
	}},
	{"pruned", func(rows []testRow, i int) []testRow {
		for k := range min(len(rows), i+2000) {
			rows[k].body = nil
		}
		return rows
	}},
	{"empty body", func(rows []testRow, i int) []testRow { rows[i].body = []byte{}; return rows }},
	{"other chain", func(rows []testRow, i int) []testRow {
		rows[i].body = []byte(`{"v":1,"seq":` + strconv.FormatInt(rows[i].seq, 10) + `,"chain":"n2","time":1,"event":"e","outcome":"ok"}`)
		return rows
	}},
	{"chain spelt with an escape", func(rows []testRow, i int) []testRow {
		rows[i].body = []byte(`{"v":1,"seq":` + strconv.FormatInt(rows[i].seq, 10) + `,"chain":"n\u0031","time":1,"event":"e","outcome":"ok"}`)
		return rows
	}},
	{"short leaf", func(rows []testRow, i int) []testRow { rows[i].leaf = rows[i].leaf[:5]; return rows }},
	{"huge seq", func(rows []testRow, i int) []testRow { rows[i].seq = 1<<63 - 2; return rows[:i+1] }},
	{"seq before the first", func(rows []testRow, i int) []testRow { rows[i].seq = -3; return rows }},
}

// TestScanSameAsRecord checks that Scan and ScanRanges, on several cores,
// report exactly what Record does one row at a time, for every kind of
// damage, at the start, middle and end of a chain longer than a batch or a
// range, and when the scan fails.
func TestScanSameAsRecord(t *testing.T) {
	log := newTestLog(t, "jwtledger-audit-test")
	const n = 17000 // a progress call, many batches and ranges
	intact, cps := testChain(t, log, n, 1, 1023, 1024, 1025, 16384, 16385, n)
	positions := []int{0, 16384, n - 1} // the first row of the second range
	if testing.Short() {
		positions = positions[1:2]
	}
	for _, d := range damages {
		for _, at := range positions {
			for _, scanErr := range []error{nil, errors.New("disk image malformed")} {
				name := d.name + "/at " + strconv.Itoa(at)
				if scanErr != nil {
					name += "/scan fails"
				}
				t.Run(name, func(t *testing.T) {
					rows := d.do(append([]testRow(nil), intact...), at)
					want, wantNext, wantErr := verifyRows(t, log.vkey, rows, cps, byRecord, scanErr)
					for _, procs := range []int{1, 3} {
						prev := runtime.GOMAXPROCS(procs)
						got, gotNext, gotErr := verifyRows(t, log.vkey, rows, cps, byScan, scanErr)
						runtime.GOMAXPROCS(prev)
						if gotErr != wantErr || gotNext != wantNext || !reflect.DeepEqual(got, want) {
							t.Fatalf("GOMAXPROCS %d: Scan: %v, next %d, %+v\nRecord: %v, next %d, %+v", procs, gotErr, gotNext, got, wantErr, wantNext, want)
						}
					}
					// A store gives a range's rows in seq order, and a
					// failing scan fails at a row.
					rows = slices.Clone(rows)
					slices.SortStableFunc(rows, func(a, b testRow) int { return cmp.Compare(a.seq, b.seq) })
					if scanErr != nil {
						rows[len(rows)*2/3].failHere = true
					}
					want, wantNext, wantErr = verifyRows(t, log.vkey, rows, cps, byRecord, scanErr)
					for _, procs := range []int{1, 3} {
						prev := runtime.GOMAXPROCS(procs)
						got, gotNext, gotErr := verifyRows(t, log.vkey, rows, cps, byRanges, scanErr)
						runtime.GOMAXPROCS(prev)
						if gotErr != wantErr || gotNext != wantNext || !reflect.DeepEqual(got, want) {
							t.Fatalf("GOMAXPROCS %d: ScanRanges: %v, next %d, %+v\nRecord: %v, next %d, %+v", procs, gotErr, gotNext, got, wantErr, wantNext, want)
						}
					}
					if d.name == "intact" && scanErr == nil && !want.OK {
						t.Fatalf("intact chain: %+v", want)
					}
				})
			}
		}
	}
}

// FuzzScanSameAsRecord: whatever rows a store gives, Scan and Record report
// the same.
func FuzzScanSameAsRecord(f *testing.F) {
	log := newTestLog(f, "jwtledger-audit-test")
	intact, cps := testChain(f, log, 3000, 5, 1024, 2999)
	f.Add([]byte{0, 1, 3, 0, 200, 7, 9})
	f.Add([]byte{5, 4, 0, 0, 3, 0xff})
	f.Fuzz(func(t *testing.T, ops []byte) {
		rows := append([]testRow(nil), intact...)
		for k := 0; k+1 < len(ops) && k < 16; k += 2 {
			d := damages[int(ops[k])%len(damages)]
			if len(rows) == 0 {
				break
			}
			rows = d.do(rows, int(ops[k+1])*13%len(rows))
		}
		want, wantNext, _ := verifyRows(t, log.vkey, rows, cps, byRecord, nil)
		got, gotNext, _ := verifyRows(t, log.vkey, rows, cps, byScan, nil)
		if gotNext != wantNext || !reflect.DeepEqual(got, want) {
			t.Fatalf("Scan: next %d, %+v\nRecord: next %d, %+v", gotNext, got, wantNext, want)
		}
		slices.SortStableFunc(rows, func(a, b testRow) int { return cmp.Compare(a.seq, b.seq) })
		want, wantNext, _ = verifyRows(t, log.vkey, rows, cps, byRecord, nil)
		got, gotNext, _ = verifyRows(t, log.vkey, rows, cps, byRanges, nil)
		if gotNext != wantNext || !reflect.DeepEqual(got, want) {
			t.Fatalf("ScanRanges: next %d, %+v\nRecord: next %d, %+v", gotNext, got, wantNext, want)
		}
	})
}
