package audit_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/jwtledger/jwtledger/internal/audit"
)

// FuzzRecordEncoding checks that the canonical encoding round-trips every
// record and that decoding accepts nothing it would not produce again.
func FuzzRecordEncoding(f *testing.F) {
	f.Add(uint64(1), "node-1", int64(1), "token.issue", "ok", "", "alice", "jti", int64(0))
	f.Add(uint64(99), "n\"", int64(-5), "token.verify", "expired", "a\nb\x00", "\u2028", "", int64(1700000000))
	f.Fuzz(func(t *testing.T, seq uint64, chain string, ns int64, event, outcome, reason, sub, jti string, exp int64) {
		r := &audit.Record{Seq: seq, Chain: chain, Time: time.Unix(0, ns).UTC(), Event: audit.Event(event), Outcome: outcome,
			Reason: reason, Sub: sub, JTI: jti, Aud: []string{sub, jti}}
		if exp != 0 {
			r.Exp = time.Unix(exp, 0).UTC()
		}
		r.Normalize()
		body := audit.Encode(nil, r)
		back, err := audit.Decode(body)
		if err != nil {
			t.Fatalf("decode of an encoding: %v", err)
		}
		again := audit.Encode(nil, back)
		if back.Seq != r.Seq || !back.Time.Equal(r.Time) || back.Event != r.Event || back.Chain != r.Chain || back.Reason != r.Reason || back.Sub != r.Sub || back.Outcome != r.Outcome {
			t.Fatalf("round trip changed the record: %+v -> %+v", r, back)
		}
		back2, err := audit.Decode(again)
		if err != nil || !bytes.Equal(audit.Encode(nil, back2), again) {
			t.Fatalf("encoding not stable: %q vs %q", again, audit.Encode(nil, back2))
		}
	})
}

// FuzzDecode feeds arbitrary bytes to the record decoder: no panic.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"v":1,"seq":1,"chain":"a","time":1,"event":"token.issue","outcome":"ok"}`))
	f.Add([]byte(`{"v":2}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		audit.Decode(data)
	})
}
