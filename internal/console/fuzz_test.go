package console

import (
	"encoding/json"
	"slices"
	"testing"
)

func TestMatchLanguage(t *testing.T) {
	tests := []struct {
		header, want string
	}{
		{"", "en"},
		{"ko", "ko"},
		{"ko-KR,ko;q=0.9,en-US;q=0.8,en;q=0.7", "ko"},
		{"en-US,en;q=0.9,ko;q=0.8", "en"},
		{"fr-FR,fr;q=0.9", "en"},
		{"fr, ko;q=0.5", "ko"},
		{"KO-kr", "ko"},
		{"en;q=0.2, ko;q=0.3", "ko"},
		{"ko;q=0, en;q=0.1", "en"},
		{"ko;q=2", "en"}, // out of range: ignored
		{"*", "en"},
		{"ko;q=abc, en", "en"},
	}
	for _, tc := range tests {
		if got := matchLanguage(tc.header, Languages); got != tc.want {
			t.Errorf("matchLanguage(%q) = %q, want %q", tc.header, got, tc.want)
		}
	}
}

func FuzzAcceptLanguage(f *testing.F) {
	for _, s := range []string{"ko-KR,ko;q=0.9,en;q=0.8", "*;q=0.1", ";q=", ",,,", "en;q=1e309"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		if got := matchLanguage(header, Languages); !slices.Contains(Languages, got) {
			t.Fatalf("matchLanguage(%q) = %q", header, got)
		}
	})
}

func TestDecodeToken(t *testing.T) {
	h, c, times := decodeToken("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIiwiZXhwIjoxNzAwMDAwMDAwLCJpYXQiOjE2OTk5OTk5MDB9.sig")
	if h != "{\n  \"alg\": \"HS256\"\n}" || c == "" || len(times) != 2 || times[0].Name != "iat" || times[1].At.Unix() != 1700000000 {
		t.Fatalf("decodeToken: %q %q %v", h, c, times)
	}
	for _, bad := range []string{"", "a.b", "a.b.c.d", "!!!.e30.x", "e30"} {
		if h, _, _ := decodeToken(bad); h != "" {
			t.Errorf("decodeToken(%q) decoded a header %q", bad, h)
		}
	}
}

func FuzzDecodeToken(f *testing.F) {
	for _, s := range []string{"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.x", "e30.e30.", "e30.W10.", "e30.eyJleHAiOjFlMzAwfQ."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		h, c, _ := decodeToken(raw)
		if h != "" && !json.Valid([]byte(h)) {
			t.Fatalf("header %q is not JSON", h)
		}
		if c != "" && !json.Valid([]byte(c)) {
			t.Fatalf("claims %q are not JSON", c)
		}
	})
}
