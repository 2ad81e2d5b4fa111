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
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jwtledger/jwtledger"
	"github.com/jwtledger/jwtledger/internal/api"
	"github.com/jwtledger/jwtledger/internal/clientauth"
	"github.com/jwtledger/jwtledger/internal/service"
	"github.com/jwtledger/jwtledger/internal/strictjson"
)

//go:embed openapi.yaml
var openapiDoc []byte

// openapiServer is the servers entry of openapi.yaml, which the served
// document replaces with the server's own URL.
const openapiServer = "\nservers:\n  - url: http://127.0.0.1:8080\n"

// OpenAPI returns the OpenAPI 3.1 document of the API, its servers entry
// set to base (an http(s) URL, such as the issuer of serve).
func OpenAPI(base string) []byte {
	u, _ := json.Marshal(base) // a JSON string is a YAML double-quoted scalar
	return bytes.Replace(openapiDoc, []byte(openapiServer), []byte("\nservers:\n  - url: "+string(u)+"\n"), 1)
}

func (s *Server) openapi(w http.ResponseWriter, r *http.Request, _ *call) error {
	doc := s.openapiDoc
	if doc == nil {
		doc = OpenAPI(baseURL(r))
	}
	w.Header().Set("Content-Type", "application/yaml")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, err := w.Write(doc)
	return err
}

// CheckIssuer refuses an issuer that cannot be an RFC 8414 issuer
// identifier: an http(s) URL with a host and no query or fragment.
func CheckIssuer(iss string) error {
	u, err := url.Parse(iss)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil || u.Opaque != "" {
		return fmt.Errorf("issuer %q is not an http(s) URL with a host and no query, fragment or user (RFC 8414 2)", iss)
	}
	return nil
}

// base is the URL the endpoints of the metadata and the OpenAPI document
// are under: the issuer when it is a URL (as serve's always is), else the
// URL the client reached (a library ledger with a name as its issuer).
func (s *Server) base(r *http.Request) string {
	if s.issuerBase != "" {
		return s.issuerBase
	}
	return baseURL(r)
}

// baseURL is the server's own URL as the client reached it.
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// MaxBodyBytes bounds every request body.
const MaxBodyBytes = 64 << 10

// Config configures a [Server].
type Config struct {
	Ledger *jwtledger.Ledger
	Logger *slog.Logger // nil discards
	// MetricsClientLabels labels metric series with client ids (off by
	// default: /metrics may be public, and client ids name customers).
	MetricsClientLabels bool
	// NoMetrics leaves GET /metrics out of Handler (serve it with
	// MetricsHandler on another address).
	NoMetrics bool
	// Console, if set, is served at ConsolePrefix (default "/console"),
	// and GET / redirects to it.
	Console       http.Handler
	ConsolePrefix string
	// SlowRequest is the duration from which a successful request is
	// logged at warn level ("slow request"); faster successful requests
	// are logged at debug level only, refused ones (4xx) at info and
	// failed ones (5xx) at error. Zero means DefaultSlowRequest.
	SlowRequest time.Duration
}

// DefaultSlowRequest is the default of [Config.SlowRequest].
const DefaultSlowRequest = 500 * time.Millisecond

// Server serves the HTTP API of one ledger.
type Server struct {
	cfg        Config
	l          *jwtledger.Ledger
	ops        service.Ops // service.Of(l)
	log        *slog.Logger
	slow       time.Duration // Config.SlowRequest
	mux        *http.ServeMux
	patterns   []string
	m          metrics
	issuerBase string // the issuer without a final "/", when it is a URL
	openapiDoc []byte // the document for issuerBase

	lnMu    sync.Mutex
	limited []*Limited // the listeners of LimitListener, for /metrics
}

