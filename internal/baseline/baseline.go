// Package baseline is the plain token service that jwtledger's HTTP
// performance is judged against: net/http and golang-jwt v5 behind the
// request and answer shapes of jwtledger's POST /v1/tokens and
// POST /v1/tokens/verify, a Bearer secret checked in constant time, and one
// log/slog JSON line per request written to a file.
//
// It runs in one of two modes:
//
//   - [ModeA] writes the log line and answers. Nothing is synced: this is
//     the upper bound of a token service, not a durable one.
//   - [ModeD] is A plus a naive group commit: before answering, every
//     request's record goes to one goroutine that takes all the records
//     waiting, writes them to SQLite (WAL, synchronous=FULL) in one
//     transaction of one INSERT per record, and commits; a request is
//     answered only after the commit that holds its record (durable).
//
// It is a yardstick, not a product: one key generated at start, no
// rotation, no revocation, no client policies. Its answers carry the same
// members as jwtledger's, so both send about the same bytes.
package baseline

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Mode says how durable a [Service] is.
type Mode string

// The modes of a [Service].
const (
	ModeA Mode = "A" // log line to a file, no sync
	ModeD Mode = "D" // log line and a SQLite group commit before every answer
)

// ParseMode reads "A" or "D".
func ParseMode(s string) (Mode, error) {
	switch m := Mode(strings.ToUpper(s)); m {
	case ModeA, ModeD:
		return m, nil
	}
	return "", fmt.Errorf("unknown mode %q (want A or D)", s)
}

// MaxBodyBytes bounds every request body, as jwtledger's server does.
const MaxBodyBytes = 64 << 10

// Leeway is the clock skew allowed on exp, nbf and iat (jwtledger's default).
const Leeway = 30 * time.Second

// Config configures a [Service]. Dir is required; the other zero values work.
type Config struct {
	// Mode is ModeA or ModeD. Default ModeA.
	Mode Mode
	// Alg is the algorithm of the signing key, "ES256" or "HS256", pinned
	// on verification. Default "ES256".
	Alg string
	// Dir holds the log file (baseline.log) and, in ModeD, the database
	// (baseline.db). It is created if missing.
	Dir string
	// Issuer is the iss of issued tokens. Default "baseline".
	Issuer string
	// TTL is the lifetime of issued tokens. Default 1h.
	TTL time.Duration
	// Now is the clock (tests). Default time.Now.
	Now func() time.Time
}

// Service is a running baseline: a key, a log file and, in ModeD, a
// database with its committer. Close it when done.
type Service struct {
	cfg        Config
	method     jwt.SigningMethod
	signKey    any
	verifyKey  any
	kid        string
	secret     string
	secretHash [32]byte
	logFile    *os.File
	log        *slog.Logger
	commits    *committer // nil in ModeA
	mux        *http.ServeMux
}

