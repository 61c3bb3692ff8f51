// Package webrtc terminates a browser's WebRTC media — ICE (lite), DTLS-SRTP, rtcp-mux — and
// presents it to the switch as a plain RTP peer, passing G.711 through with no transcoding
// (RFC 7874 makes PCMU and PCMA mandatory in browsers).
//
// A Gateway serves one browser call leg. The SIP layer hands it every SDP body crossing the
// leg: FromBrowser for what the browser sends, ToBrowser for what the switch sends. The plain
// SDP names the gateway's own UDP socket; the switch's media endpoint (relay, prompts, music,
// recorder) talks plain RTP to it as to any phone, and the gateway moves each packet between
// that socket and the browser's SRTP stream. Each gateway takes one port pair of the switch's
// RTP pool: the even port faces the switch, ICE, DTLS and SRTP share the odd one (rtcp-mux,
// bundle).
package webrtc

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"

	"github.com/switchboard-voip/switchboard/media"
)

// Config is what every gateway of a switch shares.
type Config struct {
	// Ports is the switch's RTP pool; each gateway takes one pair of it.
	Ports *media.Ports
	// DisconnectedTimeout, FailedTimeout and KeepaliveInterval are the ICE timers: a browser
	// silent (no STUN, no media) for DisconnectedTimeout+FailedTimeout is gone and its
	// gateway's Done closes. Zero means 5 s, 10 s and 2 s.
	DisconnectedTimeout, FailedTimeout, KeepaliveInterval time.Duration
}

// Gateways makes Gateways for one switch; it holds the DTLS certificate they all present (one
// key pair per process: generating one per call would cost a key generation per call for no
// gain, since the fingerprint travels in signalling the browser already trusts).
type Gateways struct {
	cfg  Config
	cert webrtc.Certificate
}

// NewGateways checks cfg and makes the certificate.
func NewGateways(cfg Config) (*Gateways, error) {
	if cfg.Ports == nil {
		return nil, errors.New("webrtc: Config.Ports is required")
	}
	if cfg.DisconnectedTimeout <= 0 {
		cfg.DisconnectedTimeout = 5 * time.Second
	}
	if cfg.FailedTimeout <= 0 {
		cfg.FailedTimeout = 10 * time.Second
	}
	if cfg.KeepaliveInterval <= 0 {
		cfg.KeepaliveInterval = 2 * time.Second
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("webrtc: DTLS key: %w", err)
	}
	cert, err := webrtc.GenerateCertificate(key)
	if err != nil {
		return nil, fmt.Errorf("webrtc: DTLS certificate: %w", err)
	}
	return &Gateways{cfg: cfg, cert: *cert}, nil
}

// The codecs a gateway negotiates with browsers: G.711 only (passed through), and DTMF events.
var (
	pcmu  = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMU, ClockRate: 8000, Channels: 1}
	pcma  = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMA, ClockRate: 8000, Channels: 1}
	event = webrtc.RTPCodecCapability{MimeType: "audio/telephone-event", ClockRate: 8000, Channels: 1}
)

// eventPT is the payload type the gateway offers telephone-event at.
const eventPT = media.DefaultEventPT

// Gateway is one browser leg's media. Its methods are safe for concurrent use.
type Gateway struct {
	ep   *media.Endpoint // the pair from the pool: the shim on its RTP socket, ICE on its RTCP one
	shim *net.UDPConn
	mux  interface{ Close() error }
	pc   *webrtc.PeerConnection

	// The per-packet paths read these with atomic loads only.
	target atomic.Pointer[netip.AddrPort]             // where the switch's endpoint listens
	track  atomic.Pointer[webrtc.TrackLocalStaticRTP] // what the browser hears
	event  atomic.Uint32                              // the switch's telephone-event PT (not passed to the browser)

	mu          sync.Mutex // negotiation state below
	remoteOffer bool       // the browser offered: the next ToBrowser is our answer
	localOffer  bool       // we offered: the next FromBrowser is the browser's answer
	lastIn      []byte     // the browser's last SDP and what FromBrowser made of it: a 183
	lastOut     []byte     // and a 200 may carry the same answer twice
	originID    uint64
	originVer   uint64
	transceiver *webrtc.RTPTransceiver
	closing     sync.Mutex // guards closed and wg.Add against Close's wg.Wait
	closed      bool
	wg          sync.WaitGroup
	done        chan struct{}
	doneOnce    sync.Once
	closeOnce   sync.Once
	errOfClose  error
}

