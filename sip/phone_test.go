package sip_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
	"github.com/pion/rtp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/switchboard-voip/switchboard/flow"
	"github.com/switchboard-voip/switchboard/media"
	"github.com/switchboard-voip/switchboard/media/srtp"
	"github.com/switchboard-voip/switchboard/routing"
	sbsip "github.com/switchboard-voip/switchboard/sip"
	sbdigest "github.com/switchboard-voip/switchboard/sip/digest"
)

// testUsers are the accounts every test switch knows.
var testUsers = map[string]string{
	"1001": "alice-secret",
	"1002": "bob-secret",
	"1003": "carol-secret",
	"1004": "dave-secret",
	"1005": "erin-secret",
}

type users struct{}

// Secret gives the users' HA1s only, as the switch keeps them: the tests' phones answer
// challenges with their passwords, so every authentication exercises the stored-hash path.
func (users) Secret(ext string) (sbdigest.Secret, bool) {
	p, ok := testUsers[ext]
	if !ok {
		return sbdigest.Secret{}, false
	}
	return sbdigest.SecretOf(ext, "switchboard", p), true
}
func (users) DisplayName(ext string) string { return "User " + ext }
func (users) User(ext string) (routing.User, bool) {
	if _, ok := testUsers[ext]; !ok {
		return routing.User{}, false
	}
	return routing.User{Ext: ext, NoAnswerTimeout: 5 * time.Second}, true
}
func (users) Exists(ext string) bool                        { _, ok := testUsers[ext]; return ok }
func (users) Group(ext string) (routing.Group, bool)        { return routing.Group{}, false }
func (users) Outbound(string) (routing.OutboundRoute, bool) { return routing.OutboundRoute{}, false }
func (users) Queue(string) (routing.Queue, bool)            { return routing.Queue{}, false }

// testSwitch is a real Switchboard SIP server on loopback with random ports, with the call
// flows wired as cmd wires them.
type testSwitch struct {
	srv   *sbsip.Server
	flows *flow.Engine
	ports *media.Ports
	locs  *sbsip.MemoryLocations
}

// switchBlocks counts the test switches started, for the port plan.
var switchBlocks atomic.Int32

// switchOpts are a test switch's options: the SIP server's and what its flows need.
type switchOpts struct {
	sbsip.Options
	Greetings flow.Greetings
	Shared    flow.SharedQueues // a cluster's queues
	Routes    flow.TrunkRoutes  // the way back to outside callers (callbacks)
	Callbacks flow.CallbackStore
}

func startSwitch(t testing.TB, tune ...func(*switchOpts)) *testSwitch {
	t.Helper()
	// The sip package's port plan: 12000-19999, below Linux's ephemeral range (32768+) where the
	// tests' own sockets land, in blocks of 500 pairs handed to test switches in the order they
	// start. The same test gets the same block on every run; a pair another process holds (a
	// concurrent run, a load test) is skipped by Ports.Open.
	block := int(switchBlocks.Add(1)-1) % 8
	base := 12000 + 1000*block
	ports, err := media.NewPorts(netip.MustParseAddr("127.0.0.1"), base, base+999)
	if err != nil {
		t.Fatal(err)
	}
	locs := sbsip.NewMemoryLocations(nil)
	opts := switchOpts{Options: sbsip.Options{
		Listen:     []sbsip.Listen{{Transport: "udp", Addr: "127.0.0.1:0"}, {Transport: "tcp", Addr: "127.0.0.1:0"}},
		Realm:      "switchboard",
		MinExpires: time.Second,
		MediaAddr:  netip.MustParseAddr("127.0.0.1"),
		Ports:      ports,
		Users:      users{},
		Router:     routing.New(users{}, locs, nil),
		Locations:  locs,
		Logger:     testLogger(t),
	}}
	for _, f := range tune {
		f(&opts)
	}
	fo := flow.Options{Router: opts.Router, Greetings: opts.Greetings, Clock: opts.Clock, Shared: opts.Shared,
		Trunks: opts.Routes, Callbacks: opts.Callbacks}
	if opts.Presence != nil {
		p := opts.Presence
		fo.Statuses = p
		fo.Watch = func() flow.StatusFeed { return p.WatchOrdered(4096) }
	}
	if opts.Voicemail != nil {
		fo.Voicemail = opts.Voicemail
	}
	flows, err := flow.New(fo)
	if err != nil {
		t.Fatal(err)
	}
	if opts.Flows == nil { // a test's own, or the engine
		opts.Flows = flows
	}
	srv, err := sbsip.NewServer(opts.Options)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	flows.SetOriginator(srv)
	sw := &testSwitch{srv: srv, flows: flows, ports: ports, locs: locs}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			buf := make([]byte, 1<<20)
			t.Errorf("shutdown: %v\n%s", err, buf[:runtime.Stack(buf, true)])
		}
		flows.Close()
		ports.Close() // the media readers the relays used
		if n := ports.InUse(); n != 0 {
			t.Errorf("%d RTP port pairs still in use after shutdown", n)
		}
	})
	return sw
}

