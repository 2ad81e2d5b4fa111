package auditor

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Event names what a record is about.
type Event string

// Record is one audit record. It never holds a token, secret or private key:
// TokenSHA256 is the token's fingerprint.
type Record struct {
	Seq         uint64    // position in its chain, from 1, gapless; set on append
	Chain       string    // node id; set on append
	Time        time.Time // when the event happened (UTC, ns)
	Event       Event
	Outcome     string
	Reason      string
	Actor       string // client id or local user
	Remote      string // remote address
	Sub         string
	Aud         []string
	JTI         string
	KID         string
	Alg         string
	Exp         time.Time // token expiry; zero when none
	TokenSHA256 string    // hex SHA-256 of the token text
	RequestID   string
	LeafHash    [32]byte // RFC 6962 leaf hash of the encoding; set on append

	ID int64 // storage row id, the query cursor; not part of the encoding
}

// EncodingVersion is the version of the canonical record encoding.
const EncodingVersion = 1

// Encode appends the canonical encoding of r (version 1): a JSON object
// without white space whose members appear in this fixed order:
//
//	v seq chain time event outcome reason actor remote sub aud jti kid alg exp token_sha256 request_id
//
// v, seq, chain, time (Unix nanoseconds), event and outcome are always
// present; every other member is omitted when empty. exp is in Unix seconds,
// aud is an array of strings. Strings use the shortest JSON escapes (\" \\ \n
// \r \t, \u00XX for other control characters; nothing else escaped; invalid
// UTF-8 becomes \ufffd, see [Record.Normalize]).
func Encode(dst []byte, r *Record) []byte {
	dst = append(dst, `{"v":`...)
	dst = strconv.AppendInt(dst, EncodingVersion, 10)
	dst = strconv.AppendUint(append(dst, `,"seq":`...), r.Seq, 10)
	dst = appendString(append(dst, `,"chain":`...), r.Chain)
	dst = strconv.AppendInt(append(dst, `,"time":`...), r.Time.UnixNano(), 10)
	dst = appendString(append(dst, `,"event":`...), string(r.Event))
	dst = appendString(append(dst, `,"outcome":`...), r.Outcome)
	dst = appendMember(dst, "reason", r.Reason)
	dst = appendMember(dst, "actor", r.Actor)
	dst = appendMember(dst, "remote", r.Remote)
	dst = appendMember(dst, "sub", r.Sub)
	if len(r.Aud) > 0 {
		dst = append(dst, `,"aud":[`...)
		for i, a := range r.Aud {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendString(dst, a)
		}
		dst = append(dst, ']')
	}
	dst = appendMember(dst, "jti", r.JTI)
	dst = appendMember(dst, "kid", r.KID)
	dst = appendMember(dst, "alg", r.Alg)
	if !r.Exp.IsZero() {
		dst = strconv.AppendInt(append(dst, `,"exp":`...), r.Exp.Unix(), 10)
	}
	dst = appendMember(dst, "token_sha256", r.TokenSHA256)
	dst = appendMember(dst, "request_id", r.RequestID)
	return append(dst, '}')
}

// appendMember appends the optional string member name unless v is empty.
func appendMember(dst []byte, name, v string) []byte {
	if v == "" {
		return dst
	}
	dst = append(dst, `,"`...)
	dst = append(dst, name...)
	return appendString(append(dst, `":`...), v)
}

// member is an optional member of the encoding, in encoding order; s is
// nil for aud and exp, which are not strings.
type member struct {
	name string
	s    *string
}

func members(r *Record) [11]member {
	return [11]member{{"reason", &r.Reason}, {"actor", &r.Actor}, {"remote", &r.Remote}, {"sub", &r.Sub},
		{"aud", nil}, {"jti", &r.JTI}, {"kid", &r.KID}, {"alg", &r.Alg}, {"exp", nil},
		{"token_sha256", &r.TokenSHA256}, {"request_id", &r.RequestID}}
}

// appendString appends s as a canonical JSON string.
func appendString(dst []byte, s string) []byte {
	const hexdig = "0123456789abcdef"
	dst = append(dst, '"')
	for i, w := 0, 0; i < len(s); i += w {
		if b := s[i]; b >= 0x20 && b < utf8.RuneSelf && b != '"' && b != '\\' {
			dst, w = append(dst, b), 1
			continue
		}
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
			dst = append(dst, '\\', 'u', '0', '0', hexdig[c>>4], hexdig[c&0xf])
		default:
			dst = append(dst, s[i:i+size]...)
		}
	}
	return append(dst, '"')
}

