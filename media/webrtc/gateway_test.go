package webrtc

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/switchboard-voip/switchboard/internal/poll"
	"github.com/switchboard-voip/switchboard/internal/testports"
	"github.com/switchboard-voip/switchboard/internal/webrtcpeer"
	"github.com/switchboard-voip/switchboard/media"
)

// The tests put a gateway between "a browser" — a second, full (non-lite) pion PeerConnection
// offering Opus first as Chrome does — and "the switch" — a plain UDP socket speaking the plain
// SDP media.AnswerOffer and media.NewOffer write — and check what each side receives.

var block = testports.WebRTC()

var loopback = netip.MustParseAddr("127.0.0.1")

// newGateways is a factory on a pool of n pairs of the package's port block, with short ICE
// timers so a vanished browser is noticed within the test's patience.
func newGateways(t *testing.T, pairs int) (*Gateways, *media.Ports) {
	t.Helper()
	lo := block.Take(t, 2*pairs)
	ports, err := media.NewPorts(loopback, lo, lo+2*pairs-1)
	if err != nil {
		t.Fatal(err)
	}
	gs, err := NewGateways(Config{Ports: ports, DisconnectedTimeout: time.Second, FailedTimeout: time.Second,
		KeepaliveInterval: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return gs, ports
}

// newGateway is a gateway on a pool of its own one pair, closed when the test ends.
func newGateway(t *testing.T) (*Gateway, *media.Ports) {
	t.Helper()
	gs, ports := newGateways(t, 1)
	g, err := gs.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Close() })
	return g, ports
}

// sw is the switch's media endpoint: a plain UDP socket.
type sw struct {
	t    *testing.T
	conn *net.UDPConn
}

func newSwitch(t *testing.T) *sw {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &sw{t: t, conn: c}
}

func (s *sw) port() int { return s.conn.LocalAddr().(*net.UDPAddr).Port }

// packet is an RTP packet with a payload that says who sent it and which one it is.
func packet(pt uint8, seq uint16, who byte) *rtp.Packet {
	payload := bytes.Repeat([]byte{who}, 160)
	payload[0] = byte(seq)
	return &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: seq, Timestamp: uint32(seq) * 160,
		SSRC: 0x5157}, Payload: payload}
}

// flows checks media both ways: the switch sends to the gateway's plain address and the
// browser hears its payloads (as payload type pt); the browser's microphone reaches the switch
// unchanged. Each side sends every 20 ms until the other has heard it.
func flows(t *testing.T, b *webrtcpeer.Peer, s *sw, to netip.AddrPort, pt uint8) {
	t.Helper()
	b.WaitUp(10 * time.Second)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for seq := uint16(1); ; seq++ {
			raw, _ := packet(pt, seq, 'S').Marshal()
			_, _ = s.conn.WriteToUDPAddrPort(raw, to)
			_ = b.Mic.WriteRTP(packet(pt, seq, 'B'))
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	defer func() { close(stop); wg.Wait() }()

	deadline := time.After(10 * time.Second)
	for heard := false; !heard; {
		select {
		case p := <-b.Heard:
			if p.PayloadType != pt || len(p.Payload) != 160 || p.Payload[1] != 'S' {
				t.Fatalf("browser heard PT %d, %d bytes %q…", p.PayloadType, len(p.Payload), p.Payload[:4])
			}
			heard = true
		case <-deadline:
			t.Fatal("the browser heard nothing from the switch")
		}
	}
	buf := make([]byte, 1500)
	_ = s.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		n, _, err := s.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatalf("the switch heard nothing from the browser: %v", err)
		}
		var p rtp.Packet
		if p.Unmarshal(buf[:n]) != nil {
			continue
		}
		if p.PayloadType != pt || len(p.Payload) != 160 || p.Payload[1] != 'B' {
			t.Fatalf("switch got PT %d, %d bytes %q…", p.PayloadType, len(p.Payload), p.Payload[:4])
		}
		return
	}
}

// browserCalls has b offer through g, s answer in plain SDP, and checks media both ways; it
// returns the switch's session (where it sends to the gateway).
func browserCalls(t *testing.T, g *Gateway, b *webrtcpeer.Peer, s *sw) media.Session {
	t.Helper()
	plain, err := g.FromBrowser(b.Offer())
	if err != nil {
		t.Fatal(err)
	}
	answer, sess, err := media.AnswerOffer(plain, loopback, s.port(), media.NewOrigin())
	if err != nil {
		t.Fatal(err)
	}
	web, err := g.ToBrowser(answer)
	if err != nil {
		t.Fatal(err)
	}
	b.Remote(webrtc.SDPTypeAnswer, web)
	flows(t, b, s, sess.Remote, 0)
	return sess
}

