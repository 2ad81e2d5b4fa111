package server

import (
	"net/http"
	"strconv"
	"time"

	"github.com/jwtledger/jwtledger/internal/api"
	"github.com/jwtledger/jwtledger/internal/strictjson"
)

// The answers of the two hot routes, written without reflection. They
// carry the same members as writeJSON would write for the same values
// (a test decodes both and compares).

// writeRaw sends b as a 200 JSON answer.
func writeRaw(w http.ResponseWriter, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.Write(b)
}

// appendIssue appends the JSON of an issue answer.
func appendIssue(b []byte, r issueResponse) []byte {
	b = append(b, `{"token":`...)
	b = strictjson.AppendString(b, r.Token)
	b = append(b, `,"token_type":`...)
	b = strictjson.AppendString(b, r.TokenType)
	b = append(b, `,"expires_at":"`...)
	b = r.ExpiresAt.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","jti":`...)
	b = strictjson.AppendString(b, r.JTI)
	b = append(b, `,"kid":`...)
	b = strictjson.AppendString(b, r.KID)
	return append(b, "}\n"...)
}

func writeIssue(w http.ResponseWriter, r issueResponse) {
	// Room for every member (the names and punctuation take 70 bytes), so
	// that appending never grows the buffer: it was 128 bytes short of
	// the answer, and the doubling allocated 10% of the route's bytes.
	n := 80 + len(r.Token) + len(r.TokenType) + len(time.RFC3339Nano) + len(r.JTI) + len(r.KID)
	writeRaw(w, appendIssue(make([]byte, 0, n), r))
}

// appendVerdict appends the JSON of a verdict. Header and claims are
// valid JSON in whatever layout the token carried; they are compacted, as
// encoding/json does with raw values.
func appendVerdict(b []byte, v api.Verdict) []byte {
	b = append(b, `{"valid":`...)
	b = strconv.AppendBool(b, v.Valid)
	b = append(b, `,"outcome":`...)
	b = strictjson.AppendString(b, string(v.Outcome))
	b = append(b, `,"reason":`...)
	b = strictjson.AppendString(b, v.Reason)
	b = append(b, `,"header":`...)
	b = appendRaw(b, v.Header)
	b = append(b, `,"claims":`...)
	b = appendRaw(b, v.Claims)
	return append(b, "}\n"...)
}

// appendRaw appends a raw JSON value compacted; empty is null, as for
// encoding/json.
func appendRaw(b, raw []byte) []byte {
	if len(raw) == 0 {
		return append(b, "null"...)
	}
	return strictjson.Compact(b, raw)
}

func writeVerdict(w http.ResponseWriter, v api.Verdict) {
	writeRaw(w, appendVerdict(make([]byte, 0, 96+len(v.Reason)+len(v.Header)+len(v.Claims)), v))
}
