package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/pion/rtp"

	"github.com/switchboard-voip/switchboard/internal/browsertest"
	"github.com/switchboard-voip/switchboard/media"
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

// startWebSwitch writes a config with webUsers into a temp dir, starts the real binary on it
// and waits until its HTTP API answers.
func startWebSwitch(t *testing.T) *webSwitch {
	t.Helper()
	dir := t.TempDir()
	lo, hi := rtpRange(100)
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
	path := filepath.Join(dir, "switchboard.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	sw := &webSwitch{cfg: c, dir: dir, base: "http://127.0.0.1:" + strconv.Itoa(c.HTTPPort)}
	sw.proc = startBinary(t, c, path)
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, err := http.Get(sw.base + "/healthz")
		if err == nil {
			_ = res.Body.Close()
			if res.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s/healthz: no 200 within 10s (%v)", sw.base, err)
		}
		time.Sleep(20 * time.Millisecond)
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

// webPage is one tab of a headless Chromium on the switch's page. Each page has its own
// browser, so its own cookies (session).
type webPage struct {
	t   *testing.T
	ctx context.Context
	sw  *webSwitch
}

// newWebPage starts Chromium (a fresh profile, the flags this closed-network machine needs)
// and stops it when the test ends or limit has passed.
func newWebPage(t *testing.T, sw *webSwitch, limit time.Duration) *webPage {
	t.Helper()
	return &webPage{t: t, ctx: browsertest.Start(t, limit), sw: sw}
}

// do runs steps, failing the test (with what the page shows) on error.
func (p *webPage) do(steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, steps...); err != nil {
		p.t.Fatalf("browser: %v", p.explain(err))
	}
}

// explain adds the page's visible text to err.
func (p *webPage) explain(err error) error {
	ctx, cancel := context.WithTimeout(p.ctx, 2*time.Second)
	defer cancel()
	text, terr := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText.slice(0, 800) : ""`))
	if terr != nil {
		return err
	}
	return fmt.Errorf("%w\npage shows: %q", err, strings.Join(strings.Fields(text), " "))
}

// webEval evaluates a JavaScript expression in p.
func webEval[T any](p *webPage, js string) T {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, chromedp.Evaluate[T](js))
	if err != nil {
		p.t.Fatalf("evaluate %s: %v", js, p.explain(err))
	}
	return v
}

// waitFor waits until the expression is truthy, at most within; it returns how long it took.
func (p *webPage) waitFor(js string, within time.Duration) time.Duration {
	p.t.Helper()
	start := time.Now()
	_, err := chromedp.Run(p.ctx, chromedp.Poll[chromedp.Void](js,
		chromedp.WithPollingTimeout(within), chromedp.WithPollingInterval(20*time.Millisecond)))
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "timeout") {
			err = fmt.Errorf("not true within %v: %s (%w)", within, js, err)
		}
		p.t.Fatalf("wait: %v", p.explain(err))
	}
	return time.Since(start)
}

// signIn opens the page, signs in as ext with the form and waits for the live team list.
func (p *webPage) signIn(ext string) {
	p.t.Helper()
	p.do(chromedp.Navigate(p.sw.base + "/"))
	p.waitFor(`!document.getElementById('signin').hidden`, 5*time.Second)
	p.do(
		chromedp.SendKeys(chromedp.CSS("#signin-ext"), ext),
		chromedp.SendKeys(chromedp.CSS("#signin-password"), webPassword(ext)),
		chromedp.Click(chromedp.CSS("#signin-button")),
	)
	p.waitFor(`!document.getElementById('app').hidden && document.querySelectorAll('#team .row').length > 0 &&
		document.getElementById('live').dataset.live === 'true'`, 5*time.Second)
}

// rowJS is an expression for ext's row on the team list (or a stand-in without status).
func rowJS(ext string) string {
	return fmt.Sprintf(`(document.querySelector('#team .row[data-ext="%s"]') || {dataset: {}})`, ext)
}

// waitRow waits until ext's row has data-status status, then checks the pill's text and dot
// colour that go with it. It returns how long the wait took.
func (p *webPage) waitRow(ext, status string, within time.Duration) time.Duration {
	p.t.Helper()
	took := p.waitFor(fmt.Sprintf(`%s.dataset.status === %q`, rowJS(ext), status), within)
	want := map[string]struct{ text, dot string }{
		"available": {"Available", "rgb(26, 127, 55)"},
		"busy":      {"Busy", "rgb(207, 34, 46)"},
		"dnd":       {"DND", "rgb(209, 139, 0)"},
	}[status]
	got := webEval[[]string](p, fmt.Sprintf(`(() => {
		const p = document.querySelector('#team .row[data-ext="%s"] .pill');
		return [p.innerText.trim(), getComputedStyle(p.querySelector('.dot')).backgroundColor];
	})()`, ext))
	if got[0] != want.text || got[1] != want.dot {
		p.t.Errorf("row %s (%s): pill shows %q in %s, want %q in %s", ext, status, got[0], got[1], want.text, want.dot)
	}
	return took
}

// rowHint is the text under ext's name ("1002 · on a call").
func (p *webPage) rowHint(ext string) string {
	p.t.Helper()
	return webEval[string](p, fmt.Sprintf(`document.querySelector('#team .row[data-ext="%s"] .ext').innerText`, ext))
}

// screenshot captures the viewport at width×height (a phone: scale 2, mobile, portrait) into
// dir/name and returns the path.
func (p *webPage) screenshot(dir, name string, width, height int64, phone bool) string {
	p.t.Helper()
	var opts []chromedp.EmulateViewportOption
	if phone {
		opts = []chromedp.EmulateViewportOption{chromedp.EmulateScale(2), chromedp.EmulateMobile, chromedp.EmulatePortrait}
	}
	p.do(chromedp.EmulateViewport(width, height, opts...))
	// Let the layout settle at the new size.
	p.waitFor(fmt.Sprintf(`window.innerWidth === %d`, width), 2*time.Second)
	png, err := chromedp.Run(p.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		p.t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		p.t.Fatal(err)
	}
	if w := webEval[int](p, `document.documentElement.scrollWidth`); w > int(width) {
		p.t.Errorf("%s: the page is %d px wide in a %d px viewport", name, w, width)
	}
	return path
}

// ---- sipgo phones ------------------------------------------------------------------------

// webPhone is a small sipgo phone on its own UDP port: it registers with digest auth, answers
// every INVITE with 200 and an SDP (PCMU), and places calls with digest auth.
type webPhone struct {
	t         *testing.T
	ext, pass string
	sipPort   int // the switch's
	addr      *net.UDPAddr
	client    *sipgo.Client
	dsc       *sipgo.DialogServerCache
	dcc       *sipgo.DialogClientCache
	rtp       *net.UDPConn

	mu       sync.Mutex
	incoming []*sipgo.DialogServerSession
	answered chan *sipgo.DialogServerSession
}

func newWebPhone(t *testing.T, sipPort int, ext string) *webPhone {
	t.Helper()
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("switchboard-web-test-" + ext))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sipgo.NewServer(ua)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.ServeUDP(conn) }()
	addr := conn.LocalAddr().(*net.UDPAddr)
	client, err := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"), sipgo.WithClientAddr(addr.String()))
	if err != nil {
		t.Fatal(err)
	}
	contact := sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: ext, Host: "127.0.0.1", Port: addr.Port}}
	p := &webPhone{t: t, ext: ext, pass: webPassword(ext), sipPort: sipPort, addr: addr, client: client,
		dsc: sipgo.NewDialogServerCache(client, contact), dcc: sipgo.NewDialogClientCache(client, contact),
		answered: make(chan *sipgo.DialogServerSession, 4)}
	p.rtp, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	srv.OnInvite(func(req *sip.Request, tx sip.ServerTransaction) {
		ds, err := p.dsc.ReadInvite(req, tx)
		if err != nil {
			_ = tx.Respond(sip.NewResponseFromRequest(req, 500, "Bad INVITE", nil))
			return
		}
		_ = ds.Respond(180, "Ringing", nil)
		if err := ds.RespondSDP(p.sdp()); err != nil { // returns once the ACK is in
			t.Logf("phone %s: answering: %v", ext, err)
			return
		}
		p.mu.Lock()
		p.incoming = append(p.incoming, ds)
		p.mu.Unlock()
		p.answered <- ds
	})
	srv.OnAck(func(req *sip.Request, tx sip.ServerTransaction) { _ = p.dsc.ReadAck(req, tx) })
	srv.OnBye(func(req *sip.Request, tx sip.ServerTransaction) {
		if p.dsc.ReadBye(req, tx) == nil {
			return
		}
		if p.dcc.ReadBye(req, tx) == nil {
			return
		}
		_ = tx.Respond(sip.NewResponseFromRequest(req, 481, "No Dialog", nil))
	})
	srv.OnOptions(func(req *sip.Request, tx sip.ServerTransaction) {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	})
	srv.OnNotify(func(req *sip.Request, tx sip.ServerTransaction) {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	})
	t.Cleanup(func() {
		_ = p.rtp.Close()
		_ = ua.Close() // closes conn too
	})
	return p
}

// sdp is the phone's offer or answer: PCMU on its RTP socket.
func (p *webPhone) sdp() []byte {
	port := p.rtp.LocalAddr().(*net.UDPAddr).Port
	return fmt.Appendf(nil, "v=0\r\no=%s 1 1 IN IP4 127.0.0.1\r\ns=test\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"+
		"m=audio %d RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"+
		"a=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n", p.ext, port)
}

// register binds the phone's address to its extension (REGISTER, 401, REGISTER with digest).
func (p *webPhone) register(ctx context.Context) {
	p.t.Helper()
	aor := sip.Uri{Scheme: "sip", User: p.ext, Host: "127.0.0.1"}
	req := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: "127.0.0.1", Port: p.sipPort})
	from := &sip.FromHeader{Address: aor, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(10))
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: aor, Params: sip.NewParams()})
	req.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: p.ext, Host: "127.0.0.1", Port: p.addr.Port}})
	req.AppendHeader(sip.NewHeader("Expires", "3600"))
	res, err := p.client.Do(ctx, req)
	if err == nil && (res.StatusCode == 401 || res.StatusCode == 407) {
		res, err = p.client.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: p.ext, Password: p.pass})
	}
	if err != nil {
		p.t.Fatalf("REGISTER %s: %v", p.ext, err)
	}
	if res.StatusCode != 200 {
		p.t.Fatalf("REGISTER %s: %d %s", p.ext, res.StatusCode, res.Reason)
	}
}

// call dials ext through the switch, answers the digest challenge and ACKs the 200. It returns
// the dialog and where the switch wants the phone's RTP.
func (p *webPhone) call(ctx context.Context, ext string) (*sipgo.DialogClientSession, *net.UDPAddr) {
	p.t.Helper()
	to := sip.Uri{Scheme: "sip", User: ext, Host: "127.0.0.1", Port: p.sipPort}
	d, err := p.dcc.Invite(ctx, to, p.sdp(), sip.NewHeader("Content-Type", "application/sdp"))
	if err != nil {
		p.t.Fatalf("INVITE %s: %v", ext, err)
	}
	if err := d.WaitAnswer(ctx, sipgo.AnswerOptions{Username: p.ext, Password: p.pass}); err != nil {
		p.t.Fatalf("call %s -> %s not answered: %v", p.ext, ext, err)
	}
	if err := d.Ack(ctx); err != nil {
		p.t.Fatalf("ACK: %v", err)
	}
	var ip string
	var port int
	for _, line := range strings.Split(string(d.InviteResponse.Body()), "\n") {
		line = strings.TrimSpace(line)
		if s, ok := strings.CutPrefix(line, "c=IN IP4 "); ok {
			ip = s
		}
		if s, ok := strings.CutPrefix(line, "m=audio "); ok {
			ps, _, _ := strings.Cut(s, " ")
			port, _ = strconv.Atoi(ps)
		}
	}
	if ip == "" || port == 0 {
		p.t.Fatalf("200 OK from the switch has no usable SDP:\n%s", d.InviteResponse.Body())
	}
	return d, &net.UDPAddr{IP: net.ParseIP(ip), Port: port}
}

// listen sends PCMU silence to dst every 20 ms (so the switch sees media) and records what
// arrives on the RTP socket, decoded and ordered by sequence number, for d.
func (p *webPhone) listen(ctx context.Context, dst *net.UDPAddr, d time.Duration) []int16 {
	p.t.Helper()
	type frame struct {
		seq     uint16
		samples []int16
	}
	var (
		mu     sync.Mutex
		frames []frame
	)
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			n, err := p.rtp.Read(buf)
			if err != nil {
				return
			}
			var pkt rtp.Packet
			if pkt.Unmarshal(buf[:n]) != nil || (pkt.PayloadType != 0 && pkt.PayloadType != 8) {
				continue
			}
			s := make([]int16, len(pkt.Payload))
			if pkt.PayloadType == 0 {
				media.ULawDecodeFrame(s, pkt.Payload)
			} else {
				media.ALawDecodeFrame(s, pkt.Payload)
			}
			mu.Lock()
			frames = append(frames, frame{pkt.SequenceNumber, s})
			mu.Unlock()
		}
	}()
	silence := make([]byte, 160)
	for i := range silence {
		silence[i] = 0xff // µ-law zero
	}
	pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SSRC: 0x3eb0600d}, Payload: silence}
	tick := time.NewTicker(20 * time.Millisecond)
	end := time.After(d)
loop:
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			break loop
		case <-end:
			break loop
		case <-tick.C:
		}
		pkt.SequenceNumber = uint16(i)
		pkt.Timestamp = uint32(i * 160)
		b, _ := pkt.Marshal()
		_, _ = p.rtp.WriteToUDP(b, dst)
	}
	tick.Stop()
	_ = p.rtp.SetReadDeadline(time.Now())
	<-done
	_ = p.rtp.SetReadDeadline(time.Time{})
	mu.Lock()
	defer mu.Unlock()
	if len(frames) == 0 {
		return nil
	}
	// Unwrap sequence numbers relative to the first frame and order by them.
	base := frames[0].seq
	ordered := map[int][]int16{}
	lo, hi := 0, 0
	for _, f := range frames {
		k := int(int16(f.seq - base))
		ordered[k] = f.samples
		lo, hi = min(lo, k), max(hi, k)
	}
	var out []int16
	for k := lo; k <= hi; k++ {
		if s, ok := ordered[k]; ok {
			out = append(out, s...)
		} else {
			out = append(out, make([]int16, 160)...) // a lost frame: keep the timing
		}
	}
	return out
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
