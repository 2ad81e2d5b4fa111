package console

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

// maxToken bounds the tokens the debugger reads (as the verifier does).
const maxToken = 64 << 10

type claimTime struct {
	Name string
	At   time.Time
}

type debugData struct {
	Submitted   bool
	Fingerprint string // SHA-256 of the token text, as in its audit record
	Header      string // pretty-printed, or empty when it could not be decoded
	Claims      string
	Times       []claimTime
	DecodeError string
	Verdict     *Verdict
	NoScope     bool // the client may not verify (tokens:verify)
	Aud, Iss    string
}

func (c *Console) debuggerPage(x *exchange) error {
	return x.ok("debugger", "debugger.title", &debugData{})
}

// debug decodes a pasted token for display, then asks the ledger for its
// verdict: an audited verification like POST /v1/tokens/verify. The token
// comes in a POST body only and is never echoed, stored or logged.
func (c *Console) debug(x *exchange) error {
	raw := strings.TrimSpace(x.r.PostFormValue("token"))
	d := &debugData{Submitted: true, Aud: x.r.PostFormValue("aud"), Iss: x.r.PostFormValue("iss")}
	if raw == "" {
		return x.render(http.StatusBadRequest, "debugger", "debugger.title", &debugData{DecodeError: x.c.cat.text(x.lang, "debugger.empty")})
	}
	if len(raw) > maxToken {
		return x.render(http.StatusBadRequest, "debugger", "debugger.title", &debugData{DecodeError: x.c.cat.text(x.lang, "debugger.toolarge")})
	}
	sum := sha256.Sum256([]byte(raw))
	d.Fingerprint = hex.EncodeToString(sum[:])
	d.Header, d.Claims, d.Times = decodeToken(raw)
	if d.Header == "" {
		d.DecodeError = x.c.cat.text(x.lang, "debugger.undecodable")
	}
	if !x.client.Has(ScopeVerify) {
		// As the API: a client without tokens:verify gets no verdict.
		if err := c.b.RecordDenied(x.r.Context(), "console POST /debugger: scope tokens:verify required", x.meta(x.client.ID)); err != nil {
			return err
		}
		d.NoScope = true
		return x.render(http.StatusForbidden, "debugger", "debugger.title", d)
	}
	v, err := c.b.VerifyToken(x.r.Context(), raw, d.Aud, d.Iss, x.meta(x.client.ID))
	if err != nil {
		return err
	}
	d.Verdict = v
	return x.ok("debugger", "debugger.title", d)
}

// decodeToken reads a compact JWS for display only, without checking
// anything: header and payload pretty-printed, and the time claims.
func decodeToken(raw string) (header, claims string, times []claimTime) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return "", "", nil
	}
	pretty := func(s string) (string, []byte) {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil || !json.Valid(b) {
			return "", nil
		}
		var out bytes.Buffer
		if json.Indent(&out, b, "", "  ") != nil {
			return "", nil
		}
		return out.String(), b
	}
	header, _ = pretty(parts[0])
	if header == "" {
		return "", "", nil
	}
	claims, body := pretty(parts[1])
	var m map[string]json.RawMessage
	if body != nil && json.Unmarshal(body, &m) == nil {
		for _, name := range []string{"iat", "nbf", "exp"} {
			var f float64
			if v, ok := m[name]; ok && json.Unmarshal(v, &f) == nil && f > -1e11 && f < 1e11 {
				times = append(times, claimTime{Name: name, At: time.Unix(int64(f), 0).UTC()})
			}
		}
	}
	return header, claims, times
}