// New returns a gateway with its port pair and PeerConnection ready for the first offer.
func (gs *Gateways) New() (*Gateway, error) {
	ep, err := gs.cfg.Ports.Open()
	if err != nil {
		return nil, fmt.Errorf("webrtc: gateway ports: %w", err)
	}
	// The shim takes the even port: the switch's endpoint sends RTCP to the port above the one
	// in our SDP, which must be ours (the ICE socket drops what is not STUN or DTLS from a
	// browser it knows).
	shim, iceConn, err := ep.Sockets()
	if err != nil {
		ep.Close()
		return nil, fmt.Errorf("webrtc: gateway ports: %w", err)
	}
	mux := webrtc.NewICEUDPMux(nil, iceConn)

	var se webrtc.SettingEngine
	se.SetLite(true) // a server with a fixed address: the browser does the checks
	se.SetICEUDPMux(mux)
	se.SetIncludeLoopbackCandidate(true) // media.address may be 127.0.0.1 (the demo, tests)
	network := webrtc.NetworkTypeUDP4
	if ep.Addr().Is6() {
		network = webrtc.NetworkTypeUDP6
	}
	se.SetNetworkTypes([]webrtc.NetworkType{network})
	se.SetICETimeouts(gs.cfg.DisconnectedTimeout, gs.cfg.FailedTimeout, gs.cfg.KeepaliveInterval)
	// The switch's candidates are plain addresses: no mDNS responder per call.
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)

	// One MediaEngine per PeerConnection, as pion requires; no interceptors (NACK, reports,
	// congestion control; pion adds them unless given an empty registry): audio passes through
	// as it comes, and each would cost memory and a goroutine per call.
	var me webrtc.MediaEngine
	for _, c := range []webrtc.RTPCodecParameters{
		{RTPCodecCapability: pcmu, PayloadType: 0},
		{RTPCodecCapability: pcma, PayloadType: 8},
		{RTPCodecCapability: event, PayloadType: eventPT},
	} {
		if err := me.RegisterCodec(c, webrtc.RTPCodecTypeAudio); err != nil {
			_ = mux.Close()
			_ = ep.Close()
			return nil, fmt.Errorf("webrtc: codec %s: %w", c.MimeType, err)
		}
	}
	api := webrtc.NewAPI(webrtc.WithMediaEngine(&me), webrtc.WithSettingEngine(se),
		webrtc.WithInterceptorRegistry(&interceptor.Registry{}))
	pc, err := api.NewPeerConnection(webrtc.Configuration{
		Certificates:  []webrtc.Certificate{gs.cert},
		BundlePolicy:  webrtc.BundlePolicyMaxBundle,
		RTCPMuxPolicy: webrtc.RTCPMuxPolicyRequire,
	})
	if err != nil {
		_ = mux.Close()
		_ = ep.Close()
		return nil, fmt.Errorf("webrtc: peer connection: %w", err)
	}
	g := &Gateway{ep: ep, shim: shim, mux: mux, pc: pc, done: make(chan struct{}),
		originID: uint64(time.Now().UnixNano()) & (1<<62 - 1)}
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateFailed || s == webrtc.PeerConnectionStateClosed {
			g.finish()
		}
	})
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		if g.goOwned() {
			go g.fromBrowserLoop(tr)
		}
	})
	if g.goOwned() {
		go g.toBrowserLoop()
	}
	return g, nil
}

// goOwned counts a goroutine Close must wait for; false once Close has begun.
func (g *Gateway) goOwned() bool {
	g.closing.Lock()
	defer g.closing.Unlock()
	if g.closed {
		return false
	}
	g.wg.Add(1)
	return true
}

// Done is closed when the browser's media is gone (ICE or DTLS failed: a closed tab, a lost
// network) or the gateway was closed.
func (g *Gateway) Done() <-chan struct{} { return g.done }

func (g *Gateway) finish() { g.doneOnce.Do(func() { close(g.done) }) }

