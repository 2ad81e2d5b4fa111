// Package packed is the form in which the SQLite store keeps audit
// records: the members of the canonical encoding ([auditor.Encode]) in
// binary, without their names, the frequent event, outcome and algorithm
// names as one-byte codes and the token fingerprint as its 32 bytes. The
// canonical encoding, which leaf hashes, checkpoints and proofs are about,
// is made again from it on every read, byte for byte; a record the packed
// form could not give back exactly is stored as its canonical encoding
// instead, and so is every record written before the packed form existed:
// a body is one or the other, told apart by its first byte.
//
// Format 1, after the tag byte 0x01 (a canonical encoding starts with '{'):
//
//	flags     uvarint: which optional members follow (bit i: the i-th of
//	          reason actor remote sub aud jti kid alg exp token_sha256
//	          request_id), bit 11: token_sha256 as 32 raw bytes, bit 12:
//	          every string is plain (printable ASCII but '"' and '\':
//	          its canonical form is itself, quoted)
//	seq       uvarint
//	chain     string (uvarint length, then the bytes)
//	time      int64, little endian, Unix nanoseconds
//	event     symbol: uvarint code, 0 then a string, or k for Events[k-1]
//	outcome   symbol of Outcomes
//	reason actor remote sub        strings, when flagged
//	aud       uvarint count (at least 1), then as many strings
//	jti kid   strings
//	alg       symbol of Algs
//	exp       zig-zag varint, Unix seconds
//	token_sha256   32 bytes (bit 11) or a string
//	request_id     string
//
// The symbol tables only ever grow at their end: a code, once written,
// names the same string forever.
package packed

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/jwtledger/jwtledger/auditor"
	"github.com/jwtledger/jwtledger/internal/strictjson"
)

// Tag is the first byte of a packed body (format 1).
const Tag = 0x01