// waitIdle waits until no call is active and every RTP port is back in the pool.
func (sw *testSwitch) waitIdle(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if sw.srv.ActiveCalls() == 0 && sw.ports.InUse() == 0 && sw.srv.Dialogs() == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("switch not idle: %d calls, %d port pairs in use, %d dialogs", sw.srv.ActiveCalls(), sw.ports.InUse(), sw.srv.Dialogs())
}

// eventually polls cond until it holds, failing the test after 10 s: how tests wait for what
// the switch does, instead of sleeping.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// phone is a sipgo soft phone registered to the test switch.
type phone struct {
	t         *testing.T
	ext, pass string
	transport string // "udp" or "tcp"
	sw        *testSwitch

	ua      *sipgo.UserAgent
	client  *sipgo.Client
	server  *sipgo.Server
	host    string
	port    int
	contact sip.ContactHeader
	dsc     *sipgo.DialogServerCache
	dcc     *sipgo.DialogClientCache

	rtp *net.UDPConn // the phone's media socket
	key *srtp.Crypto // set: the phone speaks SRTP (RTP/SAVP with this key in its SDP)
	// cryptoLine, when set, is the phone's a=crypto value as it stands, usable or not.
	cryptoLine string

	mu       sync.Mutex
	onNotify func(*sip.Request, sip.ServerTransaction) // set by watchNotifies / notifiesByEvent

	incoming   chan *incomingCall
	byes       chan string                 // Call-IDs of BYEs received
	cancels    chan string                 // Call-IDs of CANCELs received
	lastCancel atomic.Pointer[sip.Request] // the latest CANCEL, for its headers
	infos      chan *sip.Request
	reinvite   chan *sip.Request
}

// incomingCall is an INVITE that reached a phone; the test decides what the phone does.
type incomingCall struct {
	req  *sip.Request
	dlg  *sipgo.DialogServerSession
	done chan struct{}
	once sync.Once
}

func (ic *incomingCall) finish() { ic.once.Do(func() { close(ic.done) }) }

