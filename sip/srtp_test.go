package sip_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/pion/rtp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/switchboard-voip/switchboard/internal/poll"
	"github.com/switchboard-voip/switchboard/media"
	"github.com/switchboard-voip/switchboard/media/mailbox"
	"github.com/switchboard-voip/switchboard/media/srtp"
	"github.com/switchboard-voip/switchboard/routing"
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

// TestSRTPUnusableKeysRefused: an RTP/SAVP offer whose only a=crypto line the switch cannot
// use (bad base64, a key of the wrong length, a suite it does not speak) gets 488, and the
// switch goes on serving: the same phone's next offer, with a good key, is bridged and its
// audio decrypted.
func TestSRTPUnusableKeysRefused(t *testing.T) {
	sw := startSwitch(t)
	bob := newPhone(t, sw, "1002", "udp").mustRegister()
	alice := srtpPhone(t, newPhone(t, sw, "1001", "udp")).mustRegister()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for name, line := range map[string]string{
		"bad base64":    "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVm!!!pPywjNWhcYD0mXXtxaVBR",
		"short key":     "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywj",
		"unknown suite": "1 F8_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR",
	} {
		alice.cryptoLine = line
		if _, err := alice.call(ctx, "1002"); statusOf(err) != 488 {
			t.Errorf("%s: %v, want 488", name, err)
		}
	}
	alice.cryptoLine = ""
	ic, hangup, d := bridged(t, alice, bob)
	c, err := srtp.NewCipher(*alice.key, switchKey(t, d.InviteResponse.Body()))
	if err != nil {
		t.Fatal(err)
	}
	alice.sendSRTP(t, c, remoteMedia(t, d.InviteResponse.Body()), 30, 0x55)
	if got := bob.recvRTP(t, 20, 0x55); got < 20 {
		t.Fatalf("after the refusals, the callee got %d of 30 packets", got)
	}
	_ = ic
	if err := hangup(); err != nil {
		t.Fatal(err)
	}
	sw.waitIdle(t)
}

// reinvite sends a re-INVITE with body on the caller's dialog and ACKs a 2xx.
func reinvite(t *testing.T, d *sipDialog, body []byte) *sip.Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req := sip.NewRequest(sip.INVITE, d.InviteResponse.Contact().Address)
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody(body)
	res, err := d.Do(ctx, req)
	if err != nil {
		t.Fatalf("re-INVITE: %v", err)
	}
	if res.IsSuccess() {
		if err := d.WriteRequest(sip.NewRequest(sip.ACK, d.InviteResponse.Contact().Address)); err != nil {
			t.Fatalf("ACK: %v", err)
		}
	}
	return res
}

// TestSRTPReinviteWithNewKeys: an SRTP caller re-keys by re-INVITE. A re-offer the call
// refuses (no G.711: 488) leaves the keys as they were; one that is answered puts the new key
// to work, while the switch keeps its own key (and its stream's count) in the same suite.
func TestSRTPReinviteWithNewKeys(t *testing.T) {
	sw := startSwitch(t)
	bob := newPhone(t, sw, "1002", "udp").mustRegister()
	alice := srtpPhone(t, newPhone(t, sw, "1001", "udp")).mustRegister()
	ic, hangup, d := bridged(t, alice, bob)
	swKey := switchKey(t, d.InviteResponse.Body())
	toSwitch := remoteMedia(t, d.InviteResponse.Body())
	oldKey := *alice.key

	// A refused re-offer with a new key: the old key still carries the call.
	srtpPhone(t, alice)
	g729Only := strings.Replace(string(alice.sdp("sendrecv")), "RTP/SAVP 0 8 101", "RTP/SAVP 18", 1)
	if res := reinvite(t, d, []byte(g729Only)); res.StatusCode != 488 {
		t.Fatalf("re-INVITE without G.711: %d, want 488", res.StatusCode)
	}
	old, err := srtp.NewCipher(oldKey, swKey)
	if err != nil {
		t.Fatal(err)
	}
	alice.sendSRTP(t, old, toSwitch, 30, 0x61)
	if got := bob.recvRTP(t, 20, 0x61); got < 20 {
		t.Fatalf("after a refused re-offer, the callee got %d of 30 packets under the old key", got)
	}

	// An answered re-offer with a new key.
	srtpPhone(t, alice)
	res := reinvite(t, d, alice.sdp("sendrecv"))
	if res.StatusCode != 200 {
		t.Fatalf("re-INVITE with a new key: %d", res.StatusCode)
	}
	if again := switchKey(t, res.Body()); !bytes.Equal(again.Key, swKey.Key) || !bytes.Equal(again.Salt, swKey.Salt) {
		t.Fatal("the switch changed its own key when only the phone re-keyed")
	}
	<-bob.reinvite
	c, err := srtp.NewCipher(*alice.key, swKey)
	if err != nil {
		t.Fatal(err)
	}
	alice.sendSRTP(t, c, toSwitch, 30, 0x62)
	if got := bob.recvRTP(t, 20, 0x62); got < 20 {
		t.Fatalf("the callee got %d of 30 packets under the caller's new key", got)
	}
	bob.sendRTP(t, remoteMedia(t, ic.req.Body()), 30, 0x63)
	if got := alice.recvSRTP(t, old, 20, 0x63); got < 20 {
		t.Fatalf("the caller got %d of the callee's 30 packets under the switch's unchanged key", got)
	}
	if err := hangup(); err != nil {
		t.Fatal(err)
	}
	sw.waitIdle(t)
}

