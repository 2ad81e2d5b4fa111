// Package console is jwtledger's web console: server-rendered pages
// (html/template, embedded with the static files) over the ledger, for
// people who want to look at the audit trail rather than query it.
//
// It reads and changes the ledger only through the small interfaces of
// backend.go, which [FromLedger] implements with the calls the HTTP API
// makes, so every action has the API's scope checks and audit records.
// Sign-in exchanges a client id and secret for a session (session.go);
// every form carries the session's CSRF token and is refused from another
// origin; every answer carries a strict Content-Security-Policy.
package console

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/jwtledger/jwtledger/internal/audit"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Config configures a [Console]. Backend is required.
type Config struct {
	Backend Backend
	// Prefix is the URL path at which browsers reach the console, and
	// at which the server mounts it; default "/console". Behind a reverse
	// proxy, forward that path unchanged (X-Forwarded-Prefix is not
	// trusted: any client could send it).
	Prefix string
	// Logger receives operational logs (never tokens or secrets); nil discards.
	Logger *slog.Logger
	// Now is the clock of sessions and displayed ages; default time.Now.
	Now func() time.Time
	// RotateEvery and PrePublish describe the key rotation schedule on
	// the keys page (zero: no scheduled rotation).
	RotateEvery, PrePublish time.Duration
}

// Console serves the web console.
type Console struct {
	b      Backend
	prefix string
	log    *slog.Logger
	now    func() time.Time
	cfg    Config

	mux      *http.ServeMux
	pages    map[string]*template.Template
	cat      catalogue
	sess     *sessions
	limit    *limiter
	xorigin  *http.CrossOriginProtection
	verify   verifyJob
	static   http.Handler
	assetTag string

	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
}

// New makes the console of cfg.Backend.
func New(cfg Config) (*Console, error) {
	if cfg.Backend == nil {
		return nil, errors.New("console: no backend")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "/console"
	}
	p := "/" + strings.Trim(cfg.Prefix, "/")
	if p == "/" || strings.ContainsAny(p, "?#{} \\") || (&url.URL{Path: p}).EscapedPath() != p {
		return nil, fmt.Errorf("console: prefix %q: want a path such as /console", cfg.Prefix)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cat, err := loadCatalogue()
	if err != nil {
		return nil, err
	}
	c := &Console{b: cfg.Backend, prefix: p, log: cfg.Logger, now: cfg.Now, cfg: cfg, cat: cat,
		sess: newSessions(cfg.Now), limit: newLimiter(cfg.Now), xorigin: http.NewCrossOriginProtection(),
		stop: make(chan struct{})}
	if err := c.parseTemplates(); err != nil {
		return nil, err
	}
	sub, _ := fs.Sub(staticFS, "static")
	c.static = http.StripPrefix(p+"/static/", http.FileServerFS(sub))
	c.assetTag = assetTag()
	c.routes()
	return c, nil
}

// Warm asks for the overview's counts once, so that the store starts
// keeping them before the first page is opened (serve calls it at start).
func (c *Console) Warm(ctx context.Context) error {
	_, err := c.b.Counts(ctx, audit.CountQuery{Since: c.now().Add(-time.Hour), Step: audit.StepMinute})
	return err
}

// Prefix is the path the console is served at (no trailing slash).
func (c *Console) Prefix() string { return c.prefix }

// Close ends the live tails and a running verification; the console
// answers nothing afterwards. Call it when the server shuts down (live
// tails would otherwise keep their connections open).
func (c *Console) Close() {
	c.stopOnce.Do(func() { close(c.stop) })
	c.wg.Wait()
}

// ServeHTTP serves the console's pages under its prefix.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Cache-Control", "no-store") // the static files say otherwise
	c.mux.ServeHTTP(w, r)
}

