package main

import (
	"bytes"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// TestUACScenarioIgnoresLateRinging: testdata/sipp/uac.xml, the caller of every SIPp load
// (and of make bench-peer), keeps a call whose 180 Ringing arrives after its 200 OK, as a phone
// does (RFC 3261 17.1.1.2: the INVITE transaction has ended, the provisional changes nothing).
// Over UDP a proxy that forwards responses from several workers at once (Kamailio's eight
// here) lets a 200 overtake the 180 sent just before it; a caller that aborted the call there
// counted the peer's own reordering as a failed call. The far end here is this test: it answers
// the authenticated INVITE with 200 and only then sends 180.
func TestUACScenarioIgnoresLateRinging(t *testing.T) {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	media := newRTPProbe(t) // the caller's audio lands there

	dir := t.TempDir()
	uac := startSIPp(t, dir, "uac", conn.LocalAddr().String(), "-sf", scenario(t, "uac.xml"),
		"-i", "127.0.0.1", "-p", strconv.Itoa(freePort(t)), "-mp", strconv.Itoa(freeMediaPort(t)),
		"-inf", calleesFile(t, dir, "callees.csv", "1002"),
		"-key", "caller", "1001", "-au", "1001", "-ap", "alice-secret",
		"-d", "200", "-m", "1", "-trace_msg", "-timeout", "20s", "-timeout_error")

	answer := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
		"m=audio " + strconv.Itoa(media.port()) + " RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n"
	send := func(res *sip.Response, to net.Addr) {
		if _, err := conn.WriteTo([]byte(res.String()), to); err != nil {
			t.Errorf("sending %d: %v", res.StatusCode, err)
		}
	}
	buf := make([]byte, 65535)
	invites := map[uint32]bool{} // by CSeq: a retransmission (SIPp's timer, on a busy box) is the same INVITE
	for done := false; !done; {
		if err := conn.SetReadDeadline(time.Now().Add(20 * time.Second)); err != nil {
			t.Fatal(err)
		}
		n, from, err := conn.ReadFrom(buf)
		if err != nil {
			t.Fatalf("waiting for the caller's next request: %v\n%s", err, uac.report())
		}
		msg, err := sip.ParseMessage(bytes.Clone(buf[:n]))
		if err != nil {
			t.Fatalf("parsing what the caller sent: %v", err)
		}
		req, ok := msg.(*sip.Request)
		if !ok {
			t.Fatalf("the caller sent a response: %s", msg)
		}
		switch req.Method {
		case sip.INVITE:
			invites[req.CSeq().SeqNo] = true
			if req.GetHeader("Proxy-Authorization") == nil {
				res := sip.NewResponseFromRequest(req, 407, "Proxy Authentication Required", nil)
				res.AppendHeader(sip.NewHeader("Proxy-Authenticate", `Digest realm="switchboard", nonce="abc123", algorithm=MD5, qop="auth"`))
				send(res, from)
				continue
			}
			ok := sip.NewResponseFromRequest(req, 200, "OK", []byte(answer))
			ok.To().Params.Add("tag", "far1")
			ok.AppendHeader(sip.NewHeader("Contact", "<sip:1002@"+conn.LocalAddr().String()+">"))
			ok.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
			ringing := sip.NewResponseFromRequest(req, 180, "Ringing", nil)
			ringing.To().Params.Add("tag", "far1")
			send(ok, from)
			send(ringing, from) // overtaken by the 200 on its way
		case sip.ACK:
		case sip.BYE:
			send(sip.NewResponseFromRequest(req, 200, "OK", nil), from)
			done = true
		default:
			t.Fatalf("unexpected %s from the caller", req.Method)
		}
	}
	if len(invites) != 2 {
		t.Errorf("the caller sent %d INVITEs, want 2 (one challenged, one with credentials)", len(invites))
	}
	uac.mustSucceed(t, 20*time.Second)
}