func TestBrowserOffersSwitchAnswers(t *testing.T) {
	g, ports := newGateway(t)
	b := webrtcpeer.New(t, nil, pcmu)
	s := newSwitch(t)

	offer := b.Offer()
	if !IsWebRTC(offer) {
		t.Fatalf("a browser's offer is not recognised as WebRTC:\n%s", offer)
	}
	plain, err := g.FromBrowser(offer)
	if err != nil {
		t.Fatal(err)
	}
	text := string(plain)
	if IsWebRTC(plain) || !strings.Contains(text, "m=audio ") || !strings.Contains(text, " RTP/AVP 0 8") ||
		!strings.Contains(text, "c=IN IP4 127.0.0.1") || strings.Contains(text, "opus") {
		t.Fatalf("plain offer:\n%s", text)
	}
	answer, sess, err := media.AnswerOffer(plain, loopback, s.port(), media.NewOrigin())
	if err != nil {
		t.Fatalf("the switch cannot answer the plain offer: %v\n%s", err, text)
	}
	if sess.Codec != media.PCMU {
		t.Fatalf("switch chose %v, want PCMU (the browser's first G.711)", sess.Codec)
	}
	webAnswer, err := g.ToBrowser(answer)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"a=ice-lite", "a=fingerprint:", "a=rtcp-mux", "a=candidate:", "PCMU/8000"} {
		if !strings.Contains(string(webAnswer), want) {
			t.Errorf("answer to the browser lacks %q:\n%s", want, webAnswer)
		}
	}
	if strings.Contains(string(webAnswer), "PCMA") {
		t.Errorf("answer to the browser offers PCMA besides the switch's PCMU:\n%s", webAnswer)
	}
	b.Remote(webrtc.SDPTypeAnswer, webAnswer)
	flows(t, b, s, sess.Remote, 0)

	if ports.InUse() != 1 {
		t.Errorf("%d pairs in use, want the gateway's one", ports.InUse())
	}
	if err := g.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		t.Logf("close: %v", err)
	}
	if ports.InUse() != 0 {
		t.Errorf("%d pairs in use after Close", ports.InUse())
	}
	select {
	case <-g.Done():
	default:
		t.Error("Done is open after Close")
	}
}

func TestSwitchOffersBrowserAnswers(t *testing.T) {
	g, _ := newGateway(t)
	b := webrtcpeer.New(t, nil, pcma)
	s := newSwitch(t)

	offer := media.NewOffer(loopback, s.port(), media.NewOrigin(), media.PCMA, true)
	webOffer, err := g.ToBrowser(offer)
	if err != nil {
		t.Fatal(err)
	}
	b.Remote(webrtc.SDPTypeOffer, webOffer)
	answer := b.Answer()
	plain, err := g.FromBrowser(answer)
	if err != nil {
		t.Fatal(err)
	}
	// The same answer again (a 183 and then the 200 carry it) changes nothing.
	again, err := g.FromBrowser(answer)
	if err != nil || !bytes.Equal(again, plain) {
		t.Fatalf("the repeated answer: %v\n%s", err, again)
	}
	sess, err := media.SessionOf(plain)
	if err != nil {
		t.Fatalf("plain answer: %v\n%s", err, plain)
	}
	if sess.Codec != media.PCMA {
		t.Fatalf("plain answer's codec %v, want PCMA:\n%s", sess.Codec, plain)
	}
	flows(t, b, s, sess.Remote, 8)

	// Hold from the switch's side and back: the browser is told, and media goes on after.
	hold := bytes.Replace(media.NewOffer(loopback, s.port(), media.NewOrigin(), media.PCMA, true),
		[]byte("a=sendrecv"), []byte("a=sendonly"), 1)
	webHold, err := g.ToBrowser(hold)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(webHold), "a=sendonly") {
		t.Fatalf("hold offer to the browser:\n%s", webHold)
	}
	b.Remote(webrtc.SDPTypeOffer, webHold)
	// pion answers a sendonly offer sendrecv where Chrome answers recvonly: answer as Chrome.
	heldAnswer := withDirection(string(b.Answer()), "recvonly")
	plainHold, err := g.FromBrowser([]byte(heldAnswer))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(plainHold), "a=recvonly") {
		t.Fatalf("the browser's answer to hold, as the switch sees it:\n%s", plainHold)
	}
	resume, err := g.ToBrowser(offer)
	if err != nil {
		t.Fatal(err)
	}
	b.Remote(webrtc.SDPTypeOffer, resume)
	if _, err := g.FromBrowser(b.Answer()); err != nil {
		t.Fatal(err)
	}
	flows(t, b, s, sess.Remote, 8)
}

