package strictjson_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/jwtledger/jwtledger/internal/strictjson"
)

// FuzzParseObject checks the strict parser against encoding/json: whatever
// it accepts, encoding/json accepts too and reads the same members, and
// Compact agrees with json.Compact.
func FuzzParseObject(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1}`, ` {"a":[1,2,{"b":null}],"c":"\u00e9\ud83d\ude00"} `, `{"a":1,"a":2}`,
		`{"a":"\ud800"}`, "{\"a\":\"\xff\"}", `[1]`, `{"a":1}x`, `{"a":-0.5e+10}`, `{"a":01}`, `{"\u0061":1,"a":2}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ms, err := strictjson.ParseObject(data, nil)
		if err != nil {
			return
		}
		if !json.Valid(data) {
			t.Fatalf("strict parser accepted what encoding/json refuses: %q", data)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatalf("encoding/json cannot read %q: %v", data, err)
		}
		if len(m) != len(ms) {
			t.Fatalf("%d members, encoding/json sees %d (duplicates?) in %q", len(ms), len(m), data)
		}
		for _, mem := range ms {
			v, ok := m[mem.Name]
			if !ok || !bytes.Equal(bytes.TrimSpace(v), mem.Value) {
				t.Fatalf("member %q: %q vs %q", mem.Name, mem.Value, v)
			}
		}
		var want bytes.Buffer
		json.Compact(&want, data)
		if got := strictjson.Compact(nil, data); !bytes.Equal(got, want.Bytes()) {
			t.Fatalf("Compact %q, encoding/json %q", got, want.Bytes())
		}
	})
}

// FuzzAppendString checks that every string is encoded as JSON that
// decodes back to it (invalid UTF-8 aside).
func FuzzAppendString(f *testing.F) {
	f.Add("plain")
	f.Add("\x00\x1f\"\\\n\u2028\U0001F600")
	f.Fuzz(func(t *testing.T, s string) {
		enc := strictjson.AppendString(nil, s)
		if err := strictjson.Valid(enc); err != nil {
			t.Fatalf("AppendString(%q) = %q is not valid: %v", s, enc, err)
		}
		var back string
		if err := json.Unmarshal(enc, &back); err != nil {
			t.Fatal(err)
		}
		if got, ok := strictjson.String(enc); !ok || got != back {
			t.Fatalf("String(%q) = %q, encoding/json %q", enc, got, back)
		}
		if back != s && bytes.ContainsRune([]byte(s), 0xFFFD) == false && json.Valid([]byte(`"`+s+`"`)) {
			t.Fatalf("round trip %q -> %q", s, back)
		}
	})
}