// Normalize replaces invalid UTF-8 in r's strings with U+FFFD, so the
// record in memory is exactly the one its encoding stores.
func (r *Record) Normalize() {
	for _, p := range []*string{&r.Chain, (*string)(&r.Event), &r.Outcome, &r.Reason, &r.Actor, &r.Remote, &r.Sub, &r.JTI, &r.KID, &r.Alg, &r.TokenSHA256, &r.RequestID} {
		if !utf8.ValidString(*p) {
			*p = strings.ToValidUTF8(*p, "\uFFFD")
		}
	}
	for i, a := range r.Aud {
		if !utf8.ValidString(a) {
			r.Aud[i] = strings.ToValidUTF8(a, "\uFFFD")
		}
	}
}

// LeafHash is the RFC 6962 leaf hash of an encoded record: SHA-256(0x00 ||
// body), what golang.org/x/mod/sumdb/tlog.RecordHash computes.
func LeafHash(body []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte{0})
	h.Write(body)
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// Seal is the one step that makes a record storable: it normalizes r,
// appends its canonical encoding to dst, and sets r.LeafHash to the hash of
// that encoding. It returns the extended dst; the encoding is
// dst[len(dst before):].
func Seal(dst []byte, r *Record) []byte {
	r.Normalize()
	start := len(dst)
	dst = Encode(dst, r)
	r.LeafHash = LeafHash(dst[start:])
	return dst
}

// ErrNotCanonical is wrapped by the errors of [Decode] about a body that is
// not exactly what [Encode] makes of some record.
var ErrNotCanonical = errors.New("not a canonical record encoding")

// Decode parses a canonical encoding made by [Encode], and refuses anything
// else: members out of order, empty optional members, other escapes or
// number forms, invalid UTF-8, unknown members or versions. So a record has
// exactly one encoding, and the leaf hash of body is the record's.
func Decode(body []byte) (*Record, error) {
	d := decoder{b: body, s: string(body)}
	r := &Record{}
	d.lit(`{"v":1,"seq":`)
	r.Seq = d.uint()
	d.lit(`,"chain":`)
	r.Chain = d.str()
	d.lit(`,"time":`)
	r.Time = time.Unix(0, d.int()).UTC()
	d.lit(`,"event":`)
	r.Event = Event(d.str())
	d.lit(`,"outcome":`)
	r.Outcome = d.str()
	for _, m := range members(r) {
		if !d.member(m.name) {
			continue
		}
		switch m.name {
		case "aud":
			d.lit("[")
			for r.Aud = []string{d.str()}; d.opt(","); {
				r.Aud = append(r.Aud, d.str())
			}
			d.lit("]")
		case "exp":
			r.Exp = time.Unix(d.int(), 0).UTC()
		default:
			*m.s = d.str()
		}
	}
	d.lit("}")
	if d.err == nil && d.pos != len(body) {
		d.fail("data after the record")
	}
	if d.err == nil {
		bp := encodeBufs.Get().(*[]byte)
		*bp = Encode((*bp)[:0], r)
		if !bytes.Equal(*bp, body) {
			d.fail("a member is not in its canonical form")
		}
		encodeBufs.Put(bp)
	}
	if d.err != nil {
		return nil, fmt.Errorf("decode audit record: %w", d.err)
	}
	r.LeafHash = LeafHash(body)
	return r, nil
}

// encodeBufs hold the re-encodings by which Decode checks canonical form.
var encodeBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// decoder reads a canonical encoding; after the first error every read is
// a no-op returning a zero value.
type decoder struct {
	b   []byte
	s   string // b, copied once: strings without escapes are slices of it
	pos int
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%s at byte %d: %w", what, d.pos, ErrNotCanonical)
	}
}

func (d *decoder) opt(s string) bool {
	if d.err == nil && bytes.HasPrefix(d.b[d.pos:], []byte(s)) {
		d.pos += len(s)
		return true
	}
	return false
}

func (d *decoder) lit(s string) {
	if !d.opt(s) {
		d.fail(fmt.Sprintf("want %q", s))
	}
}

// member consumes `,"name":` if it comes next.
func (d *decoder) member(name string) bool {
	rest := d.b[d.pos:]
	if d.err != nil || len(rest) < len(name)+4 || rest[0] != ',' || rest[1] != '"' ||
		!bytes.HasPrefix(rest[2:], []byte(name)) || !bytes.HasPrefix(rest[2+len(name):], []byte(`":`)) {
		return false
	}
	d.pos += len(name) + 4
	return true
}

func (d *decoder) digits() string {
	start := d.pos
	if d.err == nil && d.pos < len(d.b) && d.b[d.pos] == '-' {
		d.pos++
	}
	for d.err == nil && d.pos < len(d.b) && d.b[d.pos] >= '0' && d.b[d.pos] <= '9' {
		d.pos++
	}
	return string(d.b[start:d.pos])
}

func (d *decoder) int() int64 {
	n, err := strconv.ParseInt(d.digits(), 10, 64)
	if err != nil {
		d.fail("bad integer")
	}
	return n
}