// New generates the key and the client secret, opens the log file and, in
// ModeD, the database.
func New(cfg Config) (*Service, error) {
	if cfg.Mode == "" {
		cfg.Mode = ModeA
	}
	if _, err := ParseMode(string(cfg.Mode)); err != nil {
		return nil, fmt.Errorf("baseline: %w", err)
	}
	if cfg.Alg == "" {
		cfg.Alg = "ES256"
	}
	if cfg.Dir == "" {
		return nil, errors.New("baseline: a directory is required")
	}
	if cfg.Issuer == "" {
		cfg.Issuer = "baseline"
	}
	if cfg.TTL <= 0 {
		cfg.TTL = time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Service{cfg: cfg, kid: rand.Text()[:16], secret: rand.Text() + rand.Text()}
	s.secretHash = sha256.Sum256([]byte(s.secret))
	switch cfg.Alg {
	case "ES256":
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("baseline: generate key: %w", err)
		}
		s.method, s.signKey, s.verifyKey = jwt.SigningMethodES256, k, &k.PublicKey
	case "HS256":
		k := make([]byte, 32)
		rand.Read(k)
		s.method, s.signKey, s.verifyKey = jwt.SigningMethodHS256, k, k
	default:
		return nil, fmt.Errorf("baseline: unsupported algorithm %q (want ES256 or HS256)", cfg.Alg)
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("baseline: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(cfg.Dir, "baseline.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("baseline: open log: %w", err)
	}
	s.logFile, s.log = f, slog.New(slog.NewJSONHandler(f, nil))
	if cfg.Mode == ModeD {
		if s.commits, err = openCommitter(filepath.Join(cfg.Dir, "baseline.db")); err != nil {
			f.Close()
			return nil, fmt.Errorf("baseline: %w", err)
		}
	}
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("POST /v1/tokens", s.issue)
	s.mux.HandleFunc("POST /v1/tokens/verify", s.verify)
	return s, nil
}

// Secret returns the client secret requests present as a Bearer token.
func (s *Service) Secret() string { return s.secret }

// Mode returns the service's mode.
func (s *Service) Mode() Mode { return s.cfg.Mode }

// Handler returns the service's handler, body size limited.
func (s *Service) Handler() http.Handler { return http.MaxBytesHandler(s.mux, MaxBodyBytes) }

// Close stops the committer once its batch is committed (later requests
// get 503), then closes the database and the log file. Stop the HTTP
// server first.
func (s *Service) Close() error {
	var err error
	if s.commits != nil {
		err = s.commits.Close()
	}
	return errors.Join(err, s.logFile.Close())
}

// record is what the service writes about a request: to the log line
// always, and as a JSON row in ModeD. It never holds a token or a secret.
type record struct {
	Time        time.Time `json:"time"`
	Event       string    `json:"event"`
	Outcome     string    `json:"outcome"`
	Reason      string    `json:"reason,omitempty"`
	Client      string    `json:"client,omitempty"`
	Remote      string    `json:"remote,omitempty"`
	Sub         string    `json:"sub,omitempty"`
	Aud         []string  `json:"aud,omitempty"`
	JTI         string    `json:"jti,omitempty"`
	KID         string    `json:"kid,omitempty"`
	Alg         string    `json:"alg,omitempty"`
	TokenSHA256 string    `json:"token_sha256,omitempty"`
}

// clientID is the one client's name in records.
const clientID = "baseline"

// errClosed is the committer's answer once it has stopped.
var errClosed = errors.New("baseline: closed")

// keep makes rec durable (ModeD) and writes its log line; an error means
// the request must not be answered with its result.
func (s *Service) keep(ctx context.Context, rec *record) error {
	if s.commits != nil {
		body, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		if err := s.commits.Append(rec.Time, string(body)); err != nil {
			return err
		}
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, rec.Event, slog.String("outcome", rec.Outcome), slog.String("client", rec.Client),
		slog.String("sub", rec.Sub), slog.String("jti", rec.JTI), slog.String("kid", rec.KID))
	return nil
}

// authorized checks the Bearer secret: its SHA-256 against the stored
// one, in constant time (jwtledger compares secret hashes the same way).
func (s *Service) authorized(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	if len(h) <= 7 || !strings.EqualFold(h[:7], "Bearer ") {
		return false
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(h[7:])))
	return subtle.ConstantTimeCompare(sum[:], s.secretHash[:]) == 1
}

