package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/switchboard-voip/switchboard/internal/browser"
	"github.com/switchboard-voip/switchboard/internal/poll"
	"github.com/switchboard-voip/switchboard/internal/sipphone"
)

// Helpers for the whole-system web tests (web_test.go): the real binary with an admin in its
// config, a headless Chromium driven with chromedp on its team page, and small sipgo phones
// that register, answer and place calls.

// webUser is one account of the web tests' config.
type webUser struct {
	ext, name, password string
	admin               bool
}

// webUsers are the accounts of the web tests: 1001 is an admin, as in the demo config.
var webUsers = []webUser{
	{"1001", "Alice", "alice-secret", true},
	{"1002", "Bob", "bob-secret", false},
	{"1003", "Carol", "carol-secret", false},
	{"1004", "Dave", "dave-secret", false},
	{"1005", "Erin", "erin-secret", false},
}

func webPassword(ext string) string {
	for _, u := range webUsers {
		if u.ext == ext {
			return u.password
		}
	}
	return ""
}

// webSwitch is the running binary and where it listens.
type webSwitch struct {
	cfg  switchConfig
	dir  string
	proc *switchProcess
	base string // http://127.0.0.1:PORT
}

// startWebSwitch writes a config with webUsers (and the YAML sections in extra, such as a
// queues list) into a temp dir, starts the real binary on it and waits until its HTTP API
// answers.
func startWebSwitch(t *testing.T, extra ...string) *webSwitch {
	t.Helper()
	dir := t.TempDir()
	lo, hi := rtpRange(t, 100)
	c := switchConfig{SIPPort: freePort(t), HTTPPort: freePort(t), RTPMin: lo, RTPMax: hi}
	var b strings.Builder
	fmt.Fprintf(&b, "sip:\n  listen: [\"udp:127.0.0.1:%d\", \"tcp:127.0.0.1:%d\"]\n  realm: switchboard\n", c.SIPPort, c.SIPPort)
	fmt.Fprintf(&b, "media:\n  address: 127.0.0.1\n  rtp_ports: \"%d-%d\"\n", c.RTPMin, c.RTPMax)
	fmt.Fprintf(&b, "http:\n  listen: \"127.0.0.1:%d\"\n", c.HTTPPort)
	b.WriteString("data_dir: ./data\nusers:\n")
	for _, u := range webUsers {
		fmt.Fprintf(&b, "  - ext: %q\n    name: %s\n    password: %s\n", u.ext, u.name, u.password)
		if u.admin {
			b.WriteString("    admin: true\n")
		}
	}
	for _, section := range extra {
		b.WriteString(section)
	}
	path := filepath.Join(dir, "switchboard.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	sw := &webSwitch{cfg: c, dir: dir, base: "http://127.0.0.1:" + strconv.Itoa(c.HTTPPort)}
	sw.proc = startBinary(t, c, path)
	var err error
	if !poll.Until(10*time.Second, func() bool {
		var res *http.Response
		if res, err = http.Get(sw.base + "/healthz"); err != nil {
			return false
		}
		_ = res.Body.Close()
		return res.StatusCode == http.StatusOK
	}) {
		t.Fatalf("GET %s/healthz: no 200 within 10s (%v)", sw.base, err)
	}
	return sw
}

// api sends a request with Basic auth as ext and returns the status and body.
func (sw *webSwitch) api(t testing.TB, method, path, ext string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, sw.base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(ext, webPassword(ext))
	cl := &http.Client{Timeout: 5 * time.Second}
	res, err := cl.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, body
}

// presence returns GET /api/v1/presence/{ext} as a map.
func (sw *webSwitch) presence(t testing.TB, ext string) map[string]any {
	t.Helper()
	code, body := sw.api(t, http.MethodGet, "/api/v1/presence/"+ext, "1001")
	if code != http.StatusOK {
		t.Fatalf("GET /api/v1/presence/%s: %d %s", ext, code, body)
	}
	var v map[string]any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("GET /api/v1/presence/%s: %v in %s", ext, err, body)
	}
	return v
}

// ---- the browser -------------------------------------------------------------------------

// webPage is one headless Chromium (internal/browser) on the switch's page. Each page has its
// own browser, so its own cookies (session).
type webPage struct {
	*browser.Page
	t  *testing.T
	sw *webSwitch
}

// newWebPage starts Chromium and stops it when the test ends or limit has passed.
func newWebPage(t *testing.T, sw *webSwitch, limit time.Duration) *webPage {
	t.Helper()
	return &webPage{Page: browser.Start(t, limit).Page(), t: t, sw: sw}
}

// webEval evaluates a JavaScript expression in p.
func webEval[T any](p *webPage, js string) T {
	p.t.Helper()
	return browser.Eval[T](p.Page, js)
}

// signIn opens the page, signs in as ext with the form and waits for the live team list.
func (p *webPage) signIn(ext string) {
	p.t.Helper()
	p.Do(chromedp.Navigate(p.sw.base + "/"))
	p.WaitFor(`!document.getElementById('signin').hidden`, 5*time.Second)
	p.Do(
		chromedp.SendKeys(chromedp.CSS("#signin-ext"), ext),
		chromedp.SendKeys(chromedp.CSS("#signin-password"), webPassword(ext)),
		chromedp.Click(chromedp.CSS("#signin-button")),
	)
	p.WaitFor(`!document.getElementById('app').hidden && document.querySelectorAll('#team .row').length > 0 &&
		document.getElementById('live').dataset.live === 'true'`, 5*time.Second)
}

// newWebPhone is a sipgo phone (internal/sipphone) for ext of webUsers.
func newWebPhone(t *testing.T, sipPort int, ext string) *sipphone.Phone {
	t.Helper()
	return sipphone.New(t, sipPort, ext, webPassword(ext))
}

// toneWAV16k is a 16 kHz mono 16-bit WAV of a sine at f Hz lasting d (not the line's 8 kHz:
// the switch converts uploads).
func toneWAV16k(f, amp float64, d time.Duration) []byte {
	const rate = 16000
	n := int(d * rate / time.Second)
	var data bytes.Buffer
	for i := range n {
		v := int16(math.Round(amp * 32767 * math.Sin(2*math.Pi*f*float64(i)/rate)))
		_ = binary.Write(&data, binary.LittleEndian, v)
	}
	var b bytes.Buffer
	le := binary.LittleEndian
	b.WriteString("RIFF")
	_ = binary.Write(&b, le, uint32(36+data.Len()))
	b.WriteString("WAVEfmt ")
	for _, v := range []any{uint32(16), uint16(1), uint16(1), uint32(rate), uint32(rate * 2), uint16(2), uint16(16)} {
		_ = binary.Write(&b, le, v)
	}
	b.WriteString("data")
	_ = binary.Write(&b, le, uint32(data.Len()))
	b.Write(data.Bytes())
	return b.Bytes()
}