// New makes a server for cfg.Ledger.
func New(cfg Config) *Server {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, l: cfg.Ledger, ops: service.Of(cfg.Ledger), log: log, mux: http.NewServeMux()}
	if iss := cfg.Ledger.Issuer(); CheckIssuer(iss) == nil {
		s.issuerBase = strings.TrimSuffix(iss, "/")
		s.openapiDoc = OpenAPI(s.issuerBase)
	}
	s.slow = cfg.SlowRequest
	if s.slow <= 0 {
		s.slow = DefaultSlowRequest
	}
	s.routes()
	s.mountConsole(cfg.Console, cfg.ConsolePrefix)
	return s
}

// Handler returns the server's handler, body size limited.
func (s *Server) Handler() http.Handler { return http.MaxBytesHandler(s.mux, MaxBodyBytes) }

// MetricsHandler serves the Prometheus metrics alone (for a listener of
// their own, see Config.NoMetrics).
func (s *Server) MetricsHandler() http.Handler {
	return s.wrap(route{pattern: "GET /metrics", access: public, fn: s.metricsHandler})
}

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
		{"POST /v1/tokens", clientAuth, clientauth.ScopeIssue, s.issue},
		{"POST /v1/tokens/verify", clientAuth, clientauth.ScopeVerify, s.verify},
		{"POST /v1/tokens/revoke", clientAuth, clientauth.ScopeRevoke, s.revoke},
		{"POST /oauth2/token", clientAuth, "", s.oauthToken},
		{"POST /oauth2/introspect", clientAuth, clientauth.ScopeVerify, s.introspect},
		{"POST /oauth2/revoke", clientAuth, "", s.oauthRevoke},
		{"GET /.well-known/jwks.json", public, "", s.jwks},
		{"GET /.well-known/oauth-authorization-server", public, "", s.metadata},
		{"GET /v1/audit", clientAuth, clientauth.ScopeAudit, s.auditQuery},
		{"GET /v1/audit/verify", clientAuth, clientauth.ScopeAudit, s.auditVerify},
		{"GET /v1/audit/checkpoint", clientAuth, clientauth.ScopeAudit, s.auditCheckpoint},
		{"GET /v1/keys", clientAuth, clientauth.ScopeAdmin, s.keysList},
		{"POST /v1/keys", clientAuth, clientauth.ScopeAdmin, s.keysRotate},
		{"GET /v1/clients", clientAuth, clientauth.ScopeAdmin, s.clientsList},
		{"POST /v1/clients", clientAuth, clientauth.ScopeAdmin, s.clientsCreate},
		{"DELETE /v1/clients/{id}", clientAuth, clientauth.ScopeAdmin, s.clientsDelete},
		{"POST /v1/clients/{id}/rotate-secret", clientAuth, clientauth.ScopeAdmin, s.clientsRotate},
		{"GET /healthz", public, "", s.healthz},
		{"GET /readyz", public, "", s.readyz},
		{"GET /metrics", public, "", s.metricsHandler},
		{"GET /openapi.yaml", clientAuth, "", s.openapi},
	}
	if s.cfg.NoMetrics {
		rs = slices.DeleteFunc(rs, func(rt route) bool { return rt.pattern == "GET /metrics" })
	}
	paths := map[string]access{}     // the strictest access of each path
	methods := map[string][]string{} // the methods of each path, for Allow
	for _, rt := range rs {
		s.patterns = append(s.patterns, rt.pattern)
		s.mux.Handle(rt.pattern, s.wrap(rt))
		method, path, _ := strings.Cut(rt.pattern, " ")
		paths[path] = max(paths[path], rt.access)
		methods[path] = append(methods[path], method)
		if method == http.MethodGet {
			methods[path] = append(methods[path], http.MethodHead) // the mux answers HEAD with GET's handler
		}
	}
	// Other methods on known paths (after the same authentication), and
	// unknown paths, answer in JSON too; a 405 says which methods the path
	// has (RFC 9110 15.5.6).
	for path, acc := range paths {
		slices.Sort(methods[path])
		allow := strings.Join(methods[path], ", ")
		s.mux.Handle(path, s.wrap(route{pattern: path, access: acc, fn: func(w http.ResponseWriter, r *http.Request, _ *call) error {
			w.Header().Set("Allow", allow)
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
	serve := http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		start := time.Now()
		w := &statusWriter{ResponseWriter: rw}
		c := &call{requestID: requestID(r)}
		w.Header().Set("X-Request-ID", c.requestID)
		var err error
		if ferr := s.ops.Failed(); ferr != nil && rt.pattern != "GET /healthz" && rt.pattern != "GET /readyz" && rt.pattern != "GET /metrics" {
			// The store is not the one the ledger opened: nothing is
			// answered from it any more (the cause is in the log).
			err = &httpError{code: http.StatusServiceUnavailable, err: "temporarily_unavailable", desc: "the ledger's store is unavailable; nothing was issued or decided", cause: ferr}
		} else if ro := s.ops.ReadOnly(); ro != nil && r.Method != http.MethodGet && r.Method != http.MethodHead {
			err = &httpError{code: http.StatusServiceUnavailable, err: "temporarily_unavailable", desc: "the ledger's database is damaged; this server is read-only for inspection (GET routes only)", cause: ro}
		} else {
			if strings.HasPrefix(rt.pattern, "POST /oauth2/") {
				// A body that is not a valid form is refused before
				// authentication (its client_secret could not be read).
				err = readForm(r)
			}
			if err == nil {
				err = s.authorize(w, r, rt, c)
			}
		}
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
		// Errors and slow requests are always logged, refusals at info,
		// and the successful hot path only at debug: one line per issued
		// token cost more than its audit record (issue 13).
		took := time.Since(start)
		level, msg := slog.LevelDebug, "request"
		switch {
		case w.status >= 500:
			level = slog.LevelError
		case took >= s.slow:
			level, msg = slog.LevelWarn, "slow request"
		case w.status >= 400:
			level = slog.LevelInfo
		}
		// The handler directly, with typed attributes: Logger.Log would
		// also walk the stack for a source position nobody prints.
		if h := s.log.Handler(); h.Enabled(r.Context(), level) {
			rec := slog.NewRecord(time.Now(), level, msg, 0)
			rec.AddAttrs(slog.String("method", r.Method), slog.String("route", rt.pattern), slog.Int("status", w.status),
				slog.Duration("duration", took), slog.String("client", clientID), slog.String("request_id", c.requestID))
			// The cause of a refusal, or the error itself when it is
			// no httpError (an internal error: 500); never a secret or
			// token (errors do not carry them).
			var he *httpError
			switch {
			case errors.As(err, &he) && he.cause != nil:
				rec.AddAttrs(slog.Any("err", he.cause))
			case err != nil && !errors.As(err, &he):
				rec.AddAttrs(slog.Any("err", err))
			}
			h.Handle(r.Context(), rec)
		}
	})
	if rt.access != public && strings.HasPrefix(rt.pattern, "POST ") {
		// Every authenticated POST records an event: the ledger sizes its
		// group commits from the requests in progress.
		return s.ops.Recording(serve)
	}
	return serve
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
	id, secret, scheme, cerr := credentials(r, strings.HasPrefix(rt.pattern, "POST /oauth2/"))
	if cerr != nil {
		return cerr
	}
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
		if derr := s.ops.RecordDenied(r.Context(), rt.pattern+": "+reason, service.Meta{Actor: id, Remote: r.RemoteAddr, RequestID: c.requestID}); derr != nil {
			return &httpError{code: http.StatusServiceUnavailable, err: "temporarily_unavailable", desc: "the audit trail is unavailable", cause: derr}
		}
		// The challenge names the scheme the caller used; with none, the
		// OAuth2 endpoints ask for HTTP Basic (client_secret_basic, RFC
		// 6749 2.3.1), the others for a Bearer token. A Bearer token that
		// was presented and refused is error="invalid_token" (RFC 6750
		// 3.1; not with no credentials).
		oauth := strings.HasPrefix(strings.TrimPrefix(rt.pattern, "POST "), "/oauth2/")
		if scheme == "" {
			scheme = "Bearer"
			if oauth {
				scheme = "Basic"
			}
		}
		challenge := scheme + ` realm="jwtledger"`
		if scheme == "Bearer" && secret != "" && !oauth {
			challenge += `, error="invalid_token"`
		}
		w.Header().Set("WWW-Authenticate", challenge)
		code := "invalid_token"
		if oauth {
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
	if err := s.ops.RecordDenied(r.Context(), reason, service.Meta(c.meta(r))); err != nil {
		return &httpError{code: http.StatusServiceUnavailable, err: "temporarily_unavailable", desc: "the audit trail is unavailable", cause: err}
	}
	return &httpError{code: http.StatusForbidden, err: code, desc: desc}
}

// credentials reads the caller's credentials: Bearer (the secret alone),
// or HTTP Basic with the client id and secret form-encoded as RFC 6749
// 2.3.1 asks (client_secret_basic; credentials without escapes read the
// same either way). With form, the OAuth2 endpoints, client_id and
// client_secret form fields are accepted too (client_secret_post); using
// two methods at once is an error (RFC 6749 2.3).
func credentials(r *http.Request, form bool) (id, secret, scheme string, err error) {
	h := r.Header.Get("Authorization")
	switch {
	case len(h) > 7 && strings.EqualFold(h[:7], "Bearer "):
		id, secret, scheme = "", strings.TrimSpace(h[7:]), "Bearer"
	case len(h) > 6 && strings.EqualFold(h[:6], "Basic "):
		scheme = "Basic"
		if u, p, ok := r.BasicAuth(); ok {
			id, secret = formDecoded(u), formDecoded(p)
		}
	}
	if !form || r.Method != http.MethodPost {
		return id, secret, scheme, nil
	}
	// The form was read by readForm before authentication.
	formID, formSecret := r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	switch {
	case formSecret != "" && h != "":
		return "", "", scheme, oauthError(http.StatusBadRequest, "invalid_request", "use one client authentication method: the Authorization header or client_secret in the body, not both")
	case formSecret != "":
		return formID, formSecret, "Basic", nil
	case formID != "" && id != "" && formID != id:
		return "", "", scheme, oauthError(http.StatusBadRequest, "invalid_request", "client_id in the body differs from the authenticated client")
	}
	return id, secret, scheme, nil
}

// formDecoded undoes the application/x-www-form-urlencoded encoding of a
// Basic credential; a value that is not validly encoded is taken as it is.
func formDecoded(s string) string {
	if !strings.ContainsAny(s, "%+") {
		return s
	}
	if d, err := url.QueryUnescape(s); err == nil {
		return d
	}
	return s
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
	writeJSON(w, he.code, api.Error{Error: he.err, Description: he.desc})
}

// classify maps library errors to HTTP answers.
func classify(err error) *httpError {
	var mbe *http.MaxBytesError
	var pe *jwtledger.PolicyError
	var re *jwtledger.RequestError
	switch {
	case errors.As(err, &mbe):
		return &httpError{code: http.StatusRequestEntityTooLarge, err: "invalid_request", desc: fmt.Sprintf("request body larger than %d bytes", mbe.Limit)}
	case errors.Is(err, jwtledger.ErrAudit):
		return &httpError{code: http.StatusServiceUnavailable, err: "temporarily_unavailable", desc: "the audit trail is unavailable; nothing was issued or decided", cause: err}
	case errors.Is(err, jwtledger.ErrNotFound):
		return &httpError{code: http.StatusNotFound, err: "not_found", desc: err.Error()}
	case errors.As(err, &pe):
		return &httpError{code: http.StatusForbidden, err: "access_denied", desc: pe.Detail}
	case errors.As(err, &re):
		return &httpError{code: http.StatusBadRequest, err: "invalid_request", desc: re.Detail}
	case errors.Is(err, jwtledger.ErrInvalidRequest), errors.Is(err, jwtledger.ErrNoActiveKey):
		return &httpError{code: http.StatusBadRequest, err: "invalid_request", desc: err.Error()}
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
	return decodeStrict(buf.Bytes(), dst)
}

// decode reads a JSON request body strictly: one object, known fields only,
// no duplicate member names.
func decode(r *http.Request, dst any) error {
	if err := checkJSONBody(r); err != nil {
		return err
	}
	buf := bodyPool.Get().(*bytes.Buffer)
	defer bodyPool.Put(buf)
	buf.Reset()
	if _, err := buf.ReadFrom(r.Body); err != nil {
		return bodyError(err)
	}
	return decodeStrict(buf.Bytes(), dst)
}

// decodeStrict checks body with the strict scanner tokens are read with
// (which refuses duplicate member names at any depth, as encoding/json
// does not: it keeps the last), then decodes it.
func decodeStrict(body []byte, dst any) error {
	if err := strictjson.Valid(body); err != nil {
		return badRequest("invalid JSON body: %v", err)
	}
	return decodeJSON(json.NewDecoder(bytes.NewReader(body)), dst)
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
// Only the decoder's own findings are shown to the client; a read that
// failed (a timeout, a connection reset) names addresses and is for the
// log only.
func bodyError(err error) error {
	var mbe *http.MaxBytesError
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &mbe):
		return classify(err)
	case errors.As(err, &syn), errors.As(err, &typ), errors.Is(err, io.ErrUnexpectedEOF), isDecodeMessage(err):
		return badRequest("invalid JSON body: %v", err)
	}
	return &httpError{code: http.StatusBadRequest, err: "invalid_request", desc: "the request body could not be read", cause: err}
}

// isDecodeMessage reports whether err is one of encoding/json's own
// messages about the document (unknown field, bad value of a type with an
// UnmarshalJSON), not an error of the reader under it.
func isDecodeMessage(err error) bool {
	var ne net.Error
	var oe *net.OpError
	return !errors.As(err, &ne) && !errors.As(err, &oe) && !errors.Is(err, os.ErrDeadlineExceeded) && !errors.Is(err, syscall.ECONNRESET)
}

// maxFormFields bounds the fields of a form body (as net/url does).
const maxFormFields = 10000

// readForm reads the form body of an OAuth2 endpoint into r.PostForm,
// once, before authentication (client_secret_post): it says what is wrong
// with a body that is too large, has too many fields or is not a form, and
// refuses parameters given twice (RFC 6749 section 3.2: they "MUST NOT be
// included more than once"; audience and resource may repeat, RFC 8707).
func readForm(r *http.Request) error {
	r.PostForm, r.Form = url.Values{}, url.Values{}
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(strings.ToLower(ct), "application/x-www-form-urlencoded") {
		return oauthError(http.StatusUnsupportedMediaType, "invalid_request", "the body must be application/x-www-form-urlencoded")
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return bodyError(err)
	}
	if n := bytes.Count(body, []byte("&")) + bytes.Count(body, []byte(";")) + 1; n > maxFormFields {
		return oauthError(http.StatusBadRequest, "invalid_request", fmt.Sprintf("the form has %d fields, more than the %d allowed", n, maxFormFields))
	}
	vals, err := url.ParseQuery(string(body))
	if err != nil {
		return oauthError(http.StatusBadRequest, "invalid_request", "the body is not a valid application/x-www-form-urlencoded form: "+err.Error())
	}
	for name, vs := range vals {
		if len(vs) > 1 && name != "audience" && name != "resource" {
			return oauthError(http.StatusBadRequest, "invalid_request", fmt.Sprintf("parameter %q is given %d times", strictjson.Truncate(name), len(vs)))
		}
	}
	r.PostForm, r.Form = vals, vals
	return nil
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
