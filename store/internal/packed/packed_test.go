package packed_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jwtledger/jwtledger/auditor"
	"github.com/jwtledger/jwtledger/internal/audit"
	"github.com/jwtledger/jwtledger/store/internal/packed"
	"github.com/jwtledger/jwtledger/token"
)

var update = flag.Bool("update", false, "rewrite testdata/packed-v1.golden")

const fingerprint = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

// records are the cases every test runs: the common shapes, and those
// the packed form cannot hold exactly (stored canonical).
var records = []struct {
	name   string
	r      auditor.Record
	packed bool
}{
	{"verify", auditor.Record{Seq: 42, Chain: "node-a", Time: time.Unix(1764547200, 123456789), Event: "token.verify", Outcome: "valid", Reason: "ok",
		Actor: "client-1", Remote: "127.0.0.1:5555", Sub: "alice", Aud: []string{"api"}, JTI: "j-1", KID: "k1", Alg: "ES256",
		Exp: time.Unix(1764550800, 0), TokenSHA256: fingerprint, RequestID: "req-7"}, true},
	{"minimal", auditor.Record{Seq: 1, Chain: "n", Time: time.Unix(0, 1), Event: "key.create", Outcome: "ok"}, true},
	{"unknown names", auditor.Record{Seq: 1 << 40, Chain: "ünïcode", Time: time.Unix(-5, 0), Event: "custom.event", Outcome: "weird", Alg: "XS1"}, true},
	{"denied", auditor.Record{Seq: 7, Chain: "n", Time: time.Unix(1764547200, 0), Event: "auth.denied", Outcome: "denied",
		Reason: "bad \"secret\"\n\t\x01", Remote: "[::1]:1"}, true},
	{"audiences", auditor.Record{Seq: 3, Chain: "n", Time: time.Unix(1764547200, 0), Event: "token.issue", Outcome: "ok",
		Aud: []string{"a", "", "c,d"}, Exp: time.Unix(-100, 0)}, true},
	{"exp at the epoch", auditor.Record{Seq: 3, Chain: "n", Time: time.Unix(1, 0), Event: "token.issue", Outcome: "ok", Exp: time.Unix(0, 0)}, true},
	{"fingerprint not hex", auditor.Record{Seq: 9, Chain: "n", Time: time.Unix(1, 0), Event: "token.verify", Outcome: "malformed",
		TokenSHA256: strings.ToUpper(fingerprint)}, true},
	{"short fingerprint", auditor.Record{Seq: 9, Chain: "n", Time: time.Unix(1, 0), Event: "token.verify", Outcome: "malformed", TokenSHA256: "abc"}, true},
	{"empty event", auditor.Record{Seq: 2, Chain: "", Time: time.Unix(1, 0)}, true},
	// Encode writes "exp" for this non-zero time, but its Unix seconds
	// read back are the zero time: stored canonical.
	{"exp unreadable", auditor.Record{Seq: 2, Chain: "n", Time: time.Unix(1, 0), Event: "token.issue", Outcome: "ok",
		Exp: time.Unix(-62135596800, 5)}, false},
}

func sealed(t testing.TB, r auditor.Record) (*auditor.Record, []byte) {
	t.Helper()
	r.Aud = slices.Clone(r.Aud)
	canonical := auditor.Seal(nil, &r)
	return &r, canonical
}