func newPhone(t *testing.T, sw *testSwitch, ext, transport string) *phone {
	t.Helper()
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("testphone-" + ext))
	if err != nil {
		t.Fatal(err)
	}
	p := &phone{t: t, ext: ext, pass: testUsers[ext], transport: transport, sw: sw, ua: ua,
		incoming: make(chan *incomingCall, 4), byes: make(chan string, 4), cancels: make(chan string, 4),
		infos: make(chan *sip.Request, 4), reinvite: make(chan *sip.Request, 4)}
	p.server, _ = sipgo.NewServer(ua)
	ctx, cancel := context.WithCancel(context.Background())
	var addr string
	var serve func() // started once every handler is registered: sipgo's handler map is not locked
	if transport == "tcp" {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr = ln.Addr().String()
		serve = func() { _ = p.server.ServeTCP(ln) }
		t.Cleanup(func() { _ = ln.Close() })
	} else {
		conn, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr = conn.LocalAddr().String()
		serve = func() { _ = p.server.ServeUDP(conn) }
		t.Cleanup(func() { _ = conn.Close() })
	}
	host, port, _ := sip.ParseAddr(addr)
	p.host, p.port = host, port
	opts := []sipgo.ClientOption{sipgo.WithClientHostname(host)}
	if transport == "udp" {
		opts = append(opts, sipgo.WithClientAddr(addr))
	}
	p.client, _ = sipgo.NewClient(ua, opts...)
	p.contact = sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: ext, Host: host, Port: port}}
	if transport == "tcp" {
		p.contact.Address.UriParams = sip.NewParams()
		p.contact.Address.UriParams.Add("transport", "tcp")
	}
	p.dsc = sipgo.NewDialogServerCache(p.client, p.contact)
	p.dcc = sipgo.NewDialogClientCache(p.client, p.contact)
	p.rtp, err = net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}

	p.server.OnInvite(func(req *sip.Request, tx sip.ServerTransaction) {
		if req.To().Params.Has("tag") {
			p.reinvite <- req
			_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", p.sdp("sendrecv")))
			return
		}
		dlg, err := p.dsc.ReadInvite(req, tx)
		if err != nil {
			t.Errorf("phone %s: read invite: %v", ext, err)
			return
		}
		ic := &incomingCall{req: req, dlg: dlg, done: make(chan struct{})}
		tx.OnCancel(func(r *sip.Request) { p.lastCancel.Store(r); p.cancels <- callID(r); ic.finish() })
		p.incoming <- ic
		select {
		case <-ic.done:
		case <-dlg.Context().Done():
		case <-ctx.Done():
		}
	})
	p.server.OnAck(func(req *sip.Request, tx sip.ServerTransaction) { _ = p.dsc.ReadAck(req, tx) })
	p.server.OnBye(func(req *sip.Request, tx sip.ServerTransaction) {
		p.byes <- callID(req)
		if err := p.dsc.ReadBye(req, tx); err == nil {
			return
		}
		if err := p.dcc.ReadBye(req, tx); err != nil {
			_ = tx.Respond(sip.NewResponseFromRequest(req, 481, "No Dialog", nil))
		}
	})
	p.server.OnNotify(func(req *sip.Request, tx sip.ServerTransaction) {
		p.mu.Lock()
		h := p.onNotify
		p.mu.Unlock()
		if h == nil {
			_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
			return
		}
		h(req, tx)
	})
	p.server.OnInfo(func(req *sip.Request, tx sip.ServerTransaction) {
		p.infos <- req
		_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	})
	t.Cleanup(func() {
		cancel()
		_ = p.rtp.Close()
		_ = ua.Close()
	})
	go serve()
	return p
}

func callID(m sip.Message) string { return m.CallID().Value() }

// switchAddr is where the phone sends its requests.
func (p *phone) switchURI(user string) sip.Uri {
	host, port, _ := sip.ParseAddr(p.sw.srv.Addr(p.transport))
	u := sip.Uri{Scheme: "sip", User: user, Host: host, Port: port}
	if p.transport == "tcp" {
		u.UriParams = sip.NewParams()
		u.UriParams.Add("transport", "tcp")
	}
	return u
}

// sdp is the phone's offer or answer: PCMU, PCMA and telephone-event on its RTP socket.
func (p *phone) sdp(direction string) []byte {
	port := p.rtp.LocalAddr().(*net.UDPAddr).Port
	profile, crypto := "RTP/AVP", ""
	switch {
	case p.cryptoLine != "":
		profile, crypto = "RTP/SAVP", "a=crypto:"+p.cryptoLine+"\r\n"
	case p.key != nil:
		profile, crypto = "RTP/SAVP", "a=crypto:"+p.key.String()+"\r\n"
	}
	return []byte(fmt.Sprintf("v=0\r\no=%s 1 1 IN IP4 127.0.0.1\r\ns=test\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"+
		"m=audio %d %s 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"+
		"a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=%s\r\n%s", p.ext, port, profile, direction, crypto))
}

// register sends REGISTER with the given expiry, answering the digest challenge with password,
// and returns the final response.
func (p *phone) register(password string, expires int) *sip.Response {
	p.t.Helper()
	req := p.registerRequest(expires)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := p.client.Do(ctx, req, sipgo.ClientRequestRegisterBuild)
	if err != nil {
		p.t.Fatalf("register %s: %v", p.ext, err)
	}
	if res.StatusCode != 401 {
		return res
	}
	res, err = p.client.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: p.ext, Password: password})
	if err != nil {
		p.t.Fatalf("register %s with auth: %v", p.ext, err)
	}
	return res
}

func (p *phone) registerRequest(expires int) *sip.Request {
	req := sip.NewRequest(sip.REGISTER, p.switchURI(""))
	req.Recipient.User = ""
	aor := sip.Uri{Scheme: "sip", User: p.ext, Host: req.Recipient.Host}
	req.AppendHeader(&sip.ToHeader{Address: aor})
	from := &sip.FromHeader{Address: aor, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(8))
	req.AppendHeader(from)
	ct := p.contact.Clone()
	req.AppendHeader(ct)
	req.AppendHeader(sip.NewHeader("Expires", fmt.Sprint(expires)))
	return req
}

