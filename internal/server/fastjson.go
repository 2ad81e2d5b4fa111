package server

import (
	"net/http"
	"strconv"
	"time"

	"github.com/jwtledger/jwtledger"
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
	if y := r.ExpiresAt.Year(); y < 0 || y > 9999 {
		writeJSON(w, http.StatusOK, r) // which refuses it
		return
	}
	writeRaw(w, appendIssue(make([]byte, 0, 128+len(r.Token)), r))
}

// appendVerdict appends the JSON of a verdict; ok is false when its header
// or claims are not compact (a token may carry any JSON layout), which
// writeJSON then compacts.
func appendVerdict(b []byte, v jwtledger.Verdict) (_ []byte, ok bool) {
	if !compact(v.Header) || !compact(v.Claims) {
		return b, false
	}
	b = append(b, `{"valid":`...)
	b = strconv.AppendBool(b, v.Valid)
	b = append(b, `,"outcome":`...)
	b = strictjson.AppendString(b, string(v.Outcome))
	b = append(b, `,"reason":`...)
	b = strictjson.AppendString(b, v.Reason)
	b = append(b, `,"header":`...)
	b = append(b, v.Header...)
	b = append(b, `,"claims":`...)
	b = append(b, v.Claims...)
	return append(b, "}\n"...), true
}

func writeVerdict(w http.ResponseWriter, v jwtledger.Verdict) {
	b, ok := appendVerdict(make([]byte, 0, 96+len(v.Reason)+len(v.Header)+len(v.Claims)), v)
	if !ok {
		writeJSON(w, http.StatusOK, v)
		return
	}
	writeRaw(w, b)
}

// compact reports whether raw, a JSON value, has no whitespace outside its
// strings.
func compact(raw []byte) bool {
	if len(raw) == 0 {
		return false
	}
	in := false
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if in {
			switch c {
			case '\\':
				i++
			case '"':
				in = false
			}
			continue
		}
		switch c {
		case '"':
			in = true
		case ' ', '\t', '\n', '\r':
			return false
		}
	}
	return true
}
