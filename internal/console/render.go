package console

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
	"time"
)

// The pages; each is templates/NAME.html with the layout.
var pageNames = []string{"login", "error", "overview", "explorer", "record", "integrity", "debugger", "keys", "clients"}

func (c *Console) parseTemplates() error {
	funcs := template.FuncMap{
		"time":  htmlTime,
		"hex":   func(b []byte) string { return hex.EncodeToString(b) },
		"b64":   func(b []byte) string { return base64.StdEncoding.EncodeToString(b) },
		"join":  strings.Join,
		"short": func(s string) string { return shorten(s, 16) },
		"deref": func(b *bool) bool { return b != nil && *b },
	}
	c.pages = map[string]*template.Template{}
	for _, name := range pageNames {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return fmt.Errorf("console: template %s: %w", name, err)
		}
		c.pages[name] = t
	}
	return nil
}

// assetTag is a hash of the static files, added to their URLs so that a
// new release is never served stale assets from a cache.
func assetTag() string {
	h := sha256.New()
	fs.WalkDir(staticFS, "static", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := staticFS.ReadFile(p)
			h.Write([]byte(p))
			h.Write(b)
		}
		return nil
	})
	return hex.EncodeToString(h.Sum(nil)[:6])
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// htmlTime renders t as a <time> the script shows in the browser's locale
// and time zone (UTC without script).
func htmlTime(t time.Time) template.HTML {
	if t.IsZero() {
		return ""
	}
	u := t.UTC()
	return template.HTML(`<time datetime="` + u.Format(time.RFC3339Nano) + `">` + u.Format("2006-01-02 15:04:05") + ` UTC</time>`)
}

// page is what every template gets.
type page struct {
	x      *exchange
	Title  string
	Nav    string
	Prefix string
	Lang   string
	Assets string
	Client *Client
	CSRF   string
	Back   string // where the language switch returns to: this page, for a GET
	Data   any
}

// pagePaths are the pages a language switch returns to after a POST.
var pagePaths = map[string]string{"overview": "/", "explorer": "/audit", "integrity": "/integrity", "debugger": "/debugger", "keys": "/keys", "clients": "/clients"}

// T is message key in the page's language.
func (p *page) T(key string, args ...any) string { return p.x.c.cat.text(p.Lang, key, args...) }

// Other is the language the switch offers.
func (p *page) Other() string {
	if p.Lang == "ko" {
		return "en"
	}
	return "ko"
}

// Ago says how long before now t was ("3 min ago"), or how long after
// ("in 14 min"), in the page's language.
func (p *page) Ago(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	d := t.Sub(p.x.c.now())
	key := "time.in"
	if d < 0 {
		d, key = -d, "time.ago"
	}
	return p.T(key, p.Span(d))
}

// Span renders a duration roughly, in the largest unit that fits.
func (p *page) Span(d time.Duration) string {
	switch {
	case d < time.Minute:
		return p.T("unit.s", int(d/time.Second))
	case d < time.Hour:
		return p.T("unit.min", int(d/time.Minute))
	case d < 48*time.Hour:
		return p.T("unit.h", int(d/time.Hour))
	}
	return p.T("unit.d", int(d/(24*time.Hour)))
}

// Has reports whether the signed-in client holds scope.
func (p *page) Has(scope string) bool { return p.Client != nil && p.Client.Has(scope) }

// Scripts are the strings the page's script may show, from the catalogue.
func (p *page) Scripts() map[string]string {
	m := map[string]string{}
	for k := range p.x.c.cat[Languages[0]] {
		if strings.HasPrefix(k, "js.") {
			m[k] = p.T(k)
		}
	}
	return m
}

// render writes page name with status.
func (x *exchange) render(status int, name, title string, data any) error {
	p := &page{x: x, Title: x.c.cat.text(x.lang, title), Nav: name, Prefix: x.c.prefix, Lang: x.lang, Assets: x.c.assetTag, Client: x.client, Data: data}
	if x.sess != nil {
		p.CSRF = x.sess.csrf
	} else {
		p.CSRF = x.loginToken()
	}
	p.Back = x.c.prefix + pagePaths[name]
	if x.r.Method == http.MethodGet && status == http.StatusOK {
		p.Back = x.r.URL.RequestURI()
	}
	var buf bytes.Buffer
	if err := x.c.pages[name].Execute(&buf, p); err != nil {
		return fmt.Errorf("render %s: %w", name, err)
	}
	h := x.w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Language", x.lang)
	x.w.WriteHeader(status)
	_, err := x.w.Write(buf.Bytes())
	return err
}

func (x *exchange) ok(name, title string, data any) error {
	return x.render(http.StatusOK, name, title, data)
}