// mustRegister registers the phone and fails the test unless it gets 200.
func (p *phone) mustRegister() *phone {
	p.t.Helper()
	if res := p.register(p.pass, 300); res.StatusCode != 200 {
		p.t.Fatalf("register %s: %d %s", p.ext, res.StatusCode, res.Reason)
	}
	return p
}

// dial calls an extension through the switch and returns the dialog once the INVITE is sent
// (authenticated); answer waits for the outcome.
func (p *phone) dial(ctx context.Context, ext string) (*sipgo.DialogClientSession, error) {
	from := &sip.FromHeader{DisplayName: "Phone " + p.ext, Address: sip.Uri{Scheme: "sip", User: p.ext, Host: p.host},
		Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(12))
	return p.dcc.Invite(ctx, p.switchURI(ext), p.sdp("sendrecv"), sip.NewHeader("Content-Type", "application/sdp"), from)
}

// call dials ext and waits for the final answer; err wraps *sipgo.ErrDialogResponse on failure.
func (p *phone) call(ctx context.Context, ext string) (*sipgo.DialogClientSession, error) {
	d, err := p.dial(ctx, ext)
	if err != nil {
		return nil, err
	}
	if err := d.WaitAnswer(ctx, sipgo.AnswerOptions{Username: p.ext, Password: p.pass}); err != nil {
		return d, err
	}
	return d, d.Ack(ctx)
}

// statusOf returns the SIP status of a failed call attempt.
func statusOf(err error) int {
	var de *sipgo.ErrDialogResponse
	if errors.As(err, &de) {
		return de.Res.StatusCode
	}
	return 0
}

// nextIncoming waits for the phone to ring.
func (p *phone) nextIncoming(timeout time.Duration) *incomingCall {
	p.t.Helper()
	select {
	case ic := <-p.incoming:
		return ic
	case <-time.After(timeout):
		p.t.Fatalf("phone %s did not ring", p.ext)
		return nil
	}
}

// answer answers an incoming call with the phone's SDP.
func (p *phone) answer(ic *incomingCall) {
	p.t.Helper()
	if err := ic.dlg.Respond(180, "Ringing", nil); err != nil {
		p.t.Fatal(err)
	}
	if err := ic.dlg.Respond(200, "OK", p.sdp("sendrecv"), sip.NewHeader("Content-Type", "application/sdp")); err != nil {
		p.t.Fatal(err)
	}
}

// remoteMedia returns where the SDP in a message says to send RTP.
func remoteMedia(t *testing.T, body []byte) *net.UDPAddr {
	t.Helper()
	var ip string
	var port int
	for _, line := range strings.Split(string(body), "\r\n") {
		if strings.HasPrefix(line, "c=IN IP4 ") {
			ip = strings.TrimPrefix(line, "c=IN IP4 ")
		}
		if strings.HasPrefix(line, "m=audio ") {
			_, _ = fmt.Sscanf(line, "m=audio %d", &port)
		}
	}
	if ip == "" || port == 0 {
		t.Fatalf("no media address in SDP:\n%s", body)
	}
	return &net.UDPAddr{IP: net.ParseIP(ip), Port: port}
}