func TestRoundTrip(t *testing.T) {
	for _, tc := range records {
		t.Run(tc.name, func(t *testing.T) {
			r, canonical := sealed(t, tc.r)
			body := packed.Append(nil, r, canonical)
			if got := packed.IsPacked(body); got != tc.packed {
				t.Fatalf("IsPacked = %v, want %v (body %x)", got, tc.packed, body)
			}
			if tc.packed && len(body) >= len(canonical) && len(canonical) > 120 {
				t.Errorf("packed %d bytes, canonical %d", len(body), len(canonical))
			}
			got, err := packed.Canonical([]byte("prefix"), body)
			if err != nil || !bytes.Equal(got, append([]byte("prefix"), canonical...)) {
				t.Fatalf("Canonical = %q, %v\nwant %q", got, err, canonical)
			}
			if got := packed.Encoding(nil, body); !bytes.Equal(got, canonical) {
				t.Fatalf("Encoding = %q, want %q", got, canonical)
			}
			if !tc.packed {
				return // the canonical encoding itself does not decode
			}
			want, err := auditor.Decode(canonical)
			if err != nil {
				t.Fatal(err)
			}
			dec, err := packed.Decode(body)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(dec, want) {
				t.Fatalf("Decode = %+v\nwant %+v", dec, want)
			}
			if dec.LeafHash != r.LeafHash {
				t.Fatal("leaf hash differs from the sealed record's")
			}
			fields, err := packed.Fields(body)
			if err != nil {
				t.Fatal(err)
			}
			want.LeafHash = [32]byte{}
			if !reflect.DeepEqual(fields, want) {
				t.Fatalf("Fields = %+v\nwant %+v", fields, want)
			}
		})
	}
}

// A canonical body (one written before the packed form, or one it cannot
// hold) reads as it is.
func TestCanonicalBodies(t *testing.T) {
	r, canonical := sealed(t, records[0].r)
	if packed.IsPacked(canonical) || packed.IsPacked(nil) {
		t.Fatal("a canonical or empty body taken as packed")
	}
	got, err := packed.Canonical(nil, canonical)
	if err != nil || !bytes.Equal(got, canonical) {
		t.Fatalf("Canonical = %q, %v", got, err)
	}
	dec, err := packed.Decode(canonical)
	if err != nil || dec.LeafHash != r.LeafHash {
		t.Fatalf("Decode = %+v, %v", dec, err)
	}
	if _, err := packed.Decode([]byte(`{"v":1}`)); !errors.Is(err, auditor.ErrNotCanonical) {
		t.Fatalf("Decode of a bad canonical body: %v", err)
	}
}

func TestBodies(t *testing.T) {
	var recs []*auditor.Record
	var canonical [][]byte
	for _, tc := range records {
		r, c := sealed(t, tc.r)
		recs, canonical = append(recs, r), append(canonical, c)
	}
	bodies := packed.Bodies(recs, canonical)
	if len(bodies) != len(recs) {
		t.Fatalf("%d bodies for %d records", len(bodies), len(recs))
	}
	for i, b := range bodies {
		if got := packed.Encoding(nil, b); !bytes.Equal(got, canonical[i]) {
			t.Errorf("body %d: %q, want %q", i, got, canonical[i])
		}
		if cap(b) != len(b) {
			t.Errorf("body %d can grow into the next", i)
		}
	}
}

