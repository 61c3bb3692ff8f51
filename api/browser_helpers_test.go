package api

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"go.etcd.io/bbolt"

	"github.com/switchboard-voip/switchboard/internal/browsertest"
	"github.com/switchboard-voip/switchboard/media/greeting"
	"github.com/switchboard-voip/switchboard/media/mailbox"
	"github.com/switchboard-voip/switchboard/presence"

	"net/http"
	"net/http/httptest"
	"sync/atomic"
)

// The web page's tests drive a real headless Chromium (Debian's chromium
// package; `make deps` installs it) over the DevTools protocol with
// chromedp, against a real Server with a real presence.Table, mailbox.Store
// and greeting.Store. Without Chromium they are skipped, unless CI=true,
// where a missing browser is a failure.

// webEnv is a Server with everything the page uses, served over HTTP.
type webEnv struct {
	table     *presence.Table
	store     *mailbox.Store
	greetings *greeting.Store
	srv       *httptest.Server
	users     testUsers
	calls     *fakeCalls // the calls in progress the page shows admins
	api       atomic.Pointer[Server]
	// restart replaces the Server with a new one (a new session key), as
	// a restart of Switchboard does, keeping the stores.
	restart func()
}

// newWebEnv starts a server for users, named in the presence table by
// names (in that order).
func newWebEnv(t *testing.T, us testUsers, names []presence.User) *webEnv {
	t.Helper()
	dir := t.TempDir()
	db, err := bbolt.Open(filepath.Join(dir, "db"), 0o600, &bbolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	store, err := mailbox.Open(db, filepath.Join(dir, "voicemail"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	table, err := presence.NewTable(names, &presence.MemoryStore{})
	if err != nil {
		t.Fatal(err)
	}
	greets, err := greeting.Open(filepath.Join(dir, "greetings"), nil)
	if err != nil {
		t.Fatal(err)
	}
	e := &webEnv{table: table, store: store, greetings: greets, users: us, calls: &fakeCalls{}}
	e.restart = func() {
		a := New(Options{Users: us, Voicemail: store, Presence: table, Greetings: greets, Calls: e.calls})
		if old := e.api.Swap(a); old != nil {
			old.Close()
		}
	}
	e.restart()
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.api.Load().Handler().ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		e.api.Load().Close() // end event streams, so Close does not wait for them
		e.srv.Close()
	})
	return e
}

// newDefaultWebEnv is newWebEnv with the package's users and names.
func newDefaultWebEnv(t *testing.T) *webEnv { return newWebEnv(t, users, names) }

// browser is one headless Chromium for a test; tab opens pages in it.
type browser struct {
	t   *testing.T
	ctx context.Context // the browser's (no deadline: it would stop the browser)
	env *webEnv
}

// newBrowser starts Chromium with a fresh profile. It stops at the end of
// the test, or when the test's time budget (limit) is spent.
func newBrowser(t *testing.T, env *webEnv, limit time.Duration) *browser {
	t.Helper()
	return &browser{t: t, ctx: browsertest.Start(t, limit), env: env}
}

// tab is one page in its own browser context (its own cookies: another
// session).
type tab struct {
	b   *browser
	ctx context.Context
}

func (b *browser) tab() *tab {
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	b.t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		b.t.Fatalf("new tab: %v", err)
	}
	return &tab{b: b, ctx: ctx}
}

// do runs steps, failing the test on error.
func (tb *tab) do(steps ...chromedp.Action[chromedp.Void]) {
	tb.b.t.Helper()
	if err := chromedp.Do(tb.ctx, steps...); err != nil {
		tb.b.t.Fatalf("browser: %v", tb.explain(err))
	}
}

// explain adds what the page shows to err, to make a failure readable.
func (tb *tab) explain(err error) error {
	ctx, cancel := context.WithTimeout(tb.ctx, 2*time.Second)
	defer cancel()
	text, terr := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText.slice(0, 600) : ""`))
	if terr != nil {
		return err
	}
	return fmt.Errorf("%w\npage shows: %q", err, strings.Join(strings.Fields(text), " "))
}

// eval evaluates a JavaScript expression.
func eval[T any](tb *tab, js string) T {
	tb.b.t.Helper()
	v, err := chromedp.Run(tb.ctx, chromedp.Evaluate[T](js))
	if err != nil {
		tb.b.t.Fatalf("evaluate %s: %v", js, tb.explain(err))
	}
	return v
}

// waitFor waits until the JavaScript expression is truthy, at most within.
func (tb *tab) waitFor(js string, within time.Duration) {
	tb.b.t.Helper()
	_, err := chromedp.Run(tb.ctx, chromedp.Poll[chromedp.Void](js,
		chromedp.WithPollingTimeout(within), chromedp.WithPollingInterval(20*time.Millisecond)))
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "timeout") {
			err = fmt.Errorf("not true within %v: %s (%w)", within, js, err)
		}
		tb.b.t.Fatalf("wait: %v", tb.explain(err))
	}
}

// open loads the page; it shows the sign-in form.
func (tb *tab) open() {
	tb.b.t.Helper()
	tb.do(chromedp.Navigate(tb.b.env.srv.URL + "/"))
	tb.waitFor(`!document.getElementById('signin').hidden`, 5*time.Second)
}

// signIn opens the page and signs in as ext through the form, then waits
// for the team list.
func (tb *tab) signIn(ext string) {
	tb.b.t.Helper()
	tb.open()
	tb.fillSignIn(ext, tb.b.env.users[ext].password)
	tb.waitFor(`!document.getElementById('app').hidden && document.querySelectorAll('#team .row').length > 0`, 5*time.Second)
}

// fillSignIn types ext and password into the form and submits it.
func (tb *tab) fillSignIn(ext, password string) {
	tb.b.t.Helper()
	tb.do(
		chromedp.SendKeys(chromedp.CSS("#signin-ext"), ext),
		chromedp.SendKeys(chromedp.CSS("#signin-password"), password),
		chromedp.Click(chromedp.CSS("#signin-button")),
	)
}

// waitRow waits until ext's row shows status, and checks the colour and
// text that go with it.
func (tb *tab) waitRow(ext, status string, within time.Duration) {
	tb.b.t.Helper()
	tb.waitFor(fmt.Sprintf(`(document.querySelector('#team .row[data-ext="%s"]') || {dataset: {}}).dataset.status === %q`, ext, status), within)
	want := map[string]struct{ text, dot string }{
		"available": {"Available", "rgb(26, 127, 55)"},
		"busy":      {"Busy", "rgb(207, 34, 46)"},
		"dnd":       {"DND", "rgb(209, 139, 0)"},
	}[status]
	got := eval[[]string](tb, fmt.Sprintf(`(() => {
		const p = document.querySelector('#team .row[data-ext="%s"] .pill');
		return [p.innerText.trim(), getComputedStyle(p.querySelector('.dot')).backgroundColor];
	})()`, ext))
	if got[0] != want.text || got[1] != want.dot {
		tb.b.t.Errorf("row %s (%s): pill shows %q in %s, want %q in %s", ext, status, got[0], got[1], want.text, want.dot)
	}
}