// sendRTP sends n PCMU packets with a recognisable payload from the phone to dst.
func (p *phone) sendRTP(t *testing.T, dst *net.UDPAddr, n int, fill byte) {
	pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SSRC: uint32(fill) << 8}, Payload: make([]byte, 160)}
	for i := range pkt.Payload {
		pkt.Payload[i] = fill
	}
	for i := 0; i < n; i++ {
		pkt.SequenceNumber = uint16(i)
		pkt.Timestamp = uint32(i * 160)
		b, _ := pkt.Marshal()
		if _, err := p.rtp.WriteToUDP(b, dst); err != nil {
			t.Error(err)
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// recvRTP counts RTP packets arriving at the phone whose payload is all `fill`, until quiet.
func (p *phone) recvRTP(t *testing.T, want int, fill byte) int {
	t.Helper()
	buf := make([]byte, 1500)
	got := 0
	for got < want {
		_ = p.rtp.SetReadDeadline(time.Now().Add(time.Second))
		n, _, err := p.rtp.ReadFromUDP(buf)
		if err != nil {
			break
		}
		var pkt rtp.Packet
		if pkt.Unmarshal(buf[:n]) != nil || len(pkt.Payload) != 160 {
			continue
		}
		ok := true
		for _, b := range pkt.Payload {
			if b != fill {
				ok = false
				break
			}
		}
		if ok {
			got++
		}
	}
	return got
}

// digestFor computes an Authorization value for one challenge, for tests that pick the algorithm.
func digestFor(t *testing.T, chal string, method, uri, user, pass string) string {
	t.Helper()
	c, err := digest.ParseChallenge(chal)
	if err != nil {
		t.Fatal(err)
	}
	cred, err := digest.Digest(c, digest.Options{Method: method, URI: uri, Username: user, Password: pass, Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	return cred.String()
}

// sipDialog is a caller's dialog in tests.
type sipDialog struct{ *sipgo.DialogClientSession }

func sipgoNoAuth() sipgo.AnswerOptions { return sipgo.AnswerOptions{} }

func sipgoAuth(p *phone) sipgo.AnswerOptions {
	return sipgo.AnswerOptions{Username: p.ext, Password: p.pass}
}

// errResponse returns the failure response inside a WaitAnswer error.
func errResponse(err error) *sip.Response {
	var de *sipgo.ErrDialogResponse
	if errors.As(err, &de) {
		return de.Res
	}
	return nil
}

// testLogger logs at info level into the test's output while the test runs, and drops what
// sipgo's timers still log after it ended (t.Log then would race with the test's end).
func testLogger(t testing.TB) *zap.Logger {
	w := &testWriter{t: t}
	t.Cleanup(func() { w.mu.Lock(); w.done = true; w.mu.Unlock() })
	enc := zapcore.NewConsoleEncoder(zap.NewDevelopmentEncoderConfig())
	return zap.New(zapcore.NewCore(enc, zapcore.AddSync(w), zapcore.InfoLevel))
}

type testWriter struct {
	t    testing.TB
	mu   sync.Mutex
	done bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

// newInfo builds an in-dialog INFO for a caller's dialog to send.
func newInfo(target sip.Uri, contentType, body string) *sip.Request {
	req := sip.NewRequest(sip.INFO, target)
	req.AppendHeader(sip.NewHeader("Content-Type", contentType))
	req.SetBody([]byte(body))
	return req
}

func (p *phone) setOnNotify(h func(*sip.Request, sip.ServerTransaction)) {
	p.mu.Lock()
	p.onNotify = h
	p.mu.Unlock()
}

// goroutineCheck guards a test against goroutine leaks. It counts only goroutines running
// Switchboard code (a frame under "switchboard/": the switch, and the test phones' handlers):
// sipgo keeps transaction timers alive for up to 64*T1 after a call, which is not a leak.
type goroutineCheck struct {
	t    *testing.T
	base int
}

// trackGoroutines records the current count; call it once the switch and phones are up (a
// phone's listener is itself one counted goroutine).
func trackGoroutines(t *testing.T) *goroutineCheck {
	return &goroutineCheck{t: t, base: len(goroutinesWith("switchboard/"))}
}

// settled waits for the switch to be idle (no call, every RTP port back), then up to 2 s for
// the count to return to within margin of the baseline; otherwise it fails and dumps the
// switch's goroutines (those with "switchboard/sip." frames).
func (g *goroutineCheck) settled(sw *testSwitch, margin int) {
	g.t.Helper()
	sw.waitIdle(g.t)
	deadline := time.Now().Add(2 * time.Second)
	n := len(goroutinesWith("switchboard/"))
	for n > g.base+margin && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		n = len(goroutinesWith("switchboard/"))
	}
	if n > g.base+margin {
		g.t.Errorf("goroutine leak: %d goroutines run Switchboard code, %d at the start (margin %d); the switch's:\n%s",
			n, g.base, margin, strings.Join(goroutinesWith("switchboard/sip."), "\n\n"))
	}
}

// goroutinesWith returns the stacks of the goroutines with a frame containing s ("created by"
// lines do not count: a sipgo goroutine started from Switchboard code is sipgo's), but for
// the port pool's media readers, which live as long as the pool.
func goroutinesWith(s string) []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "media.(*pollWorker).run") {
			continue // the port pool's media readers: started by the first relay, owned by the pool
		}
		for _, line := range strings.Split(g, "\n") {
			if !strings.HasPrefix(line, "created by ") && strings.Contains(line, s) {
				out = append(out, g)
				break
			}
		}
	}
	return out
}
