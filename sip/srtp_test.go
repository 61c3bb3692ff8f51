package sip_test

import (
	"bytes"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/switchboard-voip/switchboard/media/srtp"
	sbsip "github.com/switchboard-voip/switchboard/sip"
)

// srtpPhone gives p an SDES key: its SDP offers and answers RTP/SAVP.
func srtpPhone(t *testing.T, p *phone) *phone {
	t.Helper()
	k, err := srtp.NewCrypto(1, srtp.Suites[0])
	if err != nil {
		t.Fatal(err)
	}
	p.key = &k
	return p
}

// switchKey reads the key the switch sends with from its SDP to the phone.
func switchKey(t *testing.T, body []byte) srtp.Crypto {
	t.Helper()
	if !strings.Contains(string(body), "RTP/SAVP") {
		t.Fatalf("the switch's SDP is not RTP/SAVP:\n%s", body)
	}
	for _, line := range strings.Split(string(body), "\r\n") {
		if v, ok := strings.CutPrefix(line, "a=crypto:"); ok {
			c, err := srtp.ParseCrypto(v)
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
	}
	t.Fatalf("no a=crypto in the switch's SDP:\n%s", body)
	return srtp.Crypto{}
}

// sendSRTP sends n PCMU packets of fill, encrypted with c, from the phone to dst.
func (p *phone) sendSRTP(t *testing.T, c *srtp.Cipher, dst *net.UDPAddr, n int, fill byte) {
	pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SSRC: 0xabc0 | uint32(fill)}, Payload: bytes.Repeat([]byte{fill}, 160)}
	for i := range n {
		pkt.SequenceNumber, pkt.Timestamp = uint16(i), uint32(i*160)
		b, _ := pkt.Marshal()
		sealed, err := c.Seal(nil, b, false)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.rtp.WriteToUDP(sealed, dst); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond) // pacing, as a phone sends; not synchronisation
	}
}

// recvSRTP counts packets of fill that decrypt with c; packets in the clear do not count.
func (p *phone) recvSRTP(t *testing.T, c *srtp.Cipher, want int, fill byte) int {
	t.Helper()
	buf := make([]byte, 1500)
	got := 0
	for got < want {
		_ = p.rtp.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, _, err := p.rtp.ReadFromUDP(buf)
		if err != nil {
			break
		}
		plain, err := c.Open(buf[:n], false)
		if err != nil {
			continue
		}
		var pkt rtp.Packet
		if pkt.Unmarshal(plain) == nil && len(pkt.Payload) == 160 && bytes.Count(pkt.Payload, []byte{fill}) == 160 {
			got++
		}
	}
	return got
}

func withSRTP(policies map[string]sbsip.SRTPPolicy) func(*switchOpts) {
	return func(o *switchOpts) {
		o.SRTP = func(ext string) sbsip.SRTPPolicy { return policies[ext] }
	}
}

// TestSRTPCallerTalksToPlainPhone: an SRTP phone calls a plain one; the switch answers
// RTP/SAVP with a key of its own, decrypts what the caller sends before relaying it in the
// clear, and encrypts what the callee sends.
func TestSRTPCallerTalksToPlainPhone(t *testing.T) {
	sw := startSwitch(t)
	bob := newPhone(t, sw, "1002", "udp").mustRegister()
	alice := srtpPhone(t, newPhone(t, sw, "1001", "udp")).mustRegister()
	ic, hangup, d := bridged(t, alice, bob)
	if strings.Contains(string(ic.req.Body()), "SAVP") || strings.Contains(string(ic.req.Body()), "crypto") {
		t.Fatalf("the plain callee was offered SRTP:\n%s", ic.req.Body())
	}
	c, err := srtp.NewCipher(*alice.key, switchKey(t, d.InviteResponse.Body()))
	if err != nil {
		t.Fatal(err)
	}
	alice.sendSRTP(t, c, remoteMedia(t, d.InviteResponse.Body()), 30, 0x11)
	if got := bob.recvRTP(t, 20, 0x11); got < 20 {
		t.Fatalf("the plain callee got %d decrypted packets of the SRTP caller's 30", got)
	}
	bob.sendRTP(t, remoteMedia(t, ic.req.Body()), 30, 0x22)
	if got := alice.recvSRTP(t, c, 20, 0x22); got < 20 {
		t.Fatalf("the SRTP caller got %d packets it could decrypt of the callee's 30", got)
	}
	if err := hangup(); err != nil {
		t.Fatal(err)
	}
	sw.waitIdle(t)
}

// TestSRTPRequiredCalleeIsOfferedSAVP: a user whose media.srtp is required is called with an
// RTP/SAVP offer; their phone answers with its key and talks to a plain caller.
func TestSRTPRequiredCalleeIsOfferedSAVP(t *testing.T) {
	sw := startSwitch(t, withSRTP(map[string]sbsip.SRTPPolicy{"1002": sbsip.SRTPRequired}))
	bob := srtpPhone(t, newPhone(t, sw, "1002", "udp")).mustRegister()
	alice := newPhone(t, sw, "1001", "udp").mustRegister()
	ic, hangup, d := bridged(t, alice, bob)
	c, err := srtp.NewCipher(*bob.key, switchKey(t, ic.req.Body()))
	if err != nil {
		t.Fatal(err)
	}
	bob.sendSRTP(t, c, remoteMedia(t, ic.req.Body()), 30, 0x33)
	if got := alice.recvRTP(t, 20, 0x33); got < 20 {
		t.Fatalf("the plain caller got %d of the SRTP callee's 30 packets", got)
	}
	alice.sendRTP(t, remoteMedia(t, d.InviteResponse.Body()), 30, 0x44)
	if got := bob.recvSRTP(t, c, 20, 0x44); got < 20 {
		t.Fatalf("the SRTP callee got %d packets it could decrypt of the caller's 30", got)
	}
	if err := hangup(); err != nil {
		t.Fatal(err)
	}
	sw.waitIdle(t)
}

// TestSRTPPolicyRefusals: 488 for an SRTP offer from a user whose media.srtp is off, a plain
// offer from one whose is required, and an RTP/SAVP offer without a key the switch can use;
// the switch goes on serving.
func TestSRTPPolicyRefusals(t *testing.T) {
	sw := startSwitch(t, withSRTP(map[string]sbsip.SRTPPolicy{"1001": sbsip.SRTPOff, "1003": sbsip.SRTPRequired}))
	newPhone(t, sw, "1002", "udp").mustRegister()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	off := srtpPhone(t, newPhone(t, sw, "1001", "udp"))
	if _, err := off.call(ctx, "1002"); statusOf(err) != 488 {
		t.Errorf("SRTP offer with media.srtp off: %v, want 488", err)
	}
	required := newPhone(t, sw, "1003", "udp")
	if _, err := required.call(ctx, "1002"); statusOf(err) != 488 {
		t.Errorf("plain offer with media.srtp required: %v, want 488", err)
	}
	bad := srtpPhone(t, newPhone(t, sw, "1003", "udp"))
	bad.key.Suite = srtp.Crypto{}.Suite // a suite with no name: the a=crypto line is unusable
	if _, err := bad.call(ctx, "1002"); statusOf(err) != 488 {
		t.Errorf("RTP/SAVP with an unusable key: %v, want 488", err)
	}
	sw.waitIdle(t)
}
