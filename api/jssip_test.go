package api

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-voip/switchboard/internal/needs"
)

// needBundle is the browser phone's JsSIP bundle, which `make web` builds from the npm lockfile
// into web/ before go embeds it: without it the test is skipped, but under CI (make test runs
// make web first) a missing bundle is a broken build.
func needBundle(t *testing.T) webAsset {
	t.Helper()
	a, ok := webAssets["jssip.js"]
	if !ok {
		if needs.InCI() {
			t.Fatal("api/web/jssip.js is not embedded although CI is set: make web should have built it")
		}
		t.Skip("api/web/jssip.js not built: run make web")
	}
	return a
}

func TestJsSIPBundleIsServed(t *testing.T) {
	needBundle(t)
	e := newDefaultWebEnv(t)
	res, err := http.Get(e.srv.URL + "/web/jssip.js")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 || !strings.Contains(res.Header.Get("Content-Type"), "javascript") ||
		!strings.Contains(string(body), "JsSIP") {
		t.Fatalf("GET /web/jssip.js: %d %q, %d bytes", res.StatusCode, res.Header.Get("Content-Type"), len(body))
	}
}

func TestJsSIPBundleLoadsInTheBrowser(t *testing.T) {
	needBundle(t)
	e := newDefaultWebEnv(t)
	b := newBrowser(t, e, 30*time.Second)
	p := b.tab()
	p.open()
	// The page's own origin serves the bundle, so its Content-Security-Policy lets it run.
	eval[bool](p, `(() => { const s = document.createElement('script'); s.src = '/web/jssip.js'; document.head.appendChild(s); return true; })()`)
	p.WaitFor(`typeof JsSIP !== 'undefined' && typeof JsSIP.UA === 'function'`, 10*time.Second)
	if v := eval[string](p, `JsSIP.version`); v != "3.13.8" {
		t.Fatalf("JsSIP.version %q, want the lockfile's 3.13.8", v)
	}
}