// authenticate answers 401 (recorded) and returns false when the request
// lacks the secret.
func (s *Service) authenticate(w http.ResponseWriter, r *http.Request) bool {
	if s.authorized(r) {
		return true
	}
	reason := "missing credentials"
	if r.Header.Get("Authorization") != "" {
		reason = "invalid credentials"
	}
	if err := s.keep(r.Context(), &record{Time: s.cfg.Now(), Event: "auth.denied", Outcome: "denied", Reason: reason, Remote: r.RemoteAddr}); err != nil {
		s.unavailable(w, r, err)
		return false
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="baseline"`)
	writeError(w, http.StatusUnauthorized, "invalid_token", reason)
	return false
}

type issueRequest struct {
	Sub string           `json:"sub"`
	Aud jwt.ClaimStrings `json:"aud"`
}

type issueResponse struct {
	Token     string    `json:"token"`
	TokenType string    `json:"token_type"`
	ExpiresAt time.Time `json:"expires_at"`
	JTI       string    `json:"jti"`
	KID       string    `json:"kid"`
}

func (s *Service) issue(w http.ResponseWriter, r *http.Request) {
	if !s.authenticate(w, r) {
		return
	}
	var req issueRequest
	if !decode(w, r, &req) {
		return
	}
	now := s.cfg.Now()
	c := jwt.RegisteredClaims{
		Issuer: s.cfg.Issuer, Subject: req.Sub, Audience: req.Aud, ID: rand.Text(),
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(s.cfg.TTL)),
	}
	t := jwt.NewWithClaims(s.method, c)
	t.Header["kid"] = s.kid
	raw, err := t.SignedString(s.signKey)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "server_error", "internal error")
		return
	}
	sum := sha256.Sum256([]byte(raw))
	rec := &record{Time: now, Event: "token.issue", Outcome: "ok", Client: clientID, Remote: r.RemoteAddr,
		Sub: req.Sub, Aud: req.Aud, JTI: c.ID, KID: s.kid, Alg: s.method.Alg(), TokenSHA256: hex.EncodeToString(sum[:])}
	if err := s.keep(r.Context(), rec); err != nil {
		s.unavailable(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, issueResponse{Token: raw, TokenType: "Bearer", ExpiresAt: c.ExpiresAt.UTC(), JTI: c.ID, KID: s.kid})
}

type verifyRequest struct {
	Token string `json:"token"`
	Iss   string `json:"iss"`
	Aud   string `json:"aud"`
}

// verdict has the members of jwtledger's verdict.
type verdict struct {
	Valid   bool   `json:"valid"`
	Outcome string `json:"outcome"`
	Reason  string `json:"reason"`
	Header  any    `json:"header"`
	Claims  any    `json:"claims"`
}

func (s *Service) verify(w http.ResponseWriter, r *http.Request) {
	if !s.authenticate(w, r) {
		return
	}
	var req verifyRequest
	if !decode(w, r, &req) {
		return
	}
	if req.Token == "" {
		writeError(w, http.StatusBadRequest, "invalid_request", `"token" is required`)
		return
	}
	now := s.cfg.Now()
	opts := []jwt.ParserOption{jwt.WithValidMethods([]string{s.method.Alg()}), jwt.WithExpirationRequired(),
		jwt.WithLeeway(Leeway), jwt.WithTimeFunc(func() time.Time { return now })}
	if req.Iss != "" {
		opts = append(opts, jwt.WithIssuer(req.Iss))
	}
	if req.Aud != "" {
		opts = append(opts, jwt.WithAudience(req.Aud))
	}
	claims := jwt.MapClaims{}
	t, err := jwt.ParseWithClaims(req.Token, claims, func(*jwt.Token) (any, error) { return s.verifyKey, nil }, opts...)
	v := verdict{Valid: err == nil, Outcome: outcome(err), Header: map[string]any{}, Claims: map[string]any{}}
	if err != nil {
		v.Reason = err.Error()
	}
	sum := sha256.Sum256([]byte(req.Token))
	rec := &record{Time: now, Event: "token.verify", Outcome: v.Outcome, Reason: v.Reason, Client: clientID, Remote: r.RemoteAddr,
		TokenSHA256: hex.EncodeToString(sum[:])}
	if t != nil && t.Header != nil {
		v.Header = t.Header
		rec.KID, _ = t.Header["kid"].(string)
		rec.Alg, _ = t.Header["alg"].(string)
	}
	// Claims are shown once the signature matched (golang-jwt checks the
	// claims after the signature), as jwtledger does.
	if err == nil || errors.Is(err, jwt.ErrTokenInvalidClaims) {
		v.Claims = claims
		rec.Sub, _ = claims["sub"].(string)
		rec.JTI, _ = claims["jti"].(string)
	}
	if err := s.keep(r.Context(), rec); err != nil {
		s.unavailable(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// outcome names a golang-jwt error with jwtledger's outcome names.
func outcome(err error) string {
	switch {
	case err == nil:
		return "valid"
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "malformed"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return "invalid_signature"
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return "unsupported_alg"
	case errors.Is(err, jwt.ErrTokenExpired):
		return "expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return "not_yet_valid"
	}
	return "invalid_claims"
}

// decode reads one JSON object of known members into dst, or answers 400
// (413 for a body over [MaxBodyBytes]) and returns false.
func decode(w http.ResponseWriter, r *http.Request, dst any) bool {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	err := dec.Decode(dst)
	if err == nil && dec.More() {
		err = errors.New("data after the object")
	}
	if err == nil {
		return true
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		writeError(w, http.StatusRequestEntityTooLarge, "invalid_request", fmt.Sprintf("request body larger than %d bytes", mbe.Limit))
	} else {
		writeError(w, http.StatusBadRequest, "invalid_request", "invalid JSON body: "+err.Error())
	}
	return false
}

// unavailable answers 503 to a request whose record failed, and logs why.
func (s *Service) unavailable(w http.ResponseWriter, r *http.Request, err error) {
	s.log.LogAttrs(r.Context(), slog.LevelError, "record failed", slog.String("path", r.URL.Path), slog.Any("err", err))
	writeError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "the record could not be written; nothing was issued or decided")
}

func writeError(w http.ResponseWriter, code int, name, desc string) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, code, map[string]string{"error": name, "error_description": desc})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}