func (c *Console) routes() {
	c.mux = http.NewServeMux()
	p := c.prefix
	c.mux.Handle("GET "+p+"/static/", http.HandlerFunc(c.serveStatic))
	c.mux.Handle("GET "+p+"/login", c.public(c.loginPage))
	c.mux.Handle("POST "+p+"/login", c.public(c.login))
	c.mux.Handle("POST "+p+"/lang", c.public(c.setLanguage))
	c.mux.Handle("POST "+p+"/logout", c.signedIn("", c.logout))
	c.mux.Handle("GET "+p+"/{$}", c.signedIn(ScopeAudit, c.overview))
	c.mux.Handle("GET "+p+"/audit", c.signedIn(ScopeAudit, c.explorer))
	c.mux.Handle("GET "+p+"/audit/tail", c.signedIn(ScopeAudit, c.tail))
	c.mux.Handle("GET "+p+"/audit/export", c.signedIn(ScopeAudit, c.export))
	c.mux.Handle("GET "+p+"/record/{chain}/{seq}", c.signedIn(ScopeAudit, c.record))
	c.mux.Handle("GET "+p+"/record/{chain}/{seq}/proof", c.signedIn(ScopeAudit, c.proof))
	c.mux.Handle("GET "+p+"/integrity", c.signedIn(ScopeAudit, c.integrity))
	c.mux.Handle("GET "+p+"/integrity/status", c.signedIn(ScopeAudit, c.verifyStatus))
	c.mux.Handle("POST "+p+"/integrity/verify", c.signedIn(ScopeAdmin, c.startVerify))
	c.mux.Handle("GET "+p+"/debugger", c.signedIn(ScopeAudit, c.debuggerPage))
	c.mux.Handle("POST "+p+"/debugger", c.signedIn(ScopeAudit, c.debug))
	c.mux.Handle("GET "+p+"/keys", c.signedIn(ScopeAdmin, c.keysPage))
	c.mux.Handle("POST "+p+"/keys/rotate", c.signedIn(ScopeAdmin, c.rotateKey))
	c.mux.Handle("GET "+p+"/clients", c.signedIn(ScopeAdmin, c.clientsPage))
	c.mux.Handle("POST "+p+"/clients", c.signedIn(ScopeAdmin, c.createClient))
	c.mux.Handle("POST "+p+"/clients/{id}/rotate-secret", c.signedIn(ScopeAdmin, c.rotateClient))
	c.mux.Handle("POST "+p+"/clients/{id}/delete", c.signedIn(ScopeAdmin, c.deleteClient))
	c.mux.Handle(p+"/", c.signedIn("", func(x *exchange) error { return x.fail(http.StatusNotFound, "error.notfound") }))
	c.mux.Handle(p, http.RedirectHandler(p+"/", http.StatusMovedPermanently))
}

func (c *Console) serveStatic(w http.ResponseWriter, r *http.Request) {
	// Asset URLs carry the assets' hash (?v=), so they may be cached long.
	w.Header().Set("Cache-Control", "public, max-age=86400")
	c.static.ServeHTTP(w, r)
}

// exchange is one request being served.
type exchange struct {
	c      *Console
	w      http.ResponseWriter
	r      *http.Request
	lang   string
	sid    string   // the session id from the cookie
	sess   *session // nil when not signed in
	client *Client
}

// meta identifies the signed-in client (or the would-be one) for records.
// The request id is the one the HTTP server set in X-Request-ID.
func (x *exchange) meta(actor string) Meta {
	return Meta{Actor: actor, Remote: x.r.RemoteAddr, RequestID: x.w.Header().Get("X-Request-ID")}
}

func (c *Console) newExchange(w http.ResponseWriter, r *http.Request) *exchange {
	x := &exchange{c: c, w: w, r: r}
	x.lang = c.cat.choose(r)
	if ck, err := r.Cookie(sessionCookie); err == nil {
		x.sid = ck.Value
		x.sess = c.sess.get(ck.Value)
	}
	return x
}

// public serves a page that needs no session.
func (c *Console) public(fn func(*exchange) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		x := c.newExchange(w, r)
		c.finish(x, fn(x))
	})
}

// signedIn serves a page for a session whose client (read again on every
// request: deleted clients and removed scopes take effect at once) holds
// scope; state-changing requests must come from the console's own pages.
func (c *Console) signedIn(scope string, fn func(*exchange) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		x := c.newExchange(w, r)
		c.finish(x, c.authorize(x, scope, fn))
	})
}

