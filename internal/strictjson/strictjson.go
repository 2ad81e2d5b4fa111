// Package strictjson reads and writes JSON strictly: RFC 8259 grammar,
// valid UTF-8, no unpaired surrogates, no duplicate member names at any
// level, bounded nesting and nothing after the value.
package strictjson

import (
	"errors"
	"fmt"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// Token and audit JSON is attacker-controlled, so it is read by this small
// strict scanner rather than by encoding/json, which accepts duplicate names,
// invalid UTF-8 and lone surrogates. The scanner validates the whole document
// and hands back the top-level members as raw values, which is also what makes
// token verification fast: no reflection and no intermediate maps.

// MaxDepth bounds nesting so hostile input cannot exhaust the stack.
const MaxDepth = 64

// Member is one top-level name/value pair of a JSON object, in document order.
type Member struct {
	Name  string // unescaped
	Value []byte // raw JSON value
}

type scanner struct {
	data  []byte
	pos   int
	depth int
}

// ParseObject validates data as exactly one JSON object (optionally surrounded
// by white space) and appends its members to dst. Names and values share
// data's memory, so data must not be modified while they are in use.
func ParseObject(data []byte, dst []Member) ([]Member, error) {
	s := scanner{data: data}
	s.ws()
	if s.pos >= len(data) || data[s.pos] != '{' {
		return nil, errors.New("not a JSON object")
	}
	dst, err := s.object(dst, true)
	if err != nil {
		return nil, err
	}
	s.ws()
	if s.pos != len(data) {
		return nil, fmt.Errorf("unexpected data after the JSON object at offset %d", s.pos)
	}
	return dst, nil
}

// Valid reports whether data is exactly one strict JSON value.
func Valid(data []byte) error {
	s := scanner{data: data}
	s.ws()
	if err := s.value(); err != nil {
		return err
	}
	s.ws()
	if s.pos != len(data) {
		return fmt.Errorf("unexpected data after the JSON value at offset %d", s.pos)
	}
	return nil
}

func (s *scanner) ws() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

func (s *scanner) errf(format string, args ...any) error {
	return fmt.Errorf("invalid JSON at offset %d: "+format, append([]any{s.pos}, args...)...)
}

func (s *scanner) value() error {
	if s.pos >= len(s.data) {
		return s.errf("unexpected end of input")
	}
	switch c := s.data[s.pos]; {
	case c == '{':
		_, err := s.object(nil, false)
		return err
	case c == '[':
		return s.array()
	case c == '"':
		_, _, err := s.str()
		return err
	case c == '-' || (c >= '0' && c <= '9'):
		return s.number()
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	}
	return s.errf("unexpected character %q", s.data[s.pos])
}

func (s *scanner) literal(lit string) error {
	if len(s.data)-s.pos < len(lit) || string(s.data[s.pos:s.pos+len(lit)]) != lit {
		return s.errf("invalid literal")
	}
	s.pos += len(lit)
	return nil
}

// object scans an object. With collect, its members are appended to dst;
// either way duplicate names are refused.
func (s *scanner) object(dst []Member, collect bool) ([]Member, error) {
	if s.depth++; s.depth > MaxDepth {
		return nil, s.errf("nested deeper than %d levels", MaxDepth)
	}
	s.pos++ // '{'
	first := len(dst)
	var names []string // for nested objects
	s.ws()
	if s.pos < len(s.data) && s.data[s.pos] == '}' {
		s.pos++
		s.depth--
		return dst, nil
	}
	for {
		s.ws()
		if s.pos >= len(s.data) || s.data[s.pos] != '"' {
			return nil, s.errf("expected a member name")
		}
		start, esc, err := s.str()
		if err != nil {
			return nil, err
		}
		name := unquote(s.data[start:s.pos], esc)
		if collect {
			for _, m := range dst[first:] {
				if m.Name == name {
					return nil, fmt.Errorf("duplicate member %q", Truncate(name))
				}
			}
		} else {
			for _, n := range names {
				if n == name {
					return nil, fmt.Errorf("duplicate member %q", Truncate(name))
				}
			}
			names = append(names, name)
		}
		s.ws()
		if s.pos >= len(s.data) || s.data[s.pos] != ':' {
			return nil, s.errf("expected ':'")
		}
		s.pos++
		s.ws()
		vstart := s.pos
		if err := s.value(); err != nil {
			return nil, err
		}
		if collect {
			dst = append(dst, Member{Name: name, Value: s.data[vstart:s.pos]})
		}
		s.ws()
		if s.pos >= len(s.data) {
			return nil, s.errf("unterminated object")
		}
		switch s.data[s.pos] {
		case ',':
			s.pos++
		case '}':
			s.pos++
			s.depth--
			return dst, nil
		default:
			return nil, s.errf("expected ',' or '}'")
		}
	}
}

func (s *scanner) array() error {
	if s.depth++; s.depth > MaxDepth {
		return s.errf("nested deeper than %d levels", MaxDepth)
	}
	s.pos++ // '['
	s.ws()
	if s.pos < len(s.data) && s.data[s.pos] == ']' {
		s.pos++
		s.depth--
		return nil
	}
	for {
		s.ws()
		if err := s.value(); err != nil {
			return err
		}
		s.ws()
		if s.pos >= len(s.data) {
			return s.errf("unterminated array")
		}
		switch s.data[s.pos] {
		case ',':
			s.pos++
		case ']':
			s.pos++
			s.depth--
			return nil
		default:
			return s.errf("expected ',' or ']'")
		}
	}
}

// str scans a string starting at the opening quote, leaving s.pos after the
// closing one. It reports whether the string holds escapes.
func (s *scanner) str() (start int, esc bool, err error) {
	start = s.pos
	d := s.data
	i := s.pos + 1
	for i < len(d) {
		c := d[i]
		switch {
		case c == '"':
			s.pos = i + 1
			return start, esc, nil
		case c == '\\':
			esc = true
			if i+1 >= len(d) {
				return 0, false, s.errf("unterminated escape")
			}
			switch d[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				r, ok := hex4(d[i+2:])
				if !ok {
					return 0, false, s.errf("invalid \\u escape")
				}
				i += 6
				if utf16.IsSurrogate(r) {
					if r >= 0xDC00 || i+6 > len(d) || d[i] != '\\' || d[i+1] != 'u' {
						return 0, false, s.errf("unpaired UTF-16 surrogate")
					}
					r2, ok := hex4(d[i+2:])
					if !ok || r2 < 0xDC00 || r2 > 0xDFFF {
						return 0, false, s.errf("unpaired UTF-16 surrogate")
					}
					i += 6
				}
			default:
				return 0, false, s.errf("invalid escape character %q", d[i+1])
			}
		case c < 0x20:
			return 0, false, s.errf("control character in string")
		case c < utf8.RuneSelf:
			i++
		default:
			r, size := utf8.DecodeRune(d[i:])
			if r == utf8.RuneError && size <= 1 {
				return 0, false, s.errf("invalid UTF-8")
			}
			i += size
		}
	}
	return 0, false, s.errf("unterminated string")
}

func (s *scanner) number() error {
	d := s.data
	i := s.pos
	if d[i] == '-' {
		i++
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case i < len(d) && d[i] >= '1' && d[i] <= '9':
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
	default:
		return s.errf("invalid number")
	}
	if i < len(d) && d[i] == '.' {
		i++
		j := i
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
		if i == j {
			return s.errf("invalid number")
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		j := i
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
		if i == j {
			return s.errf("invalid number")
		}
	}
	s.pos = i
	return nil
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// unquote decodes a string token already validated by str, quotes included.
// Without escapes the result shares raw's memory (see [ParseObject]).
func unquote(raw []byte, esc bool) string {
	raw = raw[1 : len(raw)-1]
	if !esc {
		return unsafe.String(unsafe.SliceData(raw), len(raw))
	}
	out := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			out = append(out, c)
			i++
			continue
		}
		switch raw[i+1] {
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, _ := hex4(raw[i+2:])
			if utf16.IsSurrogate(r) {
				r2, _ := hex4(raw[i+8:])
				r = utf16.DecodeRune(r, r2)
				i += 6
			}
			out = utf8.AppendRune(out, r)
			i += 6
			continue
		default: // '"', '\\', '/'
			out = append(out, raw[i+1])
		}
		i += 2
	}
	return string(out)
}

// String decodes a raw JSON value that must be a string. Without escapes the
// result shares v's memory, which must then not be modified.
func String(v []byte) (string, bool) {
	if len(v) < 2 || v[0] != '"' {
		return "", false
	}
	esc := false
	for _, c := range v {
		if c == '\\' {
			esc = true
			break
		}
	}
	return unquote(v, esc), true
}

// AppendString appends s as a JSON string. Invalid UTF-8 is replaced by
// U+FFFD; callers that must not alter input check [utf8.ValidString] first.
func AppendString(dst []byte, s string) []byte {
	const hexdig = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				dst = append(dst, s[start:i]...)
				dst = append(dst, `\ufffd`...)
				i++
				start = i
				continue
			}
			i += size
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexdig[c>>4], hexdig[c&0xf])
		}
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// Truncate shortens attacker-supplied text quoted in a reason.
func Truncate(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	for i := max; i > max-4; i-- {
		if utf8.RuneStart(s[i]) {
			return s[:i] + "..."
		}
	}
	return s[:max] + "..."
}

