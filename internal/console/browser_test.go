package console_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/jwtledger/jwtledger/trail"
)

// chromium finds Debian's chromium; without it the browser tests skip,
// except in CI (CI=true), where they fail.
func chromium(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("JWTLEDGER_CHROMIUM"), "/usr/bin/chromium", "chromium"} {
		if p == "" {
			continue
		}
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium not found: CI must install Debian's chromium (apt-get install chromium)")
	}
	t.Skip("chromium not found (apt-get install chromium, or set JWTLEDGER_CHROMIUM)")
	return ""
}

// newBrowser starts a headless chromium with a fresh profile and records
// the URL of every request it makes.
func newBrowser(t *testing.T) (context.Context, func() []string) {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium(t)),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1200, 900),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelC(); cancelA() })
	var mu sync.Mutex
	var urls []string
	// Start the browser and its tab first (Run's first context must have
	// no timeout), so that Listen sees every request from then on.
	if err := chromedp.Do(ctx, actxTab(ctx)); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	if err := chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok {
			mu.Lock()
			urls = append(urls, e.Request.URL)
			mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	return ctx, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), urls...)
	}
}

// shot saves a screenshot of the page when JWTLEDGER_SCREENSHOTS names a
// directory (the README's pictures are made so).
func shot(t *testing.T, ctx context.Context, name string) {
	dir := os.Getenv("JWTLEDGER_SCREENSHOTS")
	if dir == "" {
		return
	}
	buf, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "console-"+name+".png"), buf, 0o644); err != nil {
		t.Fatal(err)
	}
}

// run runs the steps, each within 20 s.
func run(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// value runs one action and returns its value.
func value[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// submit clicks sel and waits for the page it leads to; it returns the
// page's HTTP status.
func submit(t *testing.T, ctx context.Context, sel string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("click %s: %v", sel, err)
	}
	return resp.Status
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	return value(t, ctx, "read "+sel, chromedp.Text(chromedp.CSS(sel)))
}

func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	return value(t, ctx, js, chromedp.Evaluate[T](js))
}

func location(t *testing.T, ctx context.Context) string {
	t.Helper()
	return value(t, ctx, "location", chromedp.Location())
}

// actxTab is no step at all: running it opens the tab.
func actxTab(context.Context) chromedp.Action[chromedp.Void] {
	return func(context.Context, *chromedp.Target) (chromedp.Void, error) { return chromedp.Void{}, nil }
}

func signInBrowser(t *testing.T, ctx context.Context, e *env, name string) {
	t.Helper()
	c := e.creds[name]
	run(t, ctx, "sign in as "+name,
		chromedp.Navigate(e.srv.URL+"/console/login"),
		chromedp.WaitVisible(chromedp.CSS("#client_id")),
		chromedp.SendKeys(chromedp.CSS("#client_id"), c.ID),
		chromedp.SendKeys(chromedp.CSS("#client_secret"), c.Secret))
	submit(t, ctx, "#sign-in")
}