func (c *Console) authorize(x *exchange, scope string, fn func(*exchange) error) error {
	if x.sess == nil {
		if x.r.Method == http.MethodGet && !strings.HasSuffix(x.r.URL.Path, "/tail") && !strings.HasSuffix(x.r.URL.Path, "/status") && !strings.HasSuffix(x.r.URL.Path, "/proof") {
			http.Redirect(x.w, x.r, c.prefix+"/login", http.StatusSeeOther)
			return nil
		}
		return x.fail(http.StatusUnauthorized, "error.signedout")
	}
	cl, err := c.b.Client(x.r.Context(), x.sess.clientID)
	if errors.Is(err, ErrNotFound) {
		c.sess.end(x.sid)
		return x.fail(http.StatusUnauthorized, "error.signedout")
	}
	if err != nil {
		return err
	}
	x.client = cl
	if x.r.Method != http.MethodGet && x.r.Method != http.MethodHead {
		if err := x.checkForm(x.sess.csrf); err != nil {
			return err
		}
	}
	if scope != "" && !cl.Has(scope) {
		return x.deny("console "+x.r.Method+" "+strings.TrimPrefix(x.r.URL.Path, c.prefix)+": scope "+scope+" required", "error.scope", scope)
	}
	return fn(x)
}

// checkForm refuses a state-changing request from another origin (the
// browser's Sec-Fetch-Site, else Origin against Host) or without the
// expected synchronizer token; both are recorded as auth.denied.
func (x *exchange) checkForm(want string) error {
	actor := ""
	if x.sess != nil {
		actor = x.sess.clientID
	}
	if err := x.c.xorigin.Check(x.r); err != nil {
		return x.denyAs(actor, "console "+x.r.Method+" "+strings.TrimPrefix(x.r.URL.Path, x.c.prefix)+": cross-origin request", "error.csrf")
	}
	if !validToken(x.r.PostFormValue("csrf"), want) {
		return x.denyAs(actor, "console "+x.r.Method+" "+strings.TrimPrefix(x.r.URL.Path, x.c.prefix)+": missing or wrong CSRF token", "error.csrf")
	}
	return nil
}

// deny records a refusal of the signed-in client and answers 403.
func (x *exchange) deny(reason, msg string, args ...any) error {
	return x.denyAs(x.client.ID, reason, msg, args...)
}

func (x *exchange) denyAs(actor, reason, msg string, args ...any) error {
	if err := x.c.b.RecordDenied(x.r.Context(), reason, x.meta(actor)); err != nil {
		return err
	}
	return x.fail(http.StatusForbidden, msg, args...)
}

// pageError is an answer other than the page: a status and a message key.
type pageError struct {
	status int
	msg    string
	args   []any
}

func (e *pageError) Error() string { return fmt.Sprintf("%d %s", e.status, e.msg) }

func (x *exchange) fail(status int, msg string, args ...any) error {
	return &pageError{status: status, msg: msg, args: args}
}

// finish renders err, if any, as an error page.
func (c *Console) finish(x *exchange, err error) {
	if err == nil {
		return
	}
	var pe *pageError
	var re *RequestError
	switch {
	case errors.As(err, &pe):
	case errors.As(err, &re):
		pe = &pageError{status: http.StatusBadRequest, msg: "error.request", args: []any{re.Msg}}
	case errors.Is(err, ErrUnavailable):
		c.log.Error("console: audit trail unavailable", "path", x.r.URL.Path, "err", err)
		pe = &pageError{status: http.StatusServiceUnavailable, msg: "error.unavailable"}
	case errors.Is(err, context.Canceled):
		return
	default:
		c.log.Error("console: request failed", "path", x.r.URL.Path, "err", err)
		pe = &pageError{status: http.StatusInternalServerError, msg: "error.internal"}
	}
	if strings.Contains(x.r.Header.Get("Accept"), "application/json") || strings.HasSuffix(x.r.URL.Path, "/proof") || strings.HasSuffix(x.r.URL.Path, "/status") {
		x.w.Header().Set("Content-Type", "application/json")
		x.w.Header().Set("Cache-Control", "no-store")
		x.w.WriteHeader(pe.status)
		fmt.Fprintf(x.w, "{\"error\":%q}\n", c.cat.text(x.lang, pe.msg, pe.args...))
		return
	}
	x.render(pe.status, "error", "error.title", map[string]any{"Message": c.cat.text(x.lang, pe.msg, pe.args...)})
}
