package sip_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/switchboard-voip/switchboard/internal/webrtcpeer"
	gateway "github.com/switchboard-voip/switchboard/media/webrtc"
	sbsip "github.com/switchboard-voip/switchboard/sip"
)

// Browser legs at the SIP layer: the caller's INVITE carries a WebRTC offer (a pion browser's),
// the switch answers it through a gateway, and the plain phone on the other side sees plain
// RTP. A WebRTC offer the switch cannot take is refused with 488.

var (
	pcmuCap = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMU, ClockRate: 8000, Channels: 1}
	opusCap = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}
)

// withBrowsers gives a test switch WebRTC gateways on its own port pool.
func withBrowsers(t *testing.T) func(*switchOpts) {
	return func(o *switchOpts) {
		gs, err := gateway.NewGateways(gateway.Config{Ports: o.Ports, DisconnectedTimeout: time.Second,
			FailedTimeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		o.Browsers = sbsip.WebRTC(gs)
	}
}

// browserInvite has p call ext with body as its offer.
func browserInvite(ctx context.Context, p *phone, ext string, body []byte) (*sipDialog, error) {
	from := &sip.FromHeader{DisplayName: "Browser " + p.ext, Address: sip.Uri{Scheme: "sip", User: p.ext, Host: p.host},
		Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(12))
	d, err := p.dcc.Invite(ctx, p.switchURI(ext), body, sip.NewHeader("Content-Type", "application/sdp"), from)
	if err != nil {
		return nil, err
	}
	if err := d.WaitAnswer(ctx, sipgoAuth(p)); err != nil {
		return &sipDialog{d}, err
	}
	return &sipDialog{d}, d.Ack(ctx)
}

func TestBrowserCallerTalksToPhone(t *testing.T) {
	sw := startSwitch(t, withBrowsers(t))
	bob := newPhone(t, sw, "1002", "udp").mustRegister()
	alice := newPhone(t, sw, "1001", "tcp").mustRegister() // a WebRTC offer is too big for UDP
	browser := webrtcpeer.New(t, nil, pcmuCap)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	type result struct {
		d   *sipDialog
		err error
	}
	done := make(chan result, 1)
	go func() {
		d, err := browserInvite(ctx, alice, "1002", browser.Offer())
		done <- result{d, err}
	}()
	ic := bob.nextIncoming(5 * time.Second)
	if offer := string(ic.req.Body()); strings.Contains(offer, "SAVPF") || strings.Contains(offer, "opus") ||
		!strings.Contains(offer, "RTP/AVP 0 8") {
		t.Fatalf("the phone is offered:\n%s", offer)
	}
	bob.answer(ic)
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	answer := r.d.InviteResponse.Body()
	for _, want := range []string{"a=ice-lite", "a=fingerprint:", "a=candidate:", "PCMU/8000"} {
		if !strings.Contains(string(answer), want) {
			t.Fatalf("the browser's answer lacks %q:\n%s", want, answer)
		}
	}
	browser.Remote(webrtc.SDPTypeAnswer, answer)
	browser.WaitUp(10 * time.Second)

	// Bob's RTP reaches the browser; the browser's reaches Bob, payloads untouched.
	toSwitchFromBob := remoteMedia(t, ic.req.Body())
	const n = 50
	sent := make(chan struct{})
	go func() { defer close(sent); bob.sendRTP(t, toSwitchFromBob, n, 0xB2) }()
	defer func() { <-sent }()
	select {
	case p := <-browser.Heard:
		if p.PayloadType != 0 || len(p.Payload) != 160 || p.Payload[0] != 0xB2 {
			t.Fatalf("browser heard PT %d, %d bytes, %#x", p.PayloadType, len(p.Payload), p.Payload[0])
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the browser heard nothing of Bob")
	}
	spoke := make(chan struct{})
	defer func() { <-spoke }()
	go func() {
		defer close(spoke)
		payload := make([]byte, 160)
		for i := range payload {
			payload[i] = 0xA1
		}
		for i := 0; i < n; i++ {
			_ = browser.Mic.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(i),
				Timestamp: uint32(160 * i)}, Payload: payload})
			time.Sleep(2 * time.Millisecond)
		}
	}()
	if got := bob.recvRTP(t, n/2, 0xA1); got < n/2 {
		t.Fatalf("Bob heard %d packets of the browser's %d", got, n)
	}
	if err := r.d.Bye(context.Background()); err != nil {
		t.Fatal(err)
	}
	sw.waitIdle(t) // the gateway's port pair is back too
}

func TestBrowserOfferWithoutG711Is488(t *testing.T) {
	for _, c := range []struct {
		name string
		tune []func(*switchOpts)
	}{{"with gateways", []func(*switchOpts){withBrowsers(t)}}, {"without gateways", nil}} {
		t.Run(c.name, func(t *testing.T) {
			sw := startSwitch(t, c.tune...)
			newPhone(t, sw, "1002", "udp").mustRegister()
			alice := newPhone(t, sw, "1001", "tcp").mustRegister() // a WebRTC offer is too big for UDP
			caps := []webrtc.RTPCodecParameters{{RTPCodecCapability: opusCap, PayloadType: 111}}
			if c.tune == nil {
				caps = nil // a perfectly good offer, but nothing to terminate WebRTC with
			}
			browser := webrtcpeer.New(t, caps, opusCap)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err := browserInvite(ctx, alice, "1002", browser.Offer())
			if code := statusOf(err); code != 488 {
				t.Fatalf("call: %v (%d), want 488", err, code)
			}
			sw.waitIdle(t)
		})
	}
}