// Close ends the PeerConnection, stops both packet loops and returns the port pair. It is
// idempotent.
func (g *Gateway) Close() error {
	g.closeOnce.Do(func() {
		g.closing.Lock()
		g.closed = true
		g.closing.Unlock()
		g.errOfClose = errors.Join(g.pc.Close(), g.mux.Close(), g.ep.Close())
		g.wg.Wait()
		g.finish()
	})
	return g.errOfClose
}

// FromBrowser turns the browser's offer or answer into plain SDP for the switch (see the
// package comment). The error wraps media.ErrNoCommonCodec when the browser has no G.711 and
// media.ErrBadSDP when the SDP is malformed or refused by the WebRTC stack.
func (g *Gateway) FromBrowser(body []byte) ([]byte, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.lastIn != nil && string(body) == string(g.lastIn) {
		return g.lastOut, nil
	}
	a, err := media.ReadAudio(body)
	if err != nil {
		return nil, fmt.Errorf("webrtc: browser SDP: %w", err)
	}
	kind := webrtc.SDPTypeOffer
	if g.localOffer {
		kind = webrtc.SDPTypeAnswer
		a.G711 = a.G711[:1] // the codec the browser chose
	}
	if err := g.pc.SetRemoteDescription(webrtc.SessionDescription{Type: kind, SDP: string(body)}); err != nil {
		return nil, fmt.Errorf("webrtc: browser %s: %w: %v", kind, media.ErrBadSDP, err)
	}
	g.localOffer = false
	g.remoteOffer = kind == webrtc.SDPTypeOffer
	g.originVer++
	local, _ := netip.AddrFromSlice(g.shim.LocalAddr().(*net.UDPAddr).IP)
	out := plainSDP(g.originID, g.originVer, netip.AddrPortFrom(local.Unmap(), uint16(g.shim.LocalAddr().(*net.UDPAddr).Port)), a)
	g.lastIn, g.lastOut = append([]byte(nil), body...), out
	return out, nil
}

// ToBrowser turns the switch's plain offer or answer into WebRTC SDP and learns where the
// switch's endpoint listens.
func (g *Gateway) ToBrowser(body []byte) ([]byte, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	a, err := media.ReadAudio(body)
	if err != nil {
		return nil, fmt.Errorf("webrtc: switch SDP: %w", err)
	}
	if a.Remote.IsValid() && !a.Remote.Addr().IsUnspecified() && a.Remote.Port() != 0 {
		latch(&g.target, a.Remote)
	}
	g.event.Store(uint32(a.Event))
	if err := g.prepareTrack(a); err != nil {
		return nil, err
	}
	var desc webrtc.SessionDescription
	if g.remoteOffer {
		desc, err = g.pc.CreateAnswer(nil)
	} else {
		desc, err = g.pc.CreateOffer(nil)
	}
	if err != nil {
		return nil, fmt.Errorf("webrtc: %w: %v", media.ErrBadSDP, err)
	}
	gathered := webrtc.GatheringCompletePromise(g.pc)
	if err := g.pc.SetLocalDescription(desc); err != nil {
		return nil, fmt.Errorf("webrtc: local %s: %w", desc.Type, err)
	}
	select { // ICE-lite with one muxed host candidate: immediate, but never wait forever
	case <-gathered:
	case <-time.After(2 * time.Second):
		return nil, errors.New("webrtc: ICE candidates not gathered in 2s")
	}
	g.localOffer = !g.remoteOffer
	g.remoteOffer = false
	return []byte(withDirection(g.pc.LocalDescription().SDP, a.Direction)), nil
}

