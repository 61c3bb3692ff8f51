package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/switchboard-voip/switchboard/internal/browser"
	"github.com/switchboard-voip/switchboard/internal/needs"
)

// jsPhone is headless Chromium running a bare JsSIP phone (testdata/jssip-phone.html) whose
// microphone plays a tone: a browser user as the switch sees one.
type jsPhone struct {
	t       *testing.T
	browser *browser.Browser
	page    *browser.Page
	tone    float64
}

// startJsPhone starts Chromium with a fake microphone sending a tone of f Hz and opens the JsSIP
// test page on a server of the test's own (http on 127.0.0.1: a secure context).
func startJsPhone(t *testing.T, dir string, f float64) *jsPhone {
	t.Helper()
	bundle := filepath.Join("..", "..", "api", "web", "jssip.js")
	if _, err := os.Stat(bundle); err != nil {
		if needs.InCI() {
			t.Fatalf("%s missing although CI is set: make test runs make web first", bundle)
		}
		t.Skipf("%s not built: run make web", bundle)
	}
	wav := filepath.Join(dir, fmt.Sprintf("mic-%.0f.wav", f))
	writeToneWAV(t, wav, f, 0.4, 60*time.Second)
	mux := http.NewServeMux()
	mux.HandleFunc("/jssip.js", func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, bundle) })
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, filepath.Join("testdata", "jssip-phone.html"))
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })

	b := browser.StartWithMicrophone(t, 90*time.Second, wav)
	p := b.Page()
	p.Do(chromedp.Navigate("http://" + ln.Addr().String() + "/"))
	p.WaitFor(`typeof window.T === 'object' && typeof JsSIP === 'object'`, 10*time.Second)
	return &jsPhone{t: t, browser: b, page: p, tone: f}
}

// jsEval runs js in the phone's page.
func jsEval[T any](p *jsPhone, js string) T { p.t.Helper(); return browser.Eval[T](p.page, js) }

// startBrowserSwitch is startPeerSwitch with a WebSocket listener for browsers.
func startBrowserSwitch(t *testing.T) (*peerSwitch, int) {
	t.Helper()
	needs.Program(t, "baresip-core", "baresip")
	ws := freePort(t)
	return startPeerSwitchWith(t, vmConfig{md5Only: true, wsPort: ws}), ws
}

// jsUser starts a browser registered over the switch's WebSocket as ext of testUsers, whose
// microphone sends ext's peerTone.
func (ps *peerSwitch) jsUser(ws int, ext string) *jsPhone {
	t := ps.t
	t.Helper()
	p := startJsPhone(t, ps.dir, peerTone[ext])
	jsEval[bool](p, fmt.Sprintf(`(T.start(%q, %q, %q, '127.0.0.1'), true)`,
		fmt.Sprintf("ws://127.0.0.1:%d", ws), ext, testPassword(t, ext)))
	p.waitJS("registered", `T.registered || T.regError`, 10*time.Second)
	if e := jsEval[string](p, `T.regError`); e != "" {
		t.Fatalf("browser %s: registration failed: %s", ext, e)
	}
	waitLog(t, ps.sw, 10*time.Second, "contact registered", fmt.Sprintf(`"ext": %q`, ext))
	return p
}

// waitJS waits until js is truthy in the page, failing with what the phone saw.
func (p *jsPhone) waitJS(what, js string, within time.Duration) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.page.Context(), within)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](js, chromedp.WithPollingInterval(20*time.Millisecond)))
	if err != nil {
		state := jsEval[string](p, `JSON.stringify({state: T.state, cause: T.cause, incoming: T.incoming, log: T.log})`)
		p.t.Fatalf("browser: no %s within %v: %v; phone: %s", what, within, err, state)
	}
}

// waitHears waits until the browser has heard a second of the tone of who, clearly above the
// tones of notWho, and returns its level.
func (p *jsPhone) waitHears(what, who string, notWho ...string) float64 {
	p.t.Helper()
	js := fmt.Sprintf(`T.level(%g) > 0.05`, peerTone[who])
	for _, n := range notWho {
		js += fmt.Sprintf(` && T.level(%g) > 20 * T.level(%g)`, peerTone[who], peerTone[n])
	}
	p.waitJS(what, js, 10*time.Second)
	level := jsEval[float64](p, fmt.Sprintf(`T.level(%g)`, peerTone[who]))
	p.t.Logf("%s: %s's %.0f Hz at %.3f", what, who, peerTone[who], level)
	return level
}

// metric reads one sample of the switch's /metrics.
func (ps *peerSwitch) metric(name string) (float64, bool) {
	res, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", ps.cfg.HTTPPort))
	if err != nil {
		return 0, false
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f, err == nil
		}
	}
	return 0, false
}