// TestSRTPForkedPhonesTheWinnersKeysCount: a user whose media.srtp is required has two
// phones, each answering with its own key. The second answer, which loses, must not key the
// callee endpoint the two rings share: the winner hears the caller and is heard.
func TestSRTPForkedPhonesTheWinnersKeysCount(t *testing.T) {
	sw := startSwitch(t, withSRTP(map[string]sbsip.SRTPPolicy{"1002": sbsip.SRTPRequired}))
	desk := srtpPhone(t, newPhone(t, sw, "1002", "udp")).mustRegister()
	soft := srtpPhone(t, newPhone(t, sw, "1002", "tcp")).mustRegister()
	alice := newPhone(t, sw, "1001", "udp").mustRegister()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	type result struct {
		d   *sipDialog
		err error
	}
	done := make(chan result, 1)
	go func() {
		d, err := alice.call(ctx, "1002")
		done <- result{&sipDialog{d}, err}
	}()
	icDesk := desk.nextIncoming(5 * time.Second)
	icSoft := soft.nextIncoming(5 * time.Second)
	// Both answer at once, so that the second 200 most often reaches the switch after the
	// first has won but before its CANCEL reaches the phone: it is then ACKed and BYEd. A 200
	// that loses to the CANCEL fails to be sent, which is no matter here.
	answered := make(chan error, 2)
	for _, a := range []struct {
		p  *phone
		ic *incomingCall
	}{{desk, icDesk}, {soft, icSoft}} {
		go func() {
			answered <- a.ic.dlg.Respond(200, "OK", a.p.sdp("sendrecv"), sip.NewHeader("Content-Type", "application/sdp"))
		}()
	}
	defer func() { <-answered; <-answered }()
	r := <-done
	if r.err != nil {
		t.Fatalf("call: %v", r.err)
	}
	winner, ic := desk, icDesk
	select { // the loser is told first: a BYE for a late 200, or a CANCEL
	case <-desk.byes:
		winner, ic = soft, icSoft
	case <-desk.cancels:
		winner, ic = soft, icSoft
	case <-soft.byes:
	case <-soft.cancels:
	case <-ctx.Done():
		t.Fatal("neither phone was let go")
	}
	c, err := srtp.NewCipher(*winner.key, switchKey(t, ic.req.Body()))
	if err != nil {
		t.Fatal(err)
	}
	alice.sendRTP(t, remoteMedia(t, r.d.InviteResponse.Body()), 30, 0x71)
	if got := winner.recvSRTP(t, c, 20, 0x71); got < 20 {
		t.Fatalf("the answering phone got %d of the caller's 30 packets under its keys", got)
	}
	winner.sendSRTP(t, c, remoteMedia(t, ic.req.Body()), 30, 0x72)
	if got := alice.recvRTP(t, 20, 0x72); got < 20 {
		t.Fatalf("the caller got %d of the answering phone's 30 packets", got)
	}
	if err := r.d.Bye(context.Background()); err != nil {
		t.Fatal(err)
	}
	sw.waitIdle(t)
}