func TestBrowserReoffersMidCall(t *testing.T) {
	g, _ := newGateway(t)
	b := webrtcpeer.New(t, nil, pcmu)
	s := newSwitch(t)
	first := browserCalls(t, g, b, s)

	// A second offer from the browser (JsSIP's hold and unhold are re-INVITEs) is a new offer
	// on the same connection; the switch answers it and media carries on, to the same place.
	if again := browserCalls(t, g, b, s); again.Remote != first.Remote {
		t.Errorf("the re-offer moved the gateway's plain side from %v to %v", first.Remote, again.Remote)
	}
}

func TestOfferWithoutG711IsRefused(t *testing.T) {
	g, ports := newGateway(t)
	opusOnly := []webrtc.RTPCodecParameters{{RTPCodecCapability: webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, PayloadType: 111}}
	b := webrtcpeer.New(t, opusOnly, webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2})
	if _, err := g.FromBrowser(b.Offer()); !errors.Is(err, media.ErrNoCommonCodec) {
		t.Fatalf("an Opus-only offer: %v, want ErrNoCommonCodec", err)
	}
	if _, err := g.FromBrowser([]byte("v=0\r\ngarbage")); !errors.Is(err, media.ErrBadSDP) {
		t.Fatalf("garbage: %v, want ErrBadSDP", err)
	}
	_ = g.Close()
	if ports.InUse() != 0 {
		t.Errorf("%d pairs in use after Close", ports.InUse())
	}
}

// TestVanishedBrowserEndsTheGateway: the browser's media stops without a word (its
// PeerConnection is torn down under it); Done closes within the ICE timers, Close then frees the
// ports, and no goroutine of the gateway is left.
func TestVanishedBrowserEndsTheGateway(t *testing.T) {
	before := runtime.NumGoroutine()
	g, ports := newGateway(t)
	b := webrtcpeer.New(t, nil, pcmu)
	s := newSwitch(t)
	browserCalls(t, g, b, s)

	gone := time.Now()
	_ = b.PC.Close()
	select {
	case <-g.Done():
		t.Logf("gateway noticed after %v", time.Since(gone).Round(10*time.Millisecond))
	case <-time.After(10 * time.Second):
		t.Fatal("Done still open 10 s after the browser went")
	}
	_ = g.Close()
	if ports.InUse() != 0 {
		t.Errorf("%d pairs in use after Close", ports.InUse())
	}
	poll.Require(t, 5*time.Second, "the goroutines of the gateway and the browser gone", func() bool {
		return runtime.NumGoroutine() <= before+2
	})
}

// TestRenumberKeepsOneStream: a new source from the switch's side goes on from the last packet
// sent (sequence +1, timestamp +160, marker set); packets of one source keep their spacing.
func TestRenumberKeepsOneStream(t *testing.T) {
	var r renumber
	out := func(ssrc uint32, seq uint16, ts uint32) (uint16, uint32, bool) {
		p := &rtp.Packet{Header: rtp.Header{Version: 2, SSRC: ssrc, SequenceNumber: seq, Timestamp: ts}, Payload: make([]byte, 160)}
		b, _ := p.Marshal()
		r.apply(b)
		var got rtp.Packet
		if err := got.Unmarshal(b); err != nil {
			t.Fatal(err)
		}
		return got.SequenceNumber, got.Timestamp, got.Marker
	}
	if seq, ts, m := out(1, 500, 9000); seq != 500 || ts != 9000 || m {
		t.Fatalf("first packet %d %d %t: want it as it came", seq, ts, m)
	}
	if seq, ts, _ := out(1, 501, 9160); seq != 501 || ts != 9160 {
		t.Fatalf("same source %d %d", seq, ts)
	}
	if seq, ts, m := out(2, 7, 320); seq != 502 || ts != 9320 || !m {
		t.Fatalf("new source %d %d %t: want 502 9320 with the marker", seq, ts, m)
	}
	if seq, ts, m := out(2, 8, 480); seq != 503 || ts != 9480 || m {
		t.Fatalf("new source, next packet %d %d %t", seq, ts, m)
	}
	allocs := testing.AllocsPerRun(100, func() {
		b := []byte{0x80, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 3}
		r.apply(b)
	})
	if allocs != 0 {
		t.Errorf("renumbering allocates %v times a packet", allocs)
	}
}

// TestLatchAllocatesOnlyOnChange: following the switch's address costs nothing per packet
// while it stays the same.
func TestLatchAllocatesOnlyOnChange(t *testing.T) {
	var p atomic.Pointer[netip.AddrPort]
	a := netip.MustParseAddrPort("127.0.0.1:20000")
	latch(&p, a)
	if allocs := testing.AllocsPerRun(100, func() { latch(&p, a) }); allocs != 0 {
		t.Errorf("latching the same address allocates %v times", allocs)
	}
	b := netip.MustParseAddrPort("127.0.0.1:20002")
	latch(&p, b)
	if got := *p.Load(); got != b {
		t.Errorf("latched %v, want %v", got, b)
	}
}
