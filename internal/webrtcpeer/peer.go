// Package webrtcpeer is a browser's media end for tests: a full (non-lite) pion PeerConnection
// that offers and answers as Chrome does (Opus first, then G722, PCMU, PCMA), sends RTP from a
// microphone track and keeps what it hears. It is test support: its methods fail the test on
// error.
package webrtcpeer

import (
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// Peer is one browser's PeerConnection.
type Peer struct {
	t     testing.TB
	PC    *webrtc.PeerConnection
	Mic   *webrtc.TrackLocalStaticRTP // nil without a microphone
	Heard chan *rtp.Packet            // what the browser hears (the newest are dropped when full)
	up    chan struct{}
}

// New makes a browser whose codecs are caps (Chrome's audio codecs when nil) with a
// microphone track in codec mic (none when mic.MimeType is empty). It closes when the test ends.
func New(t testing.TB, caps []webrtc.RTPCodecParameters, mic webrtc.RTPCodecCapability) *Peer {
	t.Helper()
	var me webrtc.MediaEngine
	if caps == nil {
		if err := me.RegisterDefaultCodecs(); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range caps {
		if err := me.RegisterCodec(c, webrtc.RTPCodecTypeAudio); err != nil {
			t.Fatal(err)
		}
	}
	var se webrtc.SettingEngine
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetICETimeouts(time.Second, time.Second, 200*time.Millisecond)
	api := webrtc.NewAPI(webrtc.WithMediaEngine(&me), webrtc.WithSettingEngine(se))
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	p := &Peer{t: t, PC: pc, Heard: make(chan *rtp.Packet, 1024), up: make(chan struct{})}
	var once sync.Once
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			once.Do(func() { close(p.up) })
		}
	})
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		go func() {
			for {
				pkt, _, err := tr.ReadRTP()
				if err != nil {
					return
				}
				select {
				case p.Heard <- pkt:
				default:
				}
			}
		}()
	})
	if mic.MimeType != "" {
		p.Mic, err = webrtc.NewTrackLocalStaticRTP(mic, "mic", "browser")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pc.AddTrack(p.Mic); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { _ = pc.Close() })
	return p
}

// Local sets d (from CreateOffer or CreateAnswer) as the local description and returns it
// once its candidates are in.
func (p *Peer) Local(d webrtc.SessionDescription, err error) []byte {
	p.t.Helper()
	if err != nil {
		p.t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(p.PC)
	if err := p.PC.SetLocalDescription(d); err != nil {
		p.t.Fatal(err)
	}
	<-gathered
	return []byte(p.PC.LocalDescription().SDP)
}

// Offer is a new offer, set as local description.
func (p *Peer) Offer() []byte { return p.Local(p.PC.CreateOffer(nil)) }

// Answer answers the remote offer, set as local description.
func (p *Peer) Answer() []byte { return p.Local(p.PC.CreateAnswer(nil)) }

// Remote sets the far end's offer or answer.
func (p *Peer) Remote(kind webrtc.SDPType, body []byte) {
	p.t.Helper()
	if err := p.PC.SetRemoteDescription(webrtc.SessionDescription{Type: kind, SDP: string(body)}); err != nil {
		p.t.Fatalf("browser takes the %s: %v\n%s", kind, err, body)
	}
}

// WaitUp waits for ICE and DTLS to connect.
func (p *Peer) WaitUp(within time.Duration) {
	p.t.Helper()
	select {
	case <-p.up:
	case <-time.After(within):
		p.t.Fatalf("browser not connected within %v: %s", within, p.PC.ConnectionState())
	}
}
