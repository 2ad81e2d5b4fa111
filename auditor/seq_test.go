package auditor

import (
	"strconv"
	"testing"
)

// parseSeq must answer exactly as strconv.ParseInt, for every input.
func checkParseSeq(t *testing.T, s string) {
	t.Helper()
	got, gotErr := parseSeq([]byte(s))
	want, wantErr := strconv.ParseInt(s, 10, 64)
	if got != want || (gotErr == nil) != (wantErr == nil) {
		t.Fatalf("parseSeq(%q) = %d, %v; strconv.ParseInt: %d, %v", s, got, gotErr, want, wantErr)
	}
}

func TestParseSeq(t *testing.T) {
	for _, s := range []string{"", "0", "1", "007", "-1", "+5", "12a", "999999999999999999", "9223372036854775807",
		"9223372036854775808", "99999999999999999999", " 1", "1_000", "0x10"} {
		checkParseSeq(t, s)
	}
}

func FuzzParseSeq(f *testing.F) {
	f.Add("123")
	f.Add("-9223372036854775808")
	f.Fuzz(func(t *testing.T, s string) { checkParseSeq(t, s) })
}
