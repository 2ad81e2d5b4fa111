// Package server is jwtledger's HTTP face: the token, OAuth2 and JOSE
// endpoints, the audit and admin API, and health checks, all through the
// jwtledger library so every call gets the same checks and audit records.
package server

import (
	"bytes"
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jwtledger/jwtledger"
)

//go:embed openapi.yaml
var openapiDoc []byte

// OpenAPI returns the OpenAPI 3.1 document of the API.
func OpenAPI() []byte { return openapiDoc }

func (s *Server) openapi(w http.ResponseWriter, r *http.Request, _ *call) error {
	w.Header().Set("Content-Type", "application/yaml")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, err := w.Write(openapiDoc)
	return err
}

// MaxBodyBytes bounds every request body.
const MaxBodyBytes = 64 << 10

// Config configures a [Server].
type Config struct {
	Ledger *jwtledger.Ledger
	Logger *slog.Logger // nil discards
	// Console, if set, is served at ConsolePrefix (default "/console"),
	// and GET / redirects to it.
	Console       http.Handler
	ConsolePrefix string
}

// Server serves the HTTP API of one ledger.
type Server struct {
	l        *jwtledger.Ledger
	log      *slog.Logger
	mux      *http.ServeMux
	patterns []string
	m        metrics
}

// New makes a server for cfg.Ledger.
func New(cfg Config) *Server {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{l: cfg.Ledger, log: log, mux: http.NewServeMux()}
	s.routes()
	s.mountConsole(cfg.Console, cfg.ConsolePrefix)
	return s
}

// Handler returns the server's handler, body size limited.
func (s *Server) Handler() http.Handler { return http.MaxBytesHandler(s.mux, MaxBodyBytes) }

// Routes lists the registered patterns (for the OpenAPI check and docs).
func (s *Server) Routes() []string { return s.patterns }

// access says who may call a route.
type access int

const (
	public     access = iota // no credentials
	clientAuth               // any authenticated client (OAuth2 token endpoint)
)

// scopeAccess requires an authenticated client holding scope.
type route struct {
	pattern string
	access  access
	scope   string // when not empty: required scope
	fn      func(w http.ResponseWriter, r *http.Request, c *call) error
}

// call is the per-request context handlers get.
type call struct {
	client    *jwtledger.Client
	requestID string
}

func (c *call) meta(r *http.Request) jwtledger.Meta {
	m := jwtledger.Meta{Remote: r.RemoteAddr, RequestID: c.requestID}
	if c.client != nil {
		m.Actor = c.client.ID
	}
	return m
}

func (s *Server) routes() {
	rs := []route{
		{"POST /v1/tokens", clientAuth, jwtledger.ScopeIssue, s.issue},
		{"POST /v1/tokens/verify", clientAuth, jwtledger.ScopeVerify, s.verify},
		{"POST /v1/tokens/revoke", clientAuth, jwtledger.ScopeRevoke, s.revoke},
		{"POST /oauth2/token", clientAuth, "", s.oauthToken},
		{"POST /oauth2/introspect", clientAuth, jwtledger.ScopeVerify, s.introspect},
		{"POST /oauth2/revoke", clientAuth, "", s.oauthRevoke},
		{"GET /.well-known/jwks.json", public, "", s.jwks},
		{"GET /.well-known/oauth-authorization-server", public, "", s.metadata},
		{"GET /v1/audit", clientAuth, jwtledger.ScopeAudit, s.auditQuery},
		{"GET /v1/audit/verify", clientAuth, jwtledger.ScopeAudit, s.auditVerify},
		{"GET /v1/audit/checkpoint", clientAuth, jwtledger.ScopeAudit, s.auditCheckpoint},
		{"GET /v1/keys", clientAuth, jwtledger.ScopeAdmin, s.keysList},
		{"POST /v1/keys", clientAuth, jwtledger.ScopeAdmin, s.keysRotate},
		{"GET /v1/clients", clientAuth, jwtledger.ScopeAdmin, s.clientsList},
		{"POST /v1/clients", clientAuth, jwtledger.ScopeAdmin, s.clientsCreate},
		{"DELETE /v1/clients/{id}", clientAuth, jwtledger.ScopeAdmin, s.clientsDelete},
		{"POST /v1/clients/{id}/rotate-secret", clientAuth, jwtledger.ScopeAdmin, s.clientsRotate},
		{"GET /healthz", public, "", s.healthz},
		{"GET /readyz", public, "", s.readyz},
		{"GET /metrics", public, "", s.metricsHandler},
		{"GET /openapi.yaml", clientAuth, "", s.openapi},
	}
	paths := map[string]access{} // the strictest access of each path
	for _, rt := range rs {
		s.patterns = append(s.patterns, rt.pattern)
		s.mux.Handle(rt.pattern, s.wrap(rt))
		_, path, _ := strings.Cut(rt.pattern, " ")
		paths[path] = max(paths[path], rt.access)
	}
	// Other methods on known paths (after the same authentication), and
	// unknown paths, answer in JSON too.
	for path, acc := range paths {
		s.mux.Handle(path, s.wrap(route{pattern: path, access: acc, fn: func(w http.ResponseWriter, r *http.Request, _ *call) error {
			return &httpError{code: http.StatusMethodNotAllowed, err: "invalid_request", desc: "method " + r.Method + " is not allowed here"}
		}}))
	}
	s.mux.Handle("/", s.wrap(route{pattern: "/", access: public, fn: func(w http.ResponseWriter, r *http.Request, _ *call) error {
		return &httpError{code: http.StatusNotFound, err: "not_found", desc: "no such endpoint"}
	}}))
}

