package api

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"go.etcd.io/bbolt"

	"github.com/switchboard-voip/switchboard/directory"
	"github.com/switchboard-voip/switchboard/history"
	"github.com/switchboard-voip/switchboard/internal/browser"
	"github.com/switchboard-voip/switchboard/media/greeting"
	"github.com/switchboard-voip/switchboard/media/mailbox"
	"github.com/switchboard-voip/switchboard/presence"
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
	history   *history.Store
	srv       *httptest.Server
	users     testUsers
	calls     *fakeCalls // the calls in progress the page shows admins
	callbacks *fakeCallbacks
	api       atomic.Pointer[Server]
	// restart replaces the Server with a new one (a new session key), as
	// a restart of Switchboard does, keeping the stores.
	restart func()
	// phone, when set before a restart, gives the page its web phone.
	phone *phoneOptions
	// wallboard, when set before a restart, serves the queue wallboard.
	wallboard Wallboard
	// dir, when set before a restart, is the live directory: it serves the directory routes
	// and signs users in (dirUsers).
	dir *directory.Directory
}

// phoneOptions are a webEnv's web phone settings.
type phoneOptions struct {
	creds   PhoneCredentials
	sockets []string
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
	pstore := &presence.MemoryStore{}
	table, err := presence.NewTable(names, pstore, presence.WithHours(pstore))
	if err != nil {
		t.Fatal(err)
	}
	hist, err := history.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	greets, err := greeting.Open(filepath.Join(dir, "greetings"), nil)
	if err != nil {
		t.Fatal(err)
	}
	e := &webEnv{table: table, store: store, greetings: greets, history: hist, users: us, calls: &fakeCalls{}, callbacks: &fakeCallbacks{}}
	e.restart = func() {
		o := Options{Users: us, Voicemail: store, Presence: table, Greetings: greets, Calls: e.calls, History: hist,
			Wallboard: e.wallboard, Callbacks: e.callbacks}
		if e.phone != nil {
			o.PhoneCredentials, o.PhoneWebSockets = e.phone.creds, e.phone.sockets
		}
		if e.dir != nil {
			o.Directory, o.Users = e.dir, dirUsers{e.dir}
		}
		a := New(o)
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

// webBrowser is one headless Chromium for a test (internal/browser); tab opens pages in it.
type webBrowser struct {
	*browser.Browser
	t   *testing.T
	env *webEnv
}

// newBrowser starts Chromium with a fresh profile. It stops at the end of
// the test, or when the test's time budget (limit) is spent.
func newBrowser(t *testing.T, env *webEnv, limit time.Duration) *webBrowser {
	t.Helper()
	return &webBrowser{Browser: browser.Start(t, limit), t: t, env: env}
}

// tab is one page in its own browser context (its own cookies: another
// session).
type tab struct {
	*browser.Page
	t   *testing.T
	env *webEnv
}

func (b *webBrowser) tab() *tab { return &tab{Page: b.Tab(), t: b.t, env: b.env} }

// eval evaluates a JavaScript expression.
func eval[T any](tb *tab, js string) T {
	tb.t.Helper()
	return browser.Eval[T](tb.Page, js)
}

// open loads the page; it shows the sign-in form.
func (tb *tab) open() {
	tb.t.Helper()
	tb.Do(chromedp.Navigate(tb.env.srv.URL + "/"))
	tb.WaitFor(`!document.getElementById('signin').hidden`, 5*time.Second)
}

// signIn opens the page and signs in as ext through the form, then waits
// for the team list.
func (tb *tab) signIn(ext string) {
	tb.t.Helper()
	tb.open()
	tb.fillSignIn(ext, tb.env.users[ext].password)
	tb.WaitFor(`!document.getElementById('app').hidden && document.querySelectorAll('#team .row').length > 0`, 5*time.Second)
}

// fillSignIn types ext and password into the form and submits it.
func (tb *tab) fillSignIn(ext, password string) {
	tb.t.Helper()
	tb.Do(
		chromedp.SendKeys(chromedp.CSS("#signin-ext"), ext),
		chromedp.SendKeys(chromedp.CSS("#signin-password"), password),
		chromedp.Click(chromedp.CSS("#signin-button")),
	)
}
