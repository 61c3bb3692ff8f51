package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image/png"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The phone app: /phone, the manifest, the service worker and the icons are what a phone's
// browser needs to install the page on the home screen.

func get(t *testing.T, url string) (*http.Response, []byte) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, body
}

func TestPhoneAppFiles(t *testing.T) {
	e := newDefaultWebEnv(t)
	res, body := get(t, e.srv.URL+"/phone")
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") ||
		!strings.Contains(string(body), `id="phone"`) || !strings.Contains(string(body), `rel="manifest"`) {
		t.Fatalf("GET /phone: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "connect-src 'self' ws: wss:") ||
		strings.Contains(csp, "unsafe-inline") {
		t.Errorf("CSP %q: want WebSockets allowed and no inline script", csp)
	}
	res, body = get(t, e.srv.URL+"/manifest.webmanifest")
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/manifest+json" {
		t.Fatalf("GET /manifest.webmanifest: %d %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	var m struct {
		Name      string `json:"name"`
		ShortName string `json:"short_name"`
		StartURL  string `json:"start_url"`
		Display   string `json:"display"`
		Icons     []struct{ Src, Sizes, Type string }
	}
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("manifest: %v\n%s", err, body)
	}
	if m.Name == "" || m.ShortName == "" || m.StartURL != "/phone" || m.Display != "standalone" {
		t.Fatalf("manifest %+v", m)
	}
	sizes := map[string]bool{}
	for _, ic := range m.Icons {
		res, body := get(t, e.srv.URL+ic.Src)
		if res.StatusCode != 200 || res.Header.Get("Content-Type") != ic.Type {
			t.Fatalf("icon %s: %d %q", ic.Src, res.StatusCode, res.Header.Get("Content-Type"))
		}
		if ic.Type == "image/png" {
			cfg, err := png.DecodeConfig(bytes.NewReader(body))
			if err != nil {
				t.Fatalf("icon %s: %v", ic.Src, err)
			}
			if got := fmt.Sprintf("%dx%d", cfg.Width, cfg.Height); got != ic.Sizes {
				t.Errorf("icon %s is %s, the manifest says %s", ic.Src, got, ic.Sizes)
			}
			sizes[ic.Sizes] = true
		}
	}
	if !sizes["192x192"] || !sizes["512x512"] {
		t.Errorf("icons %v: want 192 and 512 PNGs", sizes)
	}
	res, body = get(t, e.srv.URL+"/sw.js")
	if res.StatusCode != 200 || !strings.Contains(res.Header.Get("Content-Type"), "javascript") ||
		!strings.Contains(string(body), "'/phone'") {
		t.Fatalf("GET /sw.js: %d %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
}

// TestPhoneAppInTheBrowser: at /phone on a phone-sized screen the signed-in user sees their
// status switch without scrolling, the web phone (not registered: nothing listens where it is
// told to go), its dial pad and a Call button on each colleague's row; the service worker
// registers for the whole page.
func TestPhoneAppInTheBrowser(t *testing.T) {
	needBundle(t)
	e := newDefaultWebEnv(t)
	e.phone = &phoneOptions{creds: fakeCreds{}, sockets: []string{"ws://127.0.0.1:9"}}
	e.restart()
	b := newBrowser(t, e, 40*time.Second)
	tb := b.tab()
	tb.Do(chromedp.EmulateViewport(360, 740, chromedp.EmulateScale(2), chromedp.EmulateMobile, chromedp.EmulatePortrait))
	tb.Do(chromedp.Navigate(e.srv.URL + "/phone"))
	tb.WaitFor(`!document.getElementById('signin').hidden`, 5*time.Second)
	tb.fillSignIn("1002", users["1002"].password)
	tb.WaitFor(`!document.getElementById('app').hidden && document.querySelectorAll('#team .row').length > 0`, 5*time.Second)

	tb.WaitFor(`!document.getElementById('phone').hidden && ['connecting', 'error'].includes(window.SwitchboardPhone.state)`, 10*time.Second)
	if !eval[bool](tb, `(() => { const r = document.getElementById('me-switch-label').getBoundingClientRect();
		return r.top >= 0 && r.bottom <= innerHeight && r.width > 0; })()`) {
		t.Error("the status switch is not on the first screen at 360 px")
	}
	if eval[bool](tb, `document.documentElement.scrollWidth > innerWidth`) {
		t.Error("the page scrolls sideways at 360 px")
	}
	for _, k := range []string{"1", "0", "0", "3"} {
		tb.Do(chromedp.Click(chromedp.CSS(`#phone-keypad button[data-key="` + k + `"]`)))
	}
	if v := eval[string](tb, `document.getElementById('phone-number').value`); v != "1003" {
		t.Errorf("the dial pad typed %q, want 1003", v)
	}
	if n := eval[int](tb, `document.querySelectorAll('#team .row .row-call').length`); n != len(names)-1 {
		t.Errorf("%d Call buttons, want one per colleague (%d)", n, len(names)-1)
	}
	if label := eval[string](tb, `document.querySelector('#team .row[data-ext="1003"] .row-call').getAttribute('aria-label')`); !strings.Contains(label, "Available") {
		t.Errorf("Carol's Call button says %q, want her status in it", label)
	}
	tb.WaitFor(`navigator.serviceWorker.ready.then(r => window.__swScope = r.scope) && window.__swScope === location.origin + '/'`, 10*time.Second)
}