// httpError is an error with the status, the OAuth2 error code and the
// description the client sees; cause is for the server's log only.
type httpError struct {
	code  int
	err   string
	desc  string
	cause error
}

func (e *httpError) Error() string {
	if e.cause != nil {
		return fmt.Sprintf("%d %s: %s: %v", e.code, e.err, e.desc, e.cause)
	}
	return fmt.Sprintf("%d %s: %s", e.code, e.err, e.desc)
}

func badRequest(format string, args ...any) error {
	return &httpError{code: http.StatusBadRequest, err: "invalid_request", desc: fmt.Sprintf(format, args...)}
}

// statusWriter records the status for the log line.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (s *Server) wrap(rt route) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		start := time.Now()
		if rt.access != public && strings.HasPrefix(rt.pattern, "POST ") {
			// Every authenticated POST records an event: let the audit
			// writer size its group commits from these requests.
			defer s.l.Busy()()
		}
		w := &statusWriter{ResponseWriter: rw}
		c := &call{requestID: requestID(r)}
		w.Header().Set("X-Request-ID", c.requestID)
		err := s.authorize(w, r, rt, c)
		if err == nil {
			err = s.safely(w, r, rt, c)
		}
		if err != nil {
			s.writeError(w, r, err)
		}
		clientID := ""
		if c.client != nil {
			clientID = c.client.ID
		}
		if w.status == 0 {
			w.status = http.StatusOK
		}
		inc(&s.m.requests, rt.pattern+"\x00"+strconv.Itoa(w.status))
		level := slog.LevelInfo
		if w.status >= 500 {
			level = slog.LevelError
		}
		// The handler directly, with typed attributes: Logger.Log would
		// also walk the stack for a source position nobody prints.
		if h := s.log.Handler(); h.Enabled(r.Context(), level) {
			rec := slog.NewRecord(time.Now(), level, "request", 0)
			rec.AddAttrs(slog.String("method", r.Method), slog.String("route", rt.pattern), slog.Int("status", w.status),
				slog.Duration("duration", time.Since(start)), slog.String("client", clientID), slog.String("request_id", c.requestID))
			var he *httpError
			if errors.As(err, &he) && he.cause != nil {
				rec.AddAttrs(slog.Any("err", he.cause))
			}
			h.Handle(r.Context(), rec)
		}
	})
}

// safely runs the handler, turning a panic into a 500 without a trace.
func (s *Server) safely(w http.ResponseWriter, r *http.Request, rt route, c *call) (err error) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("handler panic", "route", rt.pattern, "panic", fmt.Sprint(p))
			err = &httpError{code: http.StatusInternalServerError, err: "server_error", desc: "internal error"}
		}
	}()
	return rt.fn(w, r, c)
}

// authorize authenticates the caller and checks the route's scope; both
// failures are recorded as auth.denied (with the client id, never a secret).
func (s *Server) authorize(w http.ResponseWriter, r *http.Request, rt route, c *call) error {
	if rt.access == public {
		return nil
	}
	id, secret, scheme := credentials(r, rt.pattern == "POST /oauth2/token")
	var err error
	if secret != "" {
		c.client, err = s.l.Authenticate(r.Context(), id, secret)
	}
	if c.client == nil {
		if err != nil && !errors.Is(err, jwtledger.ErrUnauthenticated) {
			return &httpError{code: http.StatusServiceUnavailable, err: "temporarily_unavailable", desc: "the store is unavailable", cause: err}
		}
		reason := "missing credentials"
		if secret != "" {
			reason = "invalid credentials"
		}
		if derr := s.l.RecordDenied(r.Context(), rt.pattern+": "+reason, jwtledger.Meta{Actor: id, Remote: r.RemoteAddr, RequestID: c.requestID}); derr != nil {
			return &httpError{code: http.StatusServiceUnavailable, err: "temporarily_unavailable", desc: "the audit trail is unavailable", cause: derr}
		}
		if scheme == "" {
			scheme = "Bearer"
		}
		w.Header().Set("WWW-Authenticate", scheme+` realm="jwtledger"`)
		code := "invalid_token"
		if strings.HasPrefix(rt.pattern, "POST /oauth2/") {
			code = "invalid_client"
		}
		return &httpError{code: http.StatusUnauthorized, err: code, desc: reason}
	}
	if rt.scope != "" && !c.client.Has(rt.scope) {
		return s.deny(r, c, fmt.Sprintf("%s: scope %s required", rt.pattern, rt.scope), "insufficient_scope", "this client lacks the scope "+rt.scope)
	}
	return nil
}

