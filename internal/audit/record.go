// Package audit holds jwtledger's audit trail: the records, their canonical
// encoding and leaf hashes, the group-commit writer that makes them durable
// before any caller gets an answer, and the secondary sinks (text log, JSON
// lines).
package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jwtledger/jwtledger/internal/strictjson"
)

// Event names what a record is about.
type Event string

// The audit events.
const (
	TokenIssue      Event = "token.issue"
	TokenVerify     Event = "token.verify"
	TokenRevoke     Event = "token.revoke"
	KeyCreate       Event = "key.create"
	KeyRotate       Event = "key.rotate"
	KeyRetire       Event = "key.retire"
	ClientCreate    Event = "client.create"
	ClientDelete    Event = "client.delete"
	AuthDenied      Event = "auth.denied"
	AuditCheckpoint Event = "audit.checkpoint"
	// AuditUndelivered marks records whose commit could not be confirmed
	// durable: their callers got an error, no token or verdict (see
	// [UndeliveredRecord]).
	AuditUndelivered Event = "audit.undelivered"
	// AuthDeniedSuppressed counts auth.denied records left out by the
	// denial limit (see the ledger's DenialLimit).
	AuthDeniedSuppressed Event = "auth.denied.suppressed"
	ConsoleLogin         Event = "console.login"  // a web console session began
	ConsoleLogout        Event = "console.logout" // a web console session ended
)

// Events lists the event of every record a chain can hold. AuditCheckpoint
// is not among them: it is an event of the JSON sink only, a checkpoint
// being a statement about a chain, not a record of it.
var Events = []Event{TokenIssue, TokenVerify, TokenRevoke, KeyCreate, KeyRotate, KeyRetire, ClientCreate, ClientDelete, AuthDenied, AuthDeniedSuppressed, AuditUndelivered, ConsoleLogin, ConsoleLogout}

// Outcomes of records other than token.verify (which carries the
// verification outcome).
const (
	OK     = "ok"
	Denied = "denied"
	Error  = "error"
)

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
// \r \t, \u00XX for other control characters; nothing else escaped).
func Encode(dst []byte, r *Record) []byte {
	dst = append(dst, `{"v":`...)
	dst = strconv.AppendInt(dst, EncodingVersion, 10)
	dst = strconv.AppendUint(append(dst, `,"seq":`...), r.Seq, 10)
	dst = strictjson.AppendString(append(dst, `,"chain":`...), r.Chain)
	dst = strconv.AppendInt(append(dst, `,"time":`...), r.Time.UnixNano(), 10)
	dst = strictjson.AppendString(append(dst, `,"event":`...), string(r.Event))
	dst = strictjson.AppendString(append(dst, `,"outcome":`...), r.Outcome)
	str := func(name, v string) {
		if v != "" {
			dst = append(dst, ',', '"')
			dst = append(dst, name...)
			dst = append(dst, '"', ':')
			dst = strictjson.AppendString(dst, v)
		}
	}
	str("reason", r.Reason)
	str("actor", r.Actor)
	str("remote", r.Remote)
	str("sub", r.Sub)
	if len(r.Aud) > 0 {
		dst = append(dst, `,"aud":[`...)
		for i, a := range r.Aud {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = strictjson.AppendString(dst, a)
		}
		dst = append(dst, ']')
	}
	str("jti", r.JTI)
	str("kid", r.KID)
	str("alg", r.Alg)
	if !r.Exp.IsZero() {
		dst = strconv.AppendInt(append(dst, `,"exp":`...), r.Exp.Unix(), 10)
	}
	str("token_sha256", r.TokenSHA256)
	str("request_id", r.RequestID)
	return append(dst, '}')
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

// LeafHash is the RFC 6962 leaf hash of an encoded record: SHA-256(0x00 || body).
func LeafHash(body []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte{0})
	h.Write(body)
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// Decode parses a canonical encoding made by [Encode].
func Decode(body []byte) (*Record, error) {
	ms, err := strictjson.ParseObject(body, make([]strictjson.Member, 0, 18))
	if err != nil {
		return nil, fmt.Errorf("decode audit record: %w", err)
	}
	r := &Record{}
	for _, m := range ms {
		var ok = true
		switch m.Name {
		case "v":
			ok = string(m.Value) == "1"
		case "seq":
			r.Seq, err = strconv.ParseUint(string(m.Value), 10, 64)
		case "time":
			var ns int64
			ns, err = strconv.ParseInt(string(m.Value), 10, 64)
			r.Time = time.Unix(0, ns).UTC()
		case "exp":
			var s int64
			s, err = strconv.ParseInt(string(m.Value), 10, 64)
			r.Exp = time.Unix(s, 0).UTC()
		case "aud":
			r.Aud, ok = strictjson.Strings(m.Value)
		default:
			p := r.stringField(m.Name)
			if p == nil {
				return nil, fmt.Errorf("decode audit record: unknown member %q", m.Name)
			}
			*p, ok = strictjson.String(m.Value)
		}
		if err != nil || !ok {
			return nil, fmt.Errorf("decode audit record: bad %q", m.Name)
		}
	}
	r.LeafHash = LeafHash(body)
	return r, nil
}

func (r *Record) stringField(name string) *string {
	switch name {
	case "chain":
		return &r.Chain
	case "event":
		return (*string)(&r.Event)
	case "outcome":
		return &r.Outcome
	case "reason":
		return &r.Reason
	case "actor":
		return &r.Actor
	case "remote":
		return &r.Remote
	case "sub":
		return &r.Sub
	case "jti":
		return &r.JTI
	case "kid":
		return &r.KID
	case "alg":
		return &r.Alg
	case "token_sha256":
		return &r.TokenSHA256
	case "request_id":
		return &r.RequestID
	}
	return nil
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
// RFC 3339 with nanoseconds, exp in Unix seconds, leaf_hash in hex.
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

// Refused reports whether the record is a refusal or failure (logged at ERROR).
func (r *Record) Refused() bool {
	return r.Outcome != OK && r.Outcome != "valid"
}

// ErrClosed is returned by appends after the writer was closed.
var ErrClosed = errors.New("audit writer closed")

// Filter selects records in a query. Zero fields match everything.
type Filter struct {
	Since, Until time.Time // time >= Since, time < Until
	Event        Event
	Outcome      string
	Sub          string
	JTI          string
	Actor        string
	KID          string
	RequestID    string
	Chain        string
	After        int64 // cursor: only records stored after the one with this ID
	Before       int64 // cursor: only records stored before the one with this ID (0: no bound)
	Limit        int   // at most this many (0: no limit)
	Newest       bool  // the newest Limit records, still returned oldest first
}
