package auditor

import (
	"bytes"
	"fmt"
	"testing"
	"unicode/utf8"
)

// appendStringByRune is the definition appendString follows, one rune at
// a time.
func appendStringByRune(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i, w := 0, 0; i < len(s); i += w {
		c, size := utf8.DecodeRuneInString(s[i:])
		w = size
		switch {
		case c == utf8.RuneError && size == 1:
			dst = append(dst, `\ufffd`...)
		case c == '"' || c == '\\':
			dst = append(dst, '\\', byte(c))
		case c == '\n':
			dst = append(dst, `\n`...)
		case c == '\r':
			dst = append(dst, `\r`...)
		case c == '\t':
			dst = append(dst, `\t`...)
		case c < 0x20:
			dst = append(dst, fmt.Sprintf(`\u%04x`, c)...)
		default:
			dst = append(dst, s[i:i+size]...)
		}
	}
	return append(dst, '"')
}

var appendStringCases = []string{
	"", "alice", `a"b\c`, "line\nbreak\r\ttab", "\x00\x01\x1f\x7f", "ünïcödé ✓ 𝄞",
	"bad \xff utf-8 \xc3", "\xe2\x82", "127.0.0.1:54321", "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
}

func TestAppendString(t *testing.T) {
	for _, s := range appendStringCases {
		if got, want := appendString([]byte("x"), s), appendStringByRune([]byte("x"), s); !bytes.Equal(got, want) {
			t.Errorf("appendString(%q) = %s, want %s", s, got, want)
		}
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range appendStringCases {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := appendString(nil, s), appendStringByRune(nil, s); !bytes.Equal(got, want) {
			t.Fatalf("appendString(%q) = %s, want %s", s, got, want)
		}
	})
}

// The strings of a typical token.verify record, by run and by rune.
func BenchmarkAppendString(b *testing.B) {
	strs := []string{"node-a", "token.verify", "valid", "client-1", "127.0.0.1:5555", "alice", "api", "j-1", "k1", "ES256",
		"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "req-7"}
	for _, impl := range []struct {
		name string
		fn   func([]byte, string) []byte
	}{{"runs", appendString}, {"by-rune", appendStringByRune}} {
		b.Run(impl.name, func(b *testing.B) {
			buf := make([]byte, 0, 512)
			for b.Loop() {
				buf = buf[:0]
				for _, s := range strs {
					buf = impl.fn(buf, s)
				}
			}
		})
	}
}