// Strings reads a raw JSON value that must be an array of strings.
func Strings(v []byte) ([]string, bool) {
	s := scanner{data: v}
	s.ws()
	if s.pos >= len(v) || v[s.pos] != '[' {
		return nil, false
	}
	s.pos++
	out := []string{}
	for {
		s.ws()
		if s.pos >= len(v) {
			return nil, false
		}
		switch v[s.pos] {
		case ']':
			return out, true
		case '"':
			start, esc, err := s.str()
			if err != nil {
				return nil, false
			}
			out = append(out, unquote(v[start:s.pos], esc))
		default:
			return nil, false
		}
		s.ws()
		if s.pos < len(v) && v[s.pos] == ',' {
			s.pos++
		}
	}
}

// Compact appends valid JSON without insignificant white space.
func Compact(dst, v []byte) []byte {
	inStr := false
	start := 0 // of the run not yet appended
	for i := 0; i < len(v); i++ {
		c := v[i]
		if inStr {
			switch c {
			case '\\':
				i++
			case '"':
				inStr = false
			}
			continue
		}
		switch c {
		case ' ', '\t', '\n', '\r':
			dst = append(dst, v[start:i]...)
			start = i + 1
		case '"':
			inStr = true
		}
	}
	return append(dst, v[start:]...)
}