// TestSRTPCallerLeavesVoicemail: an SRTP caller reaches voicemail. The greeting and the beep
// (the switch's own media) reach it encrypted, its tone is decrypted into the recording, and
// its RFC 4733 '#', sent encrypted, ends the message.
func TestSRTPCallerLeavesVoicemail(t *testing.T) {
	store := openMailbox(t)
	sw := voicemailSwitch(t, store, greetings{"1003/no_answer": media.Tone(600, 0.5, 300*time.Millisecond)})
	alice := srtpPhone(t, newPhone(t, sw, "1001", "udp")).mustRegister()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	d, err := alice.call(ctx, "1003")
	if err != nil {
		t.Fatalf("call: %v", err)
	}
	c, err := srtp.NewCipher(*alice.key, switchKey(t, d.InviteResponse.Body()))
	if err != nil {
		t.Fatal(err)
	}
	peer := newPeer(t, alice, d.InviteResponse.Body(), c)
	poll.Require(t, 10*time.Second, "the greeting and then the beep heard, decrypted", func() bool {
		heard := peer.heardSamples()
		g, _ := toneSpan(heard, 600)
		b, _ := toneSpan(heard, 1000)
		return g >= 0 && b > g
	})
	// The tone starts with the beep heard and outlasts it: the recording, which starts as
	// the beep ends, holds a second of it at least.
	sent := 2 * time.Second
	peer.send(media.Tone(1000, 0.5, sent))
	peer.digit('#')
	select {
	case <-alice.byes: // "Message saved. Goodbye." and the switch hangs up
	case <-ctx.Done():
		t.Fatal("no hang-up after an encrypted #")
	}
	var msgs []mailbox.Message
	poll.Require(t, 5*time.Second, "the message stored", func() bool {
		msgs, _ = store.List("1003")
		return len(msgs) == 1
	})
	path, _ := store.Path("1003", msgs[0].ID)
	audio, err := media.LoadWAV(path)
	if err != nil {
		t.Fatal(err)
	}
	first, last := toneSpan(audio, 1000)
	if got := time.Duration(last-first) * time.Second / 8000; first < 0 || got < time.Second {
		t.Fatalf("recorded %v of the 1 kHz tone sent for %v", got, sent)
	}
	sw.waitIdle(t)
}

// TestSRTPCallerBlindTransferred: a plain callee holds an SRTP caller and transfers her. The
// switch's own re-INVITEs to her (hold passed through, then off hold for the new party) are
// RTP/SAVP under its unchanged key, and she and the transfer target hear each other.
func TestSRTPCallerBlindTransferred(t *testing.T) {
	sw, _, _ := transferSwitch(t, nil)
	bob := newPhone(t, sw, "1002", "udp").mustRegister()
	carol := newPhone(t, sw, "1003", "udp").mustRegister()
	alice := srtpPhone(t, newPhone(t, sw, "1001", "udp")).mustRegister()
	ic, _, d := bridged(t, alice, bob)
	swKey := switchKey(t, d.InviteResponse.Body())
	c, err := srtp.NewCipher(*alice.key, swKey)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	hold := sip.NewRequest(sip.INVITE, calleeSide(ic))
	hold.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	hold.SetBody(bob.sdp("sendonly"))
	if res, err := ic.dlg.Do(ctx, hold); err != nil || res.StatusCode != 200 {
		t.Fatalf("hold: %v %v", res, err)
	}
	_ = ic.dlg.WriteRequest(sip.NewRequest(sip.ACK, calleeSide(ic)))
	sameKey := func(what string, body []byte) {
		t.Helper()
		if k := switchKey(t, body); !bytes.Equal(k.Key, swKey.Key) || !bytes.Equal(k.Salt, swKey.Salt) {
			t.Fatalf("%s: the switch's key changed", what)
		}
	}
	sameKey("hold", (<-alice.reinvite).Body())
	if res := sendRefer(t, ic.dlg, calleeSide(ic), referTo(bob, "1003")); res.StatusCode != 202 {
		t.Fatalf("REFER: %d", res.StatusCode)
	}
	select {
	case got := <-alice.reinvite:
		sameKey("off hold", got.Body())
	case <-ctx.Done():
		t.Fatal("Alice was left on hold")
	}
	ring := carol.nextIncoming(5 * time.Second)
	carol.answer(ring)
	alice.drainRTP()
	carol.sendRTP(t, remoteMedia(t, ring.req.Body()), 30, 0xC1)
	if got := alice.recvSRTP(t, c, 20, 0xC1); got < 20 {
		t.Fatalf("Alice got %d of Carol's 30 packets, encrypted to her", got)
	}
	alice.sendSRTP(t, c, remoteMedia(t, d.InviteResponse.Body()), 30, 0xA1)
	if got := carol.recvRTP(t, 20, 0xA1); got < 20 {
		t.Fatalf("Carol got %d of Alice's 30 packets, decrypted", got)
	}
	_ = d.Bye(context.Background())
	<-carol.byes
	sw.waitIdle(t)
}