// Every cut and every flipped byte of a packed body is refused or reads
// as some record: never a panic, and Encoding gives the body back when it
// does not parse, so a leaf check sees the damage.
func TestCorrupt(t *testing.T) {
	r, canonical := sealed(t, records[0].r)
	body := packed.Append(nil, r, canonical)
	for n := 1; n < len(body); n++ {
		cut := body[:n]
		if _, err := packed.Canonical(nil, cut); !errors.Is(err, packed.ErrCorrupt) {
			t.Errorf("cut at %d: Canonical: %v", n, err)
		}
		if _, err := packed.Decode(cut); !errors.Is(err, packed.ErrCorrupt) {
			t.Errorf("cut at %d: Decode: %v", n, err)
		}
		if got := packed.Encoding(nil, cut); !bytes.Equal(got, cut) {
			t.Errorf("cut at %d: Encoding = %q", n, got)
		}
	}
	for _, extra := range [][]byte{{0}, []byte("x")} {
		if _, err := packed.Decode(append(slices.Clone(body), extra...)); !errors.Is(err, packed.ErrCorrupt) {
			t.Errorf("data after the record: %v", err)
		}
	}
	for i := 1; i < len(body); i++ {
		b := slices.Clone(body)
		b[i] ^= 0xff
		if got := packed.Encoding(nil, b); bytes.Equal(got, canonical) {
			t.Errorf("byte %d flipped: the same encoding", i)
		}
	}
	bad := map[string][]byte{
		"unknown flag":          {packed.Tag, 0x80, 0x20},
		"raw token, no token":   {packed.Tag, 0x80, 0x10},
		"symbol out of range":   append([]byte{packed.Tag, 0, 1, 0}, 0, 0, 0, 0, 0, 0, 0, 0, 99, 1),
		"no audience":           append([]byte{packed.Tag, fAud, 1, 0}, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0),
		"invalid UTF-8 chain":   append([]byte{packed.Tag, 0, 1, 1, 0xff}, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1),
		"overlong varint":       {packed.Tag, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
		"string past the end":   {packed.Tag, 0, 1, 40, 'a'},
		"tag alone":             {packed.Tag},
		"time cut short":        {packed.Tag, 0, 1, 0, 1, 2, 3},
		"audience count > body": append([]byte{packed.Tag, fAud, 1, 0}, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0x7f),
	}
	for name, b := range bad {
		if _, err := packed.Decode(b); !errors.Is(err, packed.ErrCorrupt) {
			t.Errorf("%s: Decode: %v", name, err)
		}
	}
}

const fAud = 1 << 4

// The format is frozen: these bodies must read the same in every later
// release (a changed table or layout shows here first).
func TestGolden(t *testing.T) {
	var out strings.Builder
	for _, tc := range records {
		r, canonical := sealed(t, tc.r)
		body := packed.Append(nil, r, canonical)
		out.WriteString(tc.name + "\n" + hex.EncodeToString(body) + "\n")
	}
	path := filepath.Join("testdata", "packed-v1.golden")
	if *update {
		if err := os.WriteFile(path, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if out.String() != string(want) {
		t.Fatalf("packed bodies changed:\n%s\nwant:\n%s", out.String(), want)
	}
	// And the golden bodies read back as the records.
	lines := strings.Split(strings.TrimSpace(string(want)), "\n")
	for i := 0; i+1 < len(lines); i += 2 {
		b, err := hex.DecodeString(lines[i+1])
		if err != nil {
			t.Fatal(err)
		}
		tc := records[i/2]
		_, canonical := sealed(t, tc.r)
		if got := packed.Encoding(nil, b); !bytes.Equal(got, canonical) {
			t.Errorf("%s: golden body reads %q, want %q", lines[i], got, canonical)
		}
	}
}

// Every event and outcome the product writes has a code.
func TestTables(t *testing.T) {
	for _, e := range audit.Events {
		if !slices.Contains(packed.Events, string(e)) {
			t.Errorf("event %q has no code", e)
		}
	}
	for _, o := range append([]string{audit.OK, audit.Denied, audit.Error}, outcomes()...) {
		if !slices.Contains(packed.Outcomes, o) {
			t.Errorf("outcome %q has no code", o)
		}
	}
	for _, tab := range [][]string{packed.Events, packed.Outcomes, packed.Algs} {
		seen := map[string]bool{}
		for _, s := range tab {
			if seen[s] || s == "" {
				t.Errorf("%q twice or empty in a table", s)
			}
			seen[s] = true
		}
	}
}

func outcomes() []string {
	var out []string
	for _, o := range token.Outcomes {
		out = append(out, string(o))
	}
	return out
}

func FuzzRoundTrip(f *testing.F) {
	for _, tc := range records {
		r := tc.r
		aud := ""
		if len(r.Aud) > 0 {
			aud = strings.Join(r.Aud, "|")
		}
		f.Add(r.Seq, r.Chain, r.Time.UnixNano(), string(r.Event), r.Outcome, r.Reason, r.Sub, aud, r.Alg, r.Exp.Unix(), r.TokenSHA256, r.RequestID)
	}
	f.Fuzz(func(t *testing.T, seq uint64, chain string, ns int64, event, outcome, reason, sub, aud, alg string, exp int64, tok, reqID string) {
		r := auditor.Record{Seq: seq, Chain: chain, Time: time.Unix(0, ns), Event: auditor.Event(event), Outcome: outcome,
			Reason: reason, Sub: sub, Alg: alg, TokenSHA256: tok, RequestID: reqID}
		if aud != "" {
			r.Aud = strings.Split(aud, "|")
		}
		if exp != 0 {
			r.Exp = time.Unix(exp, 0)
		}
		s, canonical := sealed(t, r)
		body := packed.Append(nil, s, canonical)
		if got := packed.Encoding(nil, body); !bytes.Equal(got, canonical) {
			t.Fatalf("Encoding = %q, want %q", got, canonical)
		}
		dec, err := packed.Decode(body)
		if err != nil {
			t.Fatal(err)
		}
		if dec.LeafHash != s.LeafHash {
			t.Fatal("leaf hash differs")
		}
	})
}

func FuzzDecode(f *testing.F) {
	for _, tc := range records {
		r, canonical := sealed(f, tc.r)
		f.Add(packed.Append(nil, r, canonical))
		f.Add(canonical)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		enc := packed.Encoding(nil, body)
		canonical, cerr := packed.Canonical(nil, body)
		r, err := packed.Decode(body)
		if err != nil {
			return
		}
		if cerr != nil || !bytes.Equal(enc, canonical) {
			t.Fatalf("Decode works, Canonical: %v", cerr)
		}
		// What reads as a record has that record's canonical encoding,
		// which decodes to the same record.
		if r.LeafHash != auditor.LeafHash(canonical) {
			t.Fatal("leaf hash is not the canonical encoding's")
		}
		again, err := auditor.Decode(canonical)
		if err != nil {
			t.Fatalf("canonical encoding %q: %v", canonical, err)
		}
		if !reflect.DeepEqual(again, r) {
			t.Fatalf("Decode = %+v\ncanonical decodes to %+v", r, again)
		}
	})
}

func BenchmarkAppend(b *testing.B) {
	r, canonical := sealed(b, records[0].r)
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = packed.Append(buf[:0], r, canonical)
	}
}

func BenchmarkCanonical(b *testing.B) {
	r, canonical := sealed(b, records[0].r)
	body := packed.Append(nil, r, canonical)
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = packed.Canonical(buf[:0], body)
	}
}

