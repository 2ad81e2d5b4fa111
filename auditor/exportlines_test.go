package auditor_test

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/jwtledger/jwtledger/auditor"
)

// testExport writes rows and checkpoints of chain n1 as a JSONL export.
func testExport(t testing.TB, log *testLog, rows []testRow, cps [][3]any) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := auditor.NewExportWriter(&buf, auditor.ExportJSONL, log.vkey)
	if err != nil {
		t.Fatal(err)
	}
	for _, cp := range cps {
		root := cp[2].(tlog.Hash)
		if err := w.Checkpoint("n1", cp[1].(int64), root, cp[0].([]byte)); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range rows {
		if err := w.Record("n1", r.seq, r.leaf, r.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// failingReader gives data, then err.
type failingReader struct {
	data []byte
	err  error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

// sameAsOneCore checks that VerifyExport reports what one json.Decoder
// reading the export value by value does.
func sameAsOneCore(t *testing.T, vkey string, data []byte, readErr error) {
	t.Helper()
	input := func() io.Reader {
		if readErr != nil {
			return &failingReader{data: data, err: readErr}
		}
		return bytes.NewReader(data)
	}
	want, wantErr := auditor.VerifyExportOneCore(input(), vkey, auditor.VerifyOptions{})
	for _, procs := range []int{1, 2, 3} {
		prev := runtime.GOMAXPROCS(procs)
		got, gotErr := auditor.VerifyExport(input(), vkey, auditor.VerifyOptions{})
		runtime.GOMAXPROCS(prev)
		if (gotErr == nil) != (wantErr == nil) || gotErr != nil && gotErr.Error() != wantErr.Error() || !reflect.DeepEqual(got, want) {
			t.Fatalf("GOMAXPROCS %d: VerifyExport: %v %+v\none decoder: %v %+v", procs, gotErr, got, wantErr, want)
		}
	}
}

// TestVerifyExportSameAsOneDecoder checks the lines of an export decoded
// on several cores against one json.Decoder, on exports as jwtledger
// writes them (with damage) and on JSON that is not one value per line.
func TestVerifyExportSameAsOneDecoder(t *testing.T) {
	log := newTestLog(t, "jwtledger-audit-test")
	rows, cps := testChain(t, log, 5000, 7, 2048, 4999)
	exp := testExport(t, log, rows, cps)
	lines := strings.SplitAfter(string(exp), "\n")
	edit := func(i int, f func(string) string) []byte {
		l := append([]string(nil), lines...)
		l[i] = f(l[i])
		return []byte(strings.Join(l, ""))
	}
	huge := strings.Repeat("x", 200<<10)
	tests := []struct {
		name    string
		data    []byte
		readErr error
	}{
		{"intact", exp, nil},
		{"record edited", edit(3000, func(s string) string { return strings.Replace(s, `user-`, `admin-`, 1) }), nil},
		{"line dropped", edit(3000, func(string) string { return "" }), nil},
		{"line repeated", edit(3000, func(s string) string { return s + s }), nil},
		{"blank lines and CRLF", edit(1000, func(s string) string { return "\n  \r\n" + strings.TrimSuffix(s, "\n") + "\r\n\t\n" }), nil},
		{"two values on a line", edit(2500, func(s string) string { return strings.TrimSuffix(s, "\n") + " " }), nil},
		{"a value over two lines", edit(2500, func(s string) string { return strings.Replace(s, `,"seq"`, "\n,\"seq\"", 1) }), nil},
		{"bad JSON", edit(4000, func(s string) string { return s[:20] + "\n" }), nil},
		{"wrong type", edit(4000, func(s string) string { return strings.Replace(s, `"seq":`, `"seq":"x",  "x":`, 1) }), nil},
		{"bad base64", edit(100, func(s string) string { return strings.Replace(s, `"leaf_hash":"`, `"leaf_hash":"*`, 1) }), nil},
		{"unknown line type", edit(200, func(s string) string { return strings.Replace(s, `"type":"record"`, `"type":"recorded"`, 1) }), nil},
		{"line longer than the read buffer", edit(300, func(s string) string { return strings.Replace(s, `"record":"`, `"record":"`+huge, 1) }), nil},
		{"last line without a newline", bytes.TrimSuffix(exp, []byte("\n")), nil},
		{"last line cut", exp[:len(exp)-40], nil},
		{"read error", exp, errors.New("connection reset")},
		{"read error after a bad line", edit(4000, func(s string) string { return s[:20] + "\n" }), errors.New("connection reset")},
		{"null line", edit(10, func(string) string { return "null\n" }), nil},
		{"header only", []byte(lines[0]), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := tt.data
			if tt.readErr != nil {
				data = data[:len(data)*2/3]
			}
			sameAsOneCore(t, log.vkey, data, tt.readErr)
		})
	}
}

// FuzzVerifyExportSameAsOneDecoder: whatever the bytes after an export's
// header, VerifyExport reports what one json.Decoder does.
func FuzzVerifyExportSameAsOneDecoder(f *testing.F) {
	log := newTestLog(f, "jwtledger-audit-test")
	rows, cps := testChain(f, log, 300, 5, 290)
	exp := testExport(f, log, rows, cps)
	head, body, _ := bytes.Cut(exp, []byte("\n"))
	f.Add(body[:2000], uint16(0))
	f.Add([]byte("{\"type\":\"record\"}\n{\"type\":\n\"record\"}{}\n"), uint16(3))
	f.Add([]byte(" \n\n[1]\n"), uint16(0))
	f.Fuzz(func(t *testing.T, tail []byte, at uint16) {
		// A valid run of lines, then the fuzzer's bytes in the middle.
		i := int(at) % (len(body) + 1)
		data := append(append(append(append([]byte(nil), head...), '\n'), body[:i]...), tail...)
		data = append(data, body[i:]...)
		sameAsOneCore(t, log.vkey, data, nil)
	})
}