// TestBrowser drives Debian's chromium through the console: sign in, the
// overview, the explorer's filter and live tail, a proof checked in the
// page, the token debugger, Korean, a key rotation, sign out; and what
// must fail: a client with only tokens:verify, a form posted from another
// origin, an expired session. Nothing may be fetched from elsewhere.
func TestBrowser(t *testing.T) {
	e := newEnv(t)
	ctx, requests := newBrowser(t)
	for i := range 5 {
		e.issue(fmt.Sprintf("alice-%d", i))
	}
	tok := e.issue("bob")
	e.api("POST", "/v1/tokens/verify", "admin", map[string]any{"token": tok})
	e.api("POST", "/v1/tokens/verify", "admin", map[string]any{"token": tok + "x"})
	evilURL := "" // the CSRF test's page, on another origin
	t.Run("verify-only client cannot open the console", func(t *testing.T) {
		signInBrowser(t, ctx, e, "verifier")
		run(t, ctx, "error", chromedp.WaitVisible(chromedp.CSS("#login-error")))
		url := location(t, ctx)
		if !strings.HasSuffix(url, "/console/login") {
			t.Fatalf("at %s after a refused sign-in", url)
		}
		if got := text(t, ctx, "#login-error"); !strings.Contains(got, "audit:read") {
			t.Fatalf("error says %q", got)
		}
		if recs := e.records(trail.Filter{Event: "auth.denied", Actor: e.creds["verifier"].ID}); len(recs) != 1 || !strings.Contains(recs[0].Reason, "audit:read") {
			t.Fatalf("auth.denied records of the refused sign-in: %v", recs)
		}
	})

	t.Run("sign in and see the overview", func(t *testing.T) {
		signInBrowser(t, ctx, e, "admin")
		run(t, ctx, "overview", chromedp.WaitVisible(chromedp.CSS("#issued")))
		if got := text(t, ctx, "#issued"); got != "6" {
			t.Fatalf("overview counts %s tokens issued, want 6", got)
		}
		svgs := eval[int](t, ctx, `document.querySelectorAll("svg.chart rect").length`)
		if svgs == 0 {
			t.Fatal("the overview has no chart bars")
		}
		if recs := e.records(trail.Filter{Event: "console.login"}); len(recs) != 1 || recs[0].Actor != e.creds["admin"].ID {
			t.Fatalf("console.login records: %v", recs)
		}
		shot(t, ctx, "overview")
	})

	t.Run("keyboard and a 375 px screen", func(t *testing.T) {
		run(t, ctx, "tab", chromedp.KeyEvent(kb.Tab))
		focused := eval[string](t, ctx, `document.activeElement.className`)
		if focused != "skip" {
			t.Fatalf("the first Tab focuses %q, want the skip link", focused)
		}
		run(t, ctx, "narrow",
			chromedp.EmulateViewport(375, 800),
			chromedp.Navigate(e.srv.URL+"/console/audit"), chromedp.WaitVisible(chromedp.CSS("#records")))
		overflow := eval[bool](t, ctx, `document.documentElement.scrollWidth > window.innerWidth + 1`)
		if overflow {
			t.Fatal("the explorer scrolls sideways at 375 px")
		}
		shot(t, ctx, "mobile")
		run(t, ctx, "wide", chromedp.EmulateViewport(1200, 900))
	})

	t.Run("filter the explorer", func(t *testing.T) {
		run(t, ctx, "filter",
			chromedp.Navigate(e.srv.URL+"/console/audit"),
			chromedp.WaitVisible(chromedp.CSS("#f-sub")),
			chromedp.SendKeys(chromedp.CSS("#f-sub"), "alice-3"))
		submit(t, ctx, "#apply")
		rows := eval[[]string](t, ctx, `Array.from(document.querySelectorAll("#records tbody tr")).map(r => r.cells[4].textContent)`)
		if len(rows) != 1 || rows[0] != "alice-3" {
			t.Fatalf("filtered rows: %v", rows)
		}
	})

	t.Run("live tail shows a new record within 1 s", func(t *testing.T) {
		run(t, ctx, "explorer",
			chromedp.Navigate(e.srv.URL+"/console/audit"),
			chromedp.WaitVisible(chromedp.CSS(`#tail-status[data-state="live"]`)))
		shot(t, ctx, "explorer")
		start := time.Now()
		e.issue("tail-carol")
		issued := time.Since(start)
		run(t, ctx, "tail row", chromedp.WaitVisible(chromedp.Search(`//table[@id="records"]//td[text()="tail-carol"]`)))
		took := time.Since(start) - issued
		t.Logf("live tail: the record appeared %v after the issuance answered", took)
		if took > time.Second {
			t.Fatalf("the record took %v to appear", took)
		}
	})

	t.Run("prove it in the page", func(t *testing.T) {
		rec := e.records(trail.Filter{Sub: "alice-1"})[0]
		run(t, ctx, "record page",
			chromedp.Navigate(fmt.Sprintf("%s/console/record/%s/%d", e.srv.URL, rec.Chain, rec.Seq)),
			chromedp.WaitVisible(chromedp.CSS("#prove-it")),
			chromedp.Click(chromedp.CSS("#prove-it")),
			chromedp.WaitVisible(chromedp.CSS(`#prove-result[data-done="1"] li`)))
		states := eval[[]string](t, ctx, `Array.from(document.querySelectorAll("#prove-result li")).map(l => l.dataset.state + ": " + l.textContent)`)
		if len(states) != 5 {
			t.Fatalf("checks: %q", states)
		}
		for _, s := range states {
			if !strings.HasPrefix(s, "good: ") {
				t.Fatalf("a check did not pass: %q", states)
			}
		}
		shot(t, ctx, "record")
		// A key the checkpoint was not signed with is caught.
		run(t, ctx, "other key",
			chromedp.SetValue(chromedp.CSS("#trusted-key"), "other+00000000+AQ"+strings.Repeat("A", 42)+"="),
			chromedp.Click(chromedp.CSS("#prove-it")),
			chromedp.WaitVisible(chromedp.CSS(`#prove-result[data-done="1"] li.bad`)))
	})

	t.Run("decode a token in the debugger", func(t *testing.T) {
		tok := e.issue("dave")
		run(t, ctx, "debugger",
			chromedp.Navigate(e.srv.URL+"/console/debugger"),
			chromedp.WaitVisible(chromedp.CSS("#token")),
			chromedp.SetValue(chromedp.CSS("#token"), tok))
		submit(t, ctx, "#decode")
		run(t, ctx, "verdict", chromedp.WaitVisible(chromedp.CSS("#outcome")))
		if got := text(t, ctx, "#outcome"); !strings.Contains(got, "valid") {
			t.Fatalf("verdict %q", got)
		}
		if got := text(t, ctx, "#claims"); !strings.Contains(got, `"sub": "dave"`) {
			t.Fatalf("claims %q", got)
		}
		if got := text(t, ctx, "#times"); !strings.Contains(got, "expires in") {
			t.Fatalf("times %q", got)
		}
		if url := location(t, ctx); strings.Contains(url, tok[:20]) {
			t.Fatal("the token is in the URL")
		}
		shot(t, ctx, "debugger")
		if recs := e.records(trail.Filter{Event: "token.verify", Sub: "dave"}); len(recs) != 1 || recs[0].Actor != e.creds["admin"].ID {
			t.Fatalf("the debugger's verification records: %v", recs)
		}
	})

	t.Run("integrity and clients pages", func(t *testing.T) {
		run(t, ctx, "integrity",
			chromedp.Navigate(e.srv.URL+"/console/integrity"),
			chromedp.WaitVisible(chromedp.CSS("#run-verify")))
		submit(t, ctx, "#run-verify")
		run(t, ctx, "verified", chromedp.WaitVisible(chromedp.CSS("#verify-ok")))
		shot(t, ctx, "integrity")
		run(t, ctx, "clients", chromedp.Navigate(e.srv.URL+"/console/clients"), chromedp.WaitVisible(chromedp.CSS("#clients")))
		shot(t, ctx, "clients")
	})

	t.Run("switch to Korean and rotate a key", func(t *testing.T) {
		before, _ := e.l.Keys(context.Background())
		run(t, ctx, "keys", chromedp.Navigate(e.srv.URL+"/console/keys"), chromedp.WaitVisible(chromedp.CSS("#lang-switch")))
		submit(t, ctx, "#lang-switch")
		run(t, ctx, "korean", chromedp.WaitVisible(chromedp.CSS(`html[lang="ko"]`)))
		if got := text(t, ctx, "h1"); got != "서명 키" {
			t.Fatalf("the keys page in Korean is titled %q", got)
		}
		submit(t, ctx, "#rotate")
		run(t, ctx, "rotated", chromedp.WaitVisible(chromedp.CSS("#rotated")))
		after, _ := e.l.Keys(context.Background())
		if len(after) != len(before)+1 {
			t.Fatalf("%d keys after the rotation, %d before", len(after), len(before))
		}
		if got := text(t, ctx, "#rotated"); !strings.Contains(got, "교체됨") || !strings.Contains(got, after[len(after)-1].KID) {
			t.Fatalf("rotation notice %q", got)
		}
		shot(t, ctx, "keys-ko")
		if recs := e.records(trail.Filter{Event: "key.rotate", Actor: e.creds["admin"].ID}); len(recs) != 1 {
			t.Fatalf("key.rotate records: %v", recs)
		}
		submit(t, ctx, "#lang-switch")
		run(t, ctx, "english", chromedp.WaitVisible(chromedp.CSS(`html[lang="en"]`)))
	})

	t.Run("sign out", func(t *testing.T) {
		submit(t, ctx, "#sign-out")
		run(t, ctx, "signed out", chromedp.WaitVisible(chromedp.CSS("#sign-in")),
			chromedp.Navigate(e.srv.URL+"/console/"), chromedp.WaitVisible(chromedp.CSS("#sign-in")))
		if recs := e.records(trail.Filter{Event: "console.logout"}); len(recs) != 1 {
			t.Fatalf("console.logout records: %v", recs)
		}
		shot(t, ctx, "login")
	})

	t.Run("a form from another origin is refused", func(t *testing.T) {
		signInBrowser(t, ctx, e, "admin")
		run(t, ctx, "signed in", chromedp.WaitVisible(chromedp.CSS("#issued")))
		before, _ := e.l.Keys(context.Background())
		evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, `<!doctype html><form id="f" method="post" action="%s/console/keys/rotate"><input name="alg" value="EdDSA"></form><script>document.getElementById("f").submit()</script>`, e.srv.URL)
		}))
		defer evil.Close()
		evilURL = evil.URL
		run(t, ctx, "evil page", chromedp.Navigate(evil.URL), chromedp.WaitVisible(chromedp.Search(`//main//p[contains(@class,"error")]`)))
		after, _ := e.l.Keys(context.Background())
		if len(after) != len(before) {
			t.Fatal("a form posted from another origin rotated a key")
		}
		url := location(t, ctx)
		if recs := e.records(trail.Filter{Event: "auth.denied", Actor: e.creds["admin"].ID}); len(recs) == 0 || !strings.Contains(recs[len(recs)-1].Reason, "cross-origin") {
			t.Fatalf("no auth.denied record of the cross-origin form (at %s): %v", url, recs)
		}
	})

	t.Run("a session expires", func(t *testing.T) {
		run(t, ctx, "signed in", chromedp.Navigate(e.srv.URL+"/console/"), chromedp.WaitVisible(chromedp.CSS("#issued")))
		e.clock.advance(31 * time.Minute)
		run(t, ctx, "expired", chromedp.Navigate(e.srv.URL+"/console/audit"), chromedp.WaitVisible(chromedp.CSS("#sign-in")))
	})

	t.Run("nothing fetched from outside the server", func(t *testing.T) {
		urls := requests()
		if len(urls) < 20 {
			t.Fatalf("only %d requests were logged", len(urls))
		}
		for _, u := range urls {
			if !strings.HasPrefix(u, e.srv.URL+"/") && u != e.srv.URL && !strings.HasPrefix(u, "data:") && !strings.HasPrefix(u, "about:") && !strings.HasPrefix(u, evilURL) {
				t.Errorf("the browser fetched %s", u)
			}
		}
	})
}

// isEvil tells the CSRF test's own page (another origin on 127.0.0.1) apart.
func isEvil(u string) bool {
	return strings.HasPrefix(u, "http://127.0.0.1:") && !strings.Contains(u, "/console")
}
