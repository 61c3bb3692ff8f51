package sip

import (
	"net"
	"strconv"
	"testing"

	"github.com/emiago/sipgo/sip"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/switchboard-voip/switchboard/internal/clock"
)

// BenchmarkGate is what the gate adds to each datagram before sipgo parses it: a typical
// phone's INVITE with SDP, passed through.
func BenchmarkGate(b *testing.B) {
	g := newGate(newLiveSources(Sources{}), FloodLimit{Rate: 1e9, Burst: 1e9}, zapcore.InfoLevel, zap.NewNop(), clock.Real())
	conn := &capturePacketConn{}
	g.listen(conn)
	props := sip.TransportReadProps{Transport: "UDP", LocalAddr: conn.LocalAddr(),
		RemoteAddr: &net.UDPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 5060}}
	body := "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 8 101\r\n" +
		"a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=sendrecv\r\n"
	msg := []byte("INVITE sip:1002@192.0.2.9 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds;rport\r\n" +
		"Max-Forwards: 70\r\nTo: <sip:1002@192.0.2.9>\r\nFrom: \"Alice\" <sip:1001@192.0.2.9>;tag=1928301774\r\n" +
		"Call-ID: a84b4c76e66710@pc33\r\nCSeq: 314159 INVITE\r\nContact: <sip:1001@192.0.2.1:5060>\r\n" +
		"User-Agent: Yealink SIP-T46S\r\nAllow: INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, REFER, NOTIFY\r\n" +
		"Content-Type: application/sdp\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body)
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if out, _ := g.filter(props, msg); len(out) == 0 {
			b.Fatal("dropped")
		}
	}
}
