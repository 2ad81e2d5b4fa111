package console

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/jwtledger/jwtledger/internal/audit"
)

// Cookies of the console, all HttpOnly, SameSite=Strict and limited to
// its path.
const (
	sessionCookie = "jwtledger_session"
	loginCookie   = "jwtledger_login" // the CSRF token of the sign-in form
)

// secure reports whether cookies get the Secure attribute: over TLS, or
// when a proxy says the browser used HTTPS. X-Forwarded-Proto is taken
// from anyone because it can only add Secure: a client that fakes it over
// plain HTTP merely loses its own cookie.
func secure(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

func (x *exchange) setCookie(name, value string, maxAge int) {
	http.SetCookie(x.w, &http.Cookie{Name: name, Value: value, Path: x.c.prefix + "/", MaxAge: maxAge,
		HttpOnly: true, Secure: secure(x.r), SameSite: http.SameSiteStrictMode})
}

// loginToken is the sign-in form's CSRF token (double submit: the form
// and a cookie must carry the same random value), made on first use.
func (x *exchange) loginToken() string {
	if ck, err := x.r.Cookie(loginCookie); err == nil && len(ck.Value) == 43 {
		return ck.Value
	}
	tok := randomToken()
	x.setCookie(loginCookie, tok, 3600)
	// Later calls in this request see it.
	x.r.AddCookie(&http.Cookie{Name: loginCookie, Value: tok})
	return tok
}

type loginData struct {
	ID    string
	Error string
}

func (c *Console) loginPage(x *exchange) error {
	if x.sess != nil {
		http.Redirect(x.w, x.r, c.prefix+"/", http.StatusSeeOther)
		return nil
	}
	return x.ok("login", "login.title", loginData{})
}

// login exchanges a client id and secret for a session. The secret is only
// compared (by the ledger, in constant time): it is never stored, logged
// or put in a cookie or URL.
func (c *Console) login(x *exchange) error {
	if ck, err := x.r.Cookie(loginCookie); err != nil || !validToken(x.r.PostFormValue("csrf"), ck.Value) {
		return x.denyAs(x.r.PostFormValue("client_id"), "console sign-in: missing or wrong CSRF token", "error.csrf")
	}
	if err := c.xorigin.Check(x.r); err != nil {
		return x.denyAs(x.r.PostFormValue("client_id"), "console sign-in: cross-origin request", "error.csrf")
	}
	src := source(x.r)
	id := strings.TrimSpace(x.r.PostFormValue("client_id"))
	if blocked, wait := c.limit.blocked(src); blocked {
		x.w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
		return x.fail(http.StatusTooManyRequests, "error.toomany", int(wait.Minutes())+1)
	}
	secret := x.r.PostFormValue("client_secret")
	cl, err := c.b.Authenticate(x.r.Context(), id, secret)
	refused := func(reason, msg string) error {
		if err := c.b.RecordDenied(x.r.Context(), "console sign-in: "+reason, x.meta(id)); err != nil {
			return err
		}
		x.w.Header().Set("Cache-Control", "no-store")
		return x.render(http.StatusUnauthorized, "login", "login.title", loginData{ID: id, Error: x.c.cat.text(x.lang, msg)})
	}
	switch {
	case errors.Is(err, ErrUnauthenticated) || (err == nil && id == ""):
		c.limit.fail(src)
		if secret == "" {
			return refused("missing credentials", "login.bad")
		}
		return refused("invalid credentials", "login.bad")
	case err != nil:
		return err
	case !cl.Has(ScopeAudit):
		c.limit.fail(src)
		return refused("scope audit:read required", "login.scope")
	}
	if err := c.b.RecordSession(x.r.Context(), audit.ConsoleLogin, "console sign-in", x.meta(cl.ID)); err != nil {
		return err
	}
	c.limit.succeed(src)
	if x.sess != nil {
		c.sess.end(x.sid) // a new session id at every sign-in (no fixation)
	}
	sid, _ := c.sess.create(cl.ID)
	x.setCookie(sessionCookie, sid, int(SessionLifetime.Seconds()))
	x.setCookie(loginCookie, "", -1)
	http.Redirect(x.w, x.r, c.prefix+"/", http.StatusSeeOther)
	return nil
}

func (c *Console) logout(x *exchange) error {
	if err := c.b.RecordSession(x.r.Context(), audit.ConsoleLogout, "console sign-out", x.meta(x.client.ID)); err != nil {
		return err
	}
	c.sess.end(x.sid)
	x.setCookie(sessionCookie, "", -1)
	http.Redirect(x.w, x.r, c.prefix+"/login", http.StatusSeeOther)
	return nil
}

// setLanguage remembers the language picked with the switch, then goes
// back to the page it was picked on (a path of the console only).
func (c *Console) setLanguage(x *exchange) error {
	want := x.loginToken()
	if x.sess != nil {
		want = x.sess.csrf
	}
	if err := c.xorigin.Check(x.r); err != nil || !validToken(x.r.PostFormValue("csrf"), want) {
		return x.fail(http.StatusForbidden, "error.csrf")
	}
	lang := x.r.PostFormValue("lang")
	if !slices.Contains(Languages, lang) {
		return x.fail(http.StatusBadRequest, "error.request", lang)
	}
	x.setCookie(langCookie, lang, 365*24*3600)
	back := x.r.PostFormValue("back")
	if !strings.HasPrefix(back, c.prefix+"/") || strings.HasPrefix(back, "//") || strings.ContainsAny(back, "\\\r\n") {
		back = c.prefix + "/"
	}
	http.Redirect(x.w, x.r, back, http.StatusSeeOther)
	return nil
}