// deny records a refused request and answers 403.
func (s *Server) deny(r *http.Request, c *call, reason, code, desc string) error {
	if err := s.l.RecordDenied(r.Context(), reason, c.meta(r)); err != nil {
		return &httpError{code: http.StatusServiceUnavailable, err: "temporarily_unavailable", desc: "the audit trail is unavailable", cause: err}
	}
	return &httpError{code: http.StatusForbidden, err: code, desc: desc}
}

// credentials reads Bearer or Basic credentials; the OAuth2 token endpoint
// also takes client_id/client_secret form fields.
func credentials(r *http.Request, form bool) (id, secret, scheme string) {
	h := r.Header.Get("Authorization")
	switch {
	case len(h) > 7 && strings.EqualFold(h[:7], "Bearer "):
		return "", strings.TrimSpace(h[7:]), "Bearer"
	case len(h) > 6 && strings.EqualFold(h[:6], "Basic "):
		if u, p, ok := r.BasicAuth(); ok {
			return u, p, "Basic"
		}
		return "", "", "Basic"
	}
	if form && r.Method == http.MethodPost {
		if err := r.ParseForm(); err == nil && r.PostForm.Get("client_secret") != "" {
			return r.PostForm.Get("client_id"), r.PostForm.Get("client_secret"), "Basic"
		}
	}
	return "", "", ""
}

// requestID accepts a sane X-Request-ID or makes one.
func requestID(r *http.Request) string {
	if id := r.Header.Get("X-Request-ID"); id != "" && len(id) <= 128 {
		ok := true
		for _, c := range id {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
				ok = false
				break
			}
		}
		if ok {
			return id
		}
	}
	var b [12]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var he *httpError
	if !errors.As(err, &he) {
		he = classify(err)
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, he.code, map[string]string{"error": he.err, "error_description": he.desc})
}

// classify maps library errors to HTTP answers.
func classify(err error) *httpError {
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return &httpError{code: http.StatusRequestEntityTooLarge, err: "invalid_request", desc: fmt.Sprintf("request body larger than %d bytes", mbe.Limit)}
	case errors.Is(err, jwtledger.ErrAudit):
		return &httpError{code: http.StatusServiceUnavailable, err: "temporarily_unavailable", desc: "the audit trail is unavailable; nothing was issued or decided", cause: err}
	case errors.Is(err, jwtledger.ErrInvalidRequest), errors.Is(err, jwtledger.ErrNoActiveKey):
		return &httpError{code: http.StatusBadRequest, err: "invalid_request", desc: strings.TrimPrefix(err.Error(), jwtledger.ErrInvalidRequest.Error()+": ")}
	case errors.Is(err, context.Canceled):
		return &httpError{code: 499, err: "invalid_request", desc: "request cancelled"}
	}
	return &httpError{code: http.StatusInternalServerError, err: "server_error", desc: "internal error", cause: err}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

// bodyPool holds the buffers of decodeFast.
var bodyPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// decodeFast is decode for a hot route: it reads the whole body and first
// tries fast, a parser of the route's commonest exact body shape that
// fills dst as the full decoder would, or declines (returns false) for
// anything else, which then goes through the full decoder.
func decodeFast(r *http.Request, dst any, fast func(body []byte) bool) error {
	if err := checkJSONBody(r); err != nil {
		return err
	}
	buf := bodyPool.Get().(*bytes.Buffer)
	defer bodyPool.Put(buf)
	buf.Reset()
	if _, err := buf.ReadFrom(r.Body); err != nil {
		return bodyError(err)
	}
	if fast(buf.Bytes()) {
		return nil
	}
	return decodeJSON(json.NewDecoder(bytes.NewReader(buf.Bytes())), dst)
}

// decode reads a JSON request body strictly: one object, known fields only.
func decode(r *http.Request, dst any) error {
	if err := checkJSONBody(r); err != nil {
		return err
	}
	return decodeJSON(json.NewDecoder(r.Body), dst)
}

// checkJSONBody refuses multipart bodies. Otherwise the body must be JSON
// whatever Content-Type says (curl -d sends form-urlencoded).
func checkJSONBody(r *http.Request) error {
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/") {
		return &httpError{code: http.StatusUnsupportedMediaType, err: "invalid_request", desc: "the body must be a JSON object"}
	}
	return nil
}

// bodyError is the answer to a body that could not be read or decoded.
func bodyError(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return classify(err)
	}
	return badRequest("invalid JSON body: %v", err)
}

func decodeJSON(dec *json.Decoder, dst any) error {
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return bodyError(err)
	}
	if dec.More() {
		return badRequest("invalid JSON body: data after the object")
	}
	return nil
}