// lockedBuffer is a log sink the switch's goroutines write while the test reads.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestSRTPKeysNeverLogged: at debug level, through an SRTP call and refusals of unusable and
// misordered a=crypto lines, no log line carries a key, the phone's or the switch's.
func TestSRTPKeysNeverLogged(t *testing.T) {
	var logs lockedBuffer
	sw := startSwitch(t, withSRTP(map[string]sbsip.SRTPPolicy{"1003": sbsip.SRTPOff}), func(o *switchOpts) {
		enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
		o.Logger = zap.New(zapcore.NewTee(o.Logger.Core(), zapcore.NewCore(enc, zapcore.AddSync(&logs), zapcore.DebugLevel)))
	})
	bob := newPhone(t, sw, "1002", "udp").mustRegister()
	alice := srtpPhone(t, newPhone(t, sw, "1001", "udp")).mustRegister()
	_, hangup, d := bridged(t, alice, bob)
	swKey := switchKey(t, d.InviteResponse.Body())
	if err := hangup(); err != nil {
		t.Fatal(err)
	}
	keys := []srtp.Crypto{*alice.key, swKey}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, line := range []string{
		"1 inline:" + base64.StdEncoding.EncodeToString(alice.key.Key) + " AES_CM_128_HMAC_SHA1_80",
		"1 AES_CM_128_HMAC_SHA1_80 " + base64.StdEncoding.EncodeToString(append(alice.key.Key, 1, 2)),
	} {
		alice.cryptoLine = line
		if _, err := alice.call(ctx, "1002"); statusOf(err) != 488 {
			t.Fatalf("%v, want 488", err)
		}
	}
	off := srtpPhone(t, newPhone(t, sw, "1003", "udp"))
	if _, err := off.call(ctx, "1002"); statusOf(err) != 488 {
		t.Fatalf("SRTP with media.srtp off: %v, want 488", err)
	}
	keys = append(keys, *off.key)
	sw.waitIdle(t)
	out := logs.String()
	if !strings.Contains(out, "SRTP offer refused") {
		t.Fatalf("the refusals were not logged:\n%s", out)
	}
	for _, k := range keys {
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding} {
			if b64 := enc.EncodeToString(k.Key); strings.Contains(out, b64[:12]) {
				t.Fatalf("a key is in the log:\n%s", out)
			}
		}
	}
}

// TestSRTPPickupBetweenSRTPPhones: an SRTP caller rings a plain phone and an SRTP phone picks
// the call up (*8). The picker's endpoint, keyed by its own offer, becomes the callee side of
// the call: both legs are SRTP, each under its own keys, and each phone hears the other.
func TestSRTPPickupBetweenSRTPPhones(t *testing.T) {
	sw, _, _ := transferSwitch(t, nil)
	bob := newPhone(t, sw, "1002", "udp").mustRegister()
	carol := srtpPhone(t, newPhone(t, sw, "1003", "udp")).mustRegister()
	alice := srtpPhone(t, newPhone(t, sw, "1001", "udp")).mustRegister()
	d, answered := ringingCall(t, alice, "1002")
	ring := bob.nextIncoming(5 * time.Second)
	if err := ring.dlg.Respond(180, "Ringing", nil); err != nil {
		t.Fatal(err)
	}
	pd, err := pickUp(t, carol, routing.FeaturePickup+"1002")
	if err != nil {
		t.Fatalf("*81002: %v", err)
	}
	if err := <-answered; err != nil {
		t.Fatalf("Alice's call not answered by the pickup: %v", err)
	}
	ca, err := srtp.NewCipher(*alice.key, switchKey(t, d.InviteResponse.Body()))
	if err != nil {
		t.Fatal(err)
	}
	cc, err := srtp.NewCipher(*carol.key, switchKey(t, pd.InviteResponse.Body()))
	if err != nil {
		t.Fatal(err)
	}
	carol.sendSRTP(t, cc, remoteMedia(t, pd.InviteResponse.Body()), 30, 0xC2)
	if got := alice.recvSRTP(t, ca, 20, 0xC2); got < 20 {
		t.Fatalf("Alice got %d of Carol's 30 packets under her keys", got)
	}
	alice.sendSRTP(t, ca, remoteMedia(t, d.InviteResponse.Body()), 30, 0xA2)
	if got := carol.recvSRTP(t, cc, 20, 0xA2); got < 20 {
		t.Fatalf("Carol got %d of Alice's 30 packets under her keys", got)
	}
	if err := pd.Bye(context.Background()); err != nil {
		t.Fatal(err)
	}
	<-alice.byes
	sw.waitIdle(t)
}