// prepareTrack gives the PeerConnection the track the browser hears, in the codec the switch
// chose (its answer's, or the first of its offer: browsers take any G.711), and restricts the
// negotiation to that codec and telephone-event.
func (g *Gateway) prepareTrack(a media.Audio) error {
	c, pt := pcmu, uint8(a.G711[0].Codec) // pion's payload types are the static ones
	if a.G711[0].Codec == media.PCMA {
		c = pcma
	}
	if g.track.Load() == nil {
		tr, err := webrtc.NewTrackLocalStaticRTP(c, "audio", "switchboard")
		if err != nil {
			return fmt.Errorf("webrtc: track: %w", err)
		}
		if _, err := g.pc.AddTrack(tr); err != nil {
			return fmt.Errorf("webrtc: add track: %w", err)
		}
		g.track.Store(tr)
		for _, t := range g.pc.GetTransceivers() {
			if t.Sender() != nil && t.Sender().Track() == tr {
				g.transceiver = t
			}
		}
	} else if g.track.Load().Codec().MimeType != c.MimeType {
		pt = 0 // a codec change mid-call: keep the track's (browsers accept either)
		if g.track.Load().Codec().MimeType == webrtc.MimeTypePCMA {
			pt = 8
		}
		c = g.track.Load().Codec()
	}
	if g.transceiver == nil {
		return nil
	}
	prefs := []webrtc.RTPCodecParameters{{RTPCodecCapability: c, PayloadType: webrtc.PayloadType(pt)}}
	if err := g.transceiver.SetCodecPreferences(append(prefs,
		webrtc.RTPCodecParameters{RTPCodecCapability: event, PayloadType: eventPT})); err != nil {
		if err := g.transceiver.SetCodecPreferences(prefs); err != nil {
			return fmt.Errorf("webrtc: codec preferences: %w", err)
		}
	}
	return nil
}

// fromBrowserLoop passes the browser's decrypted RTP to the switch's endpoint, unchanged.
func (g *Gateway) fromBrowserLoop(tr *webrtc.TrackRemote) {
	defer g.wg.Done()
	buf := make([]byte, 1500)
	for {
		n, _, err := tr.Read(buf)
		if err != nil {
			return // the PeerConnection closed
		}
		if dst := g.target.Load(); dst != nil {
			_, _ = g.shim.WriteToUDPAddrPort(buf[:n], *dst)
		}
	}
}

// toBrowserLoop passes the switch's RTP to the browser: pion sets the browser's SSRC and payload
// type and encrypts. The switch's telephone events are not passed (the track carries one payload
// type; a browser has no use for them). The switch's address latches to where its packets come
// from, as media.Endpoint does for phones.
func (g *Gateway) toBrowserLoop() {
	defer g.wg.Done()
	buf := make([]byte, 1500)
	var num renumber
	for {
		n, src, err := g.shim.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		latch(&g.target, netip.AddrPortFrom(src.Addr().Unmap(), src.Port()))
		if n < 12 || buf[0]>>6 != 2 {
			continue
		}
		if ev := g.event.Load(); ev != 0 && uint32(buf[1]&0x7f) == ev {
			continue
		}
		num.apply(buf[:n])
		if tr := g.track.Load(); tr != nil {
			_, _ = tr.Write(buf[:n])
		}
	}
}

// latch points p at ap. The steady state (the same address) neither allocates nor writes shared
// memory; a new address is stored as a new value, never by mutating the old one.
func latch(p *atomic.Pointer[netip.AddrPort], ap netip.AddrPort) {
	if cur := p.Load(); cur != nil && *cur == ap {
		return
	}
	n := new(netip.AddrPort)
	*n = ap
	p.Store(n)
}

// renumber keeps what the browser hears one stream. pion sends every packet under the track's
// one SSRC, so when the switch's side changes source (a phone's stream after the switch's
// ringback, a new party after a transfer) its sequence numbers and timestamps would jump, and a
// browser drops packets that seem to go back in time. A new source is rebased to go on from the
// last packet sent, with the marker bit set, as the start of a talkspurt.
type renumber struct {
	started bool
	ssrc    uint32
	seqOff  uint16
	tsOff   uint32
	lastSeq uint16 // what was last sent
	lastTS  uint32
}

// apply rewrites the RTP header in b (at least 12 bytes) in place.
func (r *renumber) apply(b []byte) {
	ssrc := binary.BigEndian.Uint32(b[8:12])
	seq := binary.BigEndian.Uint16(b[2:4])
	ts := binary.BigEndian.Uint32(b[4:8])
	if !r.started || ssrc != r.ssrc {
		if r.started {
			r.seqOff = r.lastSeq + 1 - seq
			r.tsOff = r.lastTS + 160 - ts
			b[1] |= 0x80 // marker: a new talkspurt
		}
		r.started, r.ssrc = true, ssrc
	}
	seq += r.seqOff
	ts += r.tsOff
	binary.BigEndian.PutUint16(b[2:4], seq)
	binary.BigEndian.PutUint32(b[4:8], ts)
	r.lastSeq, r.lastTS = seq, ts
}
