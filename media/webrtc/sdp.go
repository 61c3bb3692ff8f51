package webrtc

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"

	"github.com/switchboard-voip/switchboard/media"
)

// IsWebRTC reports whether an SDP body is a WebRTC one: its audio is DTLS-SRTP (a SAVPF
// profile, or a certificate fingerprint), which the switch cannot relay as plain RTP.
func IsWebRTC(body []byte) bool {
	return bytes.Contains(body, []byte("RTP/SAVPF")) || bytes.Contains(body, []byte("a=fingerprint:"))
}

// plainSDP is the SDP the switch sees for the browser: one audio stream on the gateway's
// plain-RTP socket, with the G.711 codecs and telephone-event at the payload types the browser
// uses, so packets pass through unchanged.
func plainSDP(id, version uint64, local netip.AddrPort, a media.Audio) []byte {
	ipv := "IP4"
	if local.Addr().Is6() {
		ipv = "IP6"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "v=0\r\no=switchboard-webrtc %d %d IN %s %s\r\ns=-\r\nc=IN %s %s\r\nt=0 0\r\n",
		id, version, ipv, local.Addr(), ipv, local.Addr())
	fmt.Fprintf(&b, "m=audio %d RTP/AVP", local.Port())
	for _, f := range a.G711 {
		fmt.Fprintf(&b, " %d", f.PT)
	}
	if a.Event != 0 {
		fmt.Fprintf(&b, " %d", a.Event)
	}
	b.WriteString("\r\n")
	for _, f := range a.G711 {
		fmt.Fprintf(&b, "a=rtpmap:%d %s/8000\r\n", f.PT, f.Codec)
	}
	if a.Event != 0 {
		fmt.Fprintf(&b, "a=rtpmap:%d telephone-event/8000\r\na=fmtp:%d 0-16\r\n", a.Event, a.Event)
	}
	fmt.Fprintf(&b, "a=ptime:20\r\na=%s\r\n", a.Direction)
	return []byte(b.String())
}

// withDirection rewrites the direction attribute of a WebRTC SDP's audio stream to dir: pion
// has no way to set a transceiver's direction for one negotiation, and the browser must see
// the hold (or resume) the switch's SDP says.
func withDirection(s, dir string) string {
	lines := strings.Split(s, "\r\n")
	for i, l := range lines {
		switch l {
		case "a=sendrecv", "a=sendonly", "a=recvonly", "a=inactive":
			lines[i] = "a=" + dir
		}
	}
	return strings.Join(lines, "\r\n")
}