// The packed form holds the fields of the record it knows of: a field
// added to auditor.Record fails here until pack and unpack hold it (and
// TestRoundTrip's "verify" case sets it).
func TestRecordFields(t *testing.T) {
	known := []string{"Seq", "Chain", "Time", "Event", "Outcome", "Reason", "Actor", "Remote", "Sub", "Aud", "JTI", "KID", "Alg",
		"Exp", "TokenSHA256", "RequestID", "LeafHash", "ID"}
	var got []string
	for f := range reflect.TypeFor[auditor.Record]().Fields() {
		got = append(got, f.Name)
	}
	if !slices.Equal(got, known) {
		t.Fatalf("auditor.Record fields %v, the packed form knows %v", got, known)
	}
	// And the full case sets every field the encoding has.
	v := reflect.ValueOf(records[0].r)
	for _, name := range known {
		if name != "LeafHash" && name != "ID" && v.FieldByName(name).IsZero() {
			t.Errorf("the verify case leaves %s unset", name)
		}
	}
}

// A Reader gives canonical bodies as they are, packed ones re-encoded,
// and pruned (empty) ones empty.
func TestReader(t *testing.T) {
	r, canonical := sealed(t, records[0].r)
	body := packed.Append(nil, r, canonical)
	var rd packed.Reader
	for _, tc := range []struct{ in, want []byte }{{body, canonical}, {canonical, canonical}, {nil, nil}, {body[:5], body[:5]}} {
		if got := rd.Encoding(tc.in); !bytes.Equal(got, tc.want) {
			t.Errorf("Encoding(%x) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