// The symbol tables of format 1. Never reorder or remove an entry: add new
// names at the end.
var (
	Events   = []string{"token.issue", "token.verify", "token.revoke", "key.create", "key.rotate", "key.retire", "client.create", "client.delete", "auth.denied", "auth.denied.suppressed", "audit.undelivered", "console.login", "console.logout"}
	Outcomes = []string{"ok", "denied", "error", "valid", "expired", "not_yet_valid", "invalid_signature", "malformed", "unsupported_alg", "unknown_key", "invalid_claims", "revoked"}
	Algs     = []string{"HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)

// The flags: the optional members in encoding order, then the form of the
// token fingerprint.
const (
	fReason = 1 << iota
	fActor
	fRemote
	fSub
	fAud
	fJTI
	fKID
	fAlg
	fExp
	fToken
	fRequestID
	fTokenRaw
	fPlain
	fAll = fPlain<<1 - 1
)

// ErrCorrupt is returned for a packed body that does not parse.
var ErrCorrupt = errors.New("corrupt packed audit record")

// IsPacked reports whether body is in the packed form (not a canonical
// encoding, not empty).
func IsPacked(body []byte) bool { return len(body) > 0 && body[0] == Tag }

// Append appends the body the store keeps for r to dst: its packed form,
// or canonical itself (r's canonical encoding, [auditor.Seal]'s output)
// if the packed form would not give it back exactly. The packed form holds
// every member of the encoding as [auditor.Encode] writes it (the tests
// hold it to that for every field of the record, and fuzz it), with one
// exception, which is stored canonical: an expiry that is not the zero
// time but whose Unix seconds read back as it.
func Append(dst []byte, r *auditor.Record, canonical []byte) []byte {
	if !r.Exp.IsZero() && time.Unix(r.Exp.Unix(), 0).IsZero() {
		return append(dst, canonical...)
	}
	return pack(dst, r)
}

// Bodies returns the bodies the store keeps for recs, whose canonical
// encodings are canonical (in order); they share one backing array.
func Bodies(recs []*auditor.Record, canonical [][]byte) [][]byte {
	n := 0
	for _, c := range canonical {
		n += len(c)
	}
	arena := make([]byte, 0, n)
	ends := make([]int, len(recs))
	for i, r := range recs {
		arena = Append(arena, r, canonical[i])
		ends[i] = len(arena)
	}
	out := make([][]byte, len(recs))
	off := 0
	for i, end := range ends {
		out[i] = arena[off:end:end]
		off = end
	}
	return out
}

// Canonical appends the canonical encoding of a stored body to dst: made
// from a packed body, or the body itself. It fails only on a packed body
// that does not parse ([ErrCorrupt]).
func Canonical(dst, body []byte) ([]byte, error) {
	if !IsPacked(body) {
		return append(dst, body...), nil
	}
	return transcode(dst, body)
}

// Encoding is [Canonical], with a corrupt packed body appended as it is:
// what a check of the leaf hash must see to find the damage.
func Encoding(dst, body []byte) []byte {
	out, err := Canonical(dst, body)
	if err != nil {
		return append(dst, body...)
	}
	return out
}

// A Reader gives the canonical encodings of the bodies a scan reads, in
// one buffer it reuses: each result is valid until the next call.
type Reader struct{ buf []byte }

// Encoding is [Encoding] of body, or body itself when it is not packed
// (nil, a pruned body, stays nil).
func (r *Reader) Encoding(body []byte) []byte {
	if !IsPacked(body) {
		return body
	}
	r.buf = Encoding(r.buf[:0], body)
	return r.buf
}

// Decode parses a stored body, packed or a canonical encoding
// ([auditor.Decode]), into a record with its leaf hash.
func Decode(body []byte) (*auditor.Record, error) {
	if !IsPacked(body) {
		return auditor.Decode(body)
	}
	r, err := Fields(body)
	if err != nil {
		return nil, err
	}
	bp := bufs.Get().(*[]byte)
	*bp = auditor.Encode((*bp)[:0], r)
	r.LeafHash = auditor.LeafHash(*bp)
	bufs.Put(bp)
	return r, nil
}

// Fields is [Decode] without the leaf hash (zero for a packed body), for
// readers of the members alone.
func Fields(body []byte) (*auditor.Record, error) {
	if !IsPacked(body) {
		return auditor.Decode(body)
	}
	r := &auditor.Record{}
	if err := unpack(r, body); err != nil {
		return nil, err
	}
	return r, nil
}

// pack appends the packed form of r.
func pack(dst []byte, r *auditor.Record) []byte {
	var flags uint64
	flag := func(f uint64, set bool) {
		if set {
			flags |= f
		}
	}
	flag(fReason, r.Reason != "")
	flag(fActor, r.Actor != "")
	flag(fRemote, r.Remote != "")
	flag(fSub, r.Sub != "")
	flag(fAud, len(r.Aud) > 0)
	flag(fJTI, r.JTI != "")
	flag(fKID, r.KID != "")
	flag(fAlg, r.Alg != "")
	flag(fExp, !r.Exp.IsZero())
	flag(fToken, r.TokenSHA256 != "")
	flag(fTokenRaw, isHex64(r.TokenSHA256))
	flag(fRequestID, r.RequestID != "")
	flag(fPlain, plainRecord(r))

	dst = append(dst, Tag)
	dst = binary.AppendUvarint(dst, flags)
	dst = binary.AppendUvarint(dst, r.Seq)
	dst = appendStr(dst, r.Chain)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(r.Time.UnixNano()))
	dst = appendSym(dst, Events, string(r.Event))
	dst = appendSym(dst, Outcomes, r.Outcome)
	dst = appendOpt(dst, flags&fReason != 0, r.Reason)
	dst = appendOpt(dst, flags&fActor != 0, r.Actor)
	dst = appendOpt(dst, flags&fRemote != 0, r.Remote)
	dst = appendOpt(dst, flags&fSub != 0, r.Sub)
	if flags&fAud != 0 {
		dst = binary.AppendUvarint(dst, uint64(len(r.Aud)))
		for _, a := range r.Aud {
			dst = appendStr(dst, a)
		}
	}
	dst = appendOpt(dst, flags&fJTI != 0, r.JTI)
	dst = appendOpt(dst, flags&fKID != 0, r.KID)
	if flags&fAlg != 0 {
		dst = appendSym(dst, Algs, r.Alg)
	}
	if flags&fExp != 0 {
		dst = binary.AppendVarint(dst, r.Exp.Unix())
	}
	switch {
	case flags&fTokenRaw != 0:
		t := r.TokenSHA256
		for i := 0; i < len(t); i += 2 {
			dst = append(dst, unhex(t[i])<<4|unhex(t[i+1]))
		}
	case flags&fToken != 0:
		dst = appendStr(dst, r.TokenSHA256)
	}
	return appendOpt(dst, flags&fRequestID != 0, r.RequestID)
}

func appendStr(dst []byte, s string) []byte {
	return append(binary.AppendUvarint(dst, uint64(len(s))), s...)
}

func appendOpt(dst []byte, set bool, s string) []byte {
	if !set {
		return dst
	}
	return appendStr(dst, s)
}

func appendSym(dst []byte, table []string, s string) []byte {
	for i, t := range table {
		if t == s {
			return binary.AppendUvarint(dst, uint64(i+1))
		}
	}
	return appendStr(append(dst, 0), s)
}

// isHex64 reports whether s is 64 lower-case hex digits: what a SHA-256
// fingerprint is, and what 32 raw bytes give back.
func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// isPlain reports whether s is printable ASCII but '"' and '\\' (0x7f
// included): what the canonical encoding writes as it is, quoted.
func isPlain(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// plainRecord reports whether every string of r is plain (isPlain).
func plainRecord(r *auditor.Record) bool {
	for _, s := range [...]string{r.Chain, string(r.Event), r.Outcome, r.Reason, r.Actor, r.Remote, r.Sub, r.JTI, r.KID, r.Alg, r.TokenSHA256, r.RequestID} {
		if !isPlain(s) {
			return false
		}
	}
	for _, a := range r.Aud {
		if !isPlain(a) {
			return false
		}
	}
	return true
}

// unhex is the value of lower-case hex digit c.
func unhex(c byte) byte {
	if c <= '9' {
		return c - '0'
	}
	return c - 'a' + 10
}

// unpack parses packed body b into r, setting every member of the
// encoding; r's strings are copies (one allocation) and must be valid
// UTF-8, as a canonical encoding's are.
func unpack(r *auditor.Record, b []byte) error {
	if len(b) == 0 || b[0] != Tag {
		return ErrCorrupt
	}
	s := string(b)
	p := parser{b: b, s: s, pos: 1}
	flags := p.uvarint()
	if flags&^fAll != 0 || (flags&fTokenRaw != 0 && flags&fToken == 0) {
		return ErrCorrupt
	}
	r.Seq = p.uvarint()
	r.Chain = p.str()
	r.Time = time.Unix(0, int64(p.uint64())).UTC()
	r.Event = auditor.Event(p.sym(Events))
	r.Outcome = p.sym(Outcomes)
	r.Reason = p.opt(flags&fReason != 0)
	r.Actor = p.opt(flags&fActor != 0)
	r.Remote = p.opt(flags&fRemote != 0)
	r.Sub = p.opt(flags&fSub != 0)
	if flags&fAud != 0 {
		n := p.uvarint()
		if n == 0 || n > uint64(len(s)-p.pos) {
			return ErrCorrupt
		}
		r.Aud = make([]string, n)
		for i := range r.Aud {
			r.Aud[i] = p.str()
		}
	} else {
		r.Aud = nil
	}
	r.JTI = p.opt(flags&fJTI != 0)
	r.KID = p.opt(flags&fKID != 0)
	r.Alg, r.Exp, r.TokenSHA256 = "", time.Time{}, ""
	if flags&fAlg != 0 {
		if r.Alg = p.sym(Algs); r.Alg == "" {
			return ErrCorrupt
		}
	}
	if flags&fExp != 0 {
		if r.Exp = time.Unix(p.varint(), 0).UTC(); r.Exp.IsZero() {
			return ErrCorrupt // never packed (Append): the encoding would drop it
		}
	}
	switch {
	case flags&fTokenRaw != 0:
		at := p.pos
		if p.take(32); p.bad {
			break
		}
		r.TokenSHA256 = hex.EncodeToString(b[at : at+32])
	case flags&fToken != 0:
		r.TokenSHA256 = p.opt(true)
	}
	r.RequestID = p.opt(flags&fRequestID != 0)
	if p.bad || p.pos != len(s) {
		return ErrCorrupt
	}
	if !validStrings(r) || (flags&fPlain != 0 && !plainRecord(r)) {
		return ErrCorrupt
	}
	return nil
}

// zeroExp is the Unix time of the zero time.Time: an expiry the canonical
// encoding cannot hold (see Append).
const zeroExp = -62135596800

// transcode appends the canonical encoding of packed body b, written
// member by member as [auditor.Encode] writes them (strings with
// strictjson.AppendString: the same escapes), without a record between:
// what every read of a body (proofs, audit verify) costs. The tests hold
// it to auditor.Encode for every case and fuzzed records.
func transcode(dst, b []byte) ([]byte, error) {
	if len(b) == 0 || b[0] != Tag {
		return dst, ErrCorrupt
	}
	start := len(dst)
	p := parser{b: b, s: unsafe.String(&b[0], len(b)), pos: 1}
	flags := p.uvarint()
	if flags&^fAll != 0 || (flags&fTokenRaw != 0 && flags&fToken == 0) {
		return dst, ErrCorrupt
	}
	p.plain = flags&fPlain != 0
	dst = strconv.AppendUint(append(dst, `{"v":1,"seq":`...), p.uvarint(), 10)
	dst = p.jstr(append(dst, `,"chain":`...), p.str())
	dst = strconv.AppendInt(append(dst, `,"time":`...), int64(p.uint64()), 10)
	dst = p.jstr(append(dst, `,"event":`...), p.sym(Events))
	dst = p.jstr(append(dst, `,"outcome":`...), p.sym(Outcomes))
	dst = p.member(dst, flags&fReason != 0, `,"reason":`)
	dst = p.member(dst, flags&fActor != 0, `,"actor":`)
	dst = p.member(dst, flags&fRemote != 0, `,"remote":`)
	dst = p.member(dst, flags&fSub != 0, `,"sub":`)
	if flags&fAud != 0 {
		n := p.uvarint()
		if n == 0 || n > uint64(len(b)-p.pos) {
			return dst[:start], ErrCorrupt
		}
		dst = append(dst, `,"aud":[`...)
		for i := uint64(0); i < n; i++ {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = p.jstr(dst, p.str())
		}
		dst = append(dst, ']')
	}
	dst = p.member(dst, flags&fJTI != 0, `,"jti":`)
	dst = p.member(dst, flags&fKID != 0, `,"kid":`)
	if flags&fAlg != 0 {
		alg := p.sym(Algs)
		if alg == "" {
			return dst[:start], ErrCorrupt
		}
		dst = p.jstr(append(dst, `,"alg":`...), alg)
	}
	if flags&fExp != 0 {
		exp := p.varint()
		if exp == zeroExp {
			return dst[:start], ErrCorrupt
		}
		dst = strconv.AppendInt(append(dst, `,"exp":`...), exp, 10)
	}
	switch {
	case flags&fTokenRaw != 0:
		at := p.pos
		if p.take(32); p.bad {
			break
		}
		dst = append(hex.AppendEncode(append(dst, `,"token_sha256":"`...), b[at:at+32]), '"')
	case flags&fToken != 0:
		dst = p.member(dst, true, `,"token_sha256":`)
	}
	dst = p.member(dst, flags&fRequestID != 0, `,"request_id":`)
	if p.bad || p.pos != len(b) {
		return dst[:start], ErrCorrupt
	}
	return append(dst, '}'), nil
}

// member appends the optional string member name (with its quotes, the
// comma before and the colon) when set.
func (p *parser) member(dst []byte, set bool, name string) []byte {
	if !set {
		return dst
	}
	return p.jstr(append(dst, name...), p.opt(true))
}

// jstr appends s as a canonical JSON string: as it is, quoted, in a body
// whose strings are all plain (a corrupt body that says so wrongly reads
// as another encoding, which its leaf hash does not match).
func (p *parser) jstr(dst []byte, s string) []byte {
	if p.plain {
		return append(append(append(dst, '"'), s...), '"')
	}
	return strictjson.AppendString(dst, s)
}

// validStrings reports whether every string of r is valid UTF-8 (the
// binary parts of a body need not be).
func validStrings(r *auditor.Record) bool {
	for _, s := range []string{r.Chain, string(r.Event), r.Outcome, r.Reason, r.Actor, r.Remote, r.Sub, r.JTI, r.KID, r.Alg, r.TokenSHA256, r.RequestID} {
		if !utf8.ValidString(s) {
			return false
		}
	}
	for _, a := range r.Aud {
		if !utf8.ValidString(a) {
			return false
		}
	}
	return true
}

// parser reads a packed body b, whose strings are slices of s (b's
// bytes); after the first error (bad) every read returns a zero value.
type parser struct {
	b     []byte
	s     string
	pos   int
	bad   bool
	plain bool // transcode: the body's strings are plain (fPlain)
}

func (p *parser) uvarint() uint64 {
	if p.bad {
		return 0
	}
	v, n := binary.Uvarint(p.b[p.pos:])
	if n <= 0 {
		p.bad = true
		return 0
	}
	p.pos += n
	return v
}

func (p *parser) varint() int64 {
	if p.bad {
		return 0
	}
	v, n := binary.Varint(p.b[p.pos:])
	if n <= 0 {
		p.bad = true
		return 0
	}
	p.pos += n
	return v
}

func (p *parser) take(n uint64) string {
	if p.bad || n > uint64(len(p.s)-p.pos) {
		p.bad = true
		return ""
	}
	v := p.s[p.pos : p.pos+int(n)]
	p.pos += int(n)
	return v
}

func (p *parser) uint64() uint64 {
	if p.take(8); p.bad {
		return 0
	}
	return binary.LittleEndian.Uint64(p.b[p.pos-8:])
}

func (p *parser) str() string { return p.take(p.uvarint()) }

// opt reads an optional string member when set; flagged, it is never
// empty (Encode leaves empty members out, so pack does not flag them).
func (p *parser) opt(set bool) string {
	if !set {
		return ""
	}
	v := p.str()
	if v == "" {
		p.bad = true
	}
	return v
}

func (p *parser) sym(table []string) string {
	switch c := p.uvarint(); {
	case p.bad:
		return ""
	case c == 0:
		return p.str()
	case c <= uint64(len(table)):
		return table[c-1]
	default:
		p.bad = true
		return ""
	}
}

// bufs hold the canonical encodings Decode hashes.
var bufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}