func (d *decoder) uint() uint64 {
	n, err := strconv.ParseUint(d.digits(), 10, 64)
	if err != nil {
		d.fail("bad unsigned integer")
	}
	return n
}

// str reads a JSON string with the escapes [Encode] writes.
func (d *decoder) str() string {
	if !d.opt(`"`) {
		d.fail("want a string")
		return ""
	}
	start := d.pos
	for d.pos < len(d.b) && d.b[d.pos] != '"' && d.b[d.pos] != '\\' {
		d.pos++
	}
	if d.pos < len(d.b) && d.b[d.pos] == '"' { // no escapes
		s := d.s[start:d.pos]
		d.pos++
		return s
	}
	out := append([]byte(nil), d.b[start:d.pos]...)
	for d.err == nil {
		if d.pos >= len(d.b) {
			d.fail("unterminated string")
			break
		}
		c := d.b[d.pos]
		d.pos++
		if c == '"' {
			return string(out)
		}
		if c != '\\' {
			out = append(out, c)
			continue
		}
		if d.pos >= len(d.b) {
			d.fail("unterminated escape")
			break
		}
		e := d.b[d.pos]
		d.pos++
		switch e {
		case '"', '\\':
			out = append(out, e)
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			if d.pos+4 > len(d.b) {
				d.fail("short \\u escape")
				break
			}
			v, err := strconv.ParseUint(string(d.b[d.pos:d.pos+4]), 16, 16)
			if err != nil {
				d.fail("bad \\u escape")
				break
			}
			d.pos += 4
			out = utf8.AppendRune(out, rune(v))
		default:
			d.fail("unknown escape")
		}
	}
	return ""
}

// Refused reports whether the record is a refusal or failure: an outcome
// other than ok and valid.
func (r *Record) Refused() bool {
	return r.Outcome != "ok" && r.Outcome != "valid"
}

// jsonRecord is the presentation form of a record (JSON sink, query output).
type jsonRecord struct {
	Seq         uint64   `json:"seq"`
	Chain       string   `json:"chain"`
	Time        string   `json:"time"`
	Event       Event    `json:"event"`
	Outcome     string   `json:"outcome"`
	Reason      string   `json:"reason,omitempty"`
	Actor       string   `json:"actor,omitempty"`
	Remote      string   `json:"remote,omitempty"`
	Sub         string   `json:"sub,omitempty"`
	Aud         []string `json:"aud,omitempty"`
	JTI         string   `json:"jti,omitempty"`
	KID         string   `json:"kid,omitempty"`
	Alg         string   `json:"alg,omitempty"`
	Exp         *int64   `json:"exp,omitempty"`
	TokenSHA256 string   `json:"token_sha256,omitempty"`
	RequestID   string   `json:"request_id,omitempty"`
	LeafHash    string   `json:"leaf_hash"`
}

// MarshalJSON renders the record for people and log shippers: time as
// RFC 3339 with nanoseconds, exp in Unix seconds, leaf_hash in hex. This is
// not the canonical encoding (see [Encode]).
func (r *Record) MarshalJSON() ([]byte, error) {
	j := jsonRecord{Seq: r.Seq, Chain: r.Chain, Time: r.Time.UTC().Format(time.RFC3339Nano), Event: r.Event,
		Outcome: r.Outcome, Reason: r.Reason, Actor: r.Actor, Remote: r.Remote, Sub: r.Sub, Aud: r.Aud,
		JTI: r.JTI, KID: r.KID, Alg: r.Alg, TokenSHA256: r.TokenSHA256, RequestID: r.RequestID,
		LeafHash: fmt.Sprintf("%x", r.LeafHash)}
	if !r.Exp.IsZero() {
		e := r.Exp.Unix()
		j.Exp = &e
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads the presentation form made by MarshalJSON (as served
// by GET /v1/audit).
func (r *Record) UnmarshalJSON(b []byte) error {
	var j jsonRecord
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	t, err := time.Parse(time.RFC3339Nano, j.Time)
	if err != nil {
		return fmt.Errorf("record time: %w", err)
	}
	*r = Record{Seq: j.Seq, Chain: j.Chain, Time: t, Event: j.Event, Outcome: j.Outcome, Reason: j.Reason, Actor: j.Actor,
		Remote: j.Remote, Sub: j.Sub, Aud: j.Aud, JTI: j.JTI, KID: j.KID, Alg: j.Alg, TokenSHA256: j.TokenSHA256, RequestID: j.RequestID}
	if j.Exp != nil {
		r.Exp = time.Unix(*j.Exp, 0).UTC()
	}
	if h, err := hex.DecodeString(j.LeafHash); err == nil && len(h) == len(r.LeafHash) {
		copy(r.LeafHash[:], h)
	}
	return nil
}
