package webrtc

import (
	"bytes"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"

	"github.com/switchboard-voip/switchboard/media"
)

// IsWebRTC reports whether an SDP body is a WebRTC one: its audio is DTLS-SRTP (a SAVPF
// profile, or a certificate fingerprint), which the switch cannot relay as plain RTP.
func IsWebRTC(body []byte) bool {
	return bytes.Contains(body, []byte("RTP/SAVPF")) || bytes.Contains(body, []byte("a=fingerprint:"))
}

// audio is what the gateway reads from an SDP's audio stream, whichever side wrote it.
type audio struct {
	g711      []uint8 // PCMU (0) and PCMA (8) in the writer's order of preference
	event     uint8   // telephone-event at 8 kHz; 0 if none
	direction string  // sendrecv, sendonly, recvonly or inactive
	remote    netip.AddrPort
}

// parseAudio reads the first audio stream of body. A stream without G.711 is an error wrapping
// media.ErrNoCommonCodec: browsers must offer it (RFC 7874) and the gateway never transcodes.
func parseAudio(body []byte) (audio, error) {
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(string(body)); err != nil {
		return audio{}, fmt.Errorf("%w: %v", media.ErrBadSDP, err)
	}
	var a audio
	for _, md := range sd.MediaDescriptions {
		if md.MediaName.Media != "audio" || md.MediaName.Port.Value == 0 {
			continue
		}
		for _, f := range md.MediaName.Formats {
			pt, err := strconv.Atoi(f)
			if err != nil || pt < 0 || pt > 127 {
				continue
			}
			enc := rtpmap(md, f)
			switch {
			case pt == 0 && (enc == "" || strings.EqualFold(enc, "PCMU/8000")),
				pt == 8 && (enc == "" || strings.EqualFold(enc, "PCMA/8000")):
				a.g711 = append(a.g711, uint8(pt))
			case strings.EqualFold(enc, "telephone-event/8000") && a.event == 0:
				a.event = uint8(pt)
			}
		}
		a.direction = directionOf(&sd, md)
		host := ""
		if md.ConnectionInformation != nil && md.ConnectionInformation.Address != nil {
			host = md.ConnectionInformation.Address.Address
		} else if sd.ConnectionInformation != nil && sd.ConnectionInformation.Address != nil {
			host = sd.ConnectionInformation.Address.Address
		}
		if ip, err := netip.ParseAddr(host); err == nil {
			a.remote = netip.AddrPortFrom(ip.Unmap(), uint16(md.MediaName.Port.Value))
		}
		if len(a.g711) == 0 {
			return a, fmt.Errorf("%w: the audio stream has no PCMU or PCMA", media.ErrNoCommonCodec)
		}
		return a, nil
	}
	return audio{}, fmt.Errorf("%w: no audio stream", media.ErrNoCommonCodec)
}

// directionOf is the stream's direction attribute, else the session's, else sendrecv.
func directionOf(sd *sdp.SessionDescription, md *sdp.MediaDescription) string {
	for _, attrs := range [][]sdp.Attribute{md.Attributes, sd.Attributes} {
		for _, at := range attrs {
			switch at.Key {
			case "sendrecv", "sendonly", "recvonly", "inactive":
				return at.Key
			}
		}
	}
	return "sendrecv"
}

// rtpmap is the encoding name/rate an a=rtpmap gives payload type pt, or "".
func rtpmap(md *sdp.MediaDescription, pt string) string {
	for _, at := range md.Attributes {
		if at.Key != "rtpmap" {
			continue
		}
		num, rest, ok := strings.Cut(at.Value, " ")
		if ok && num == pt {
			enc := strings.TrimSpace(rest)
			if n := strings.Count(enc, "/"); n > 1 { // "PCMU/8000/1": the channel count is not compared
				enc = enc[:strings.LastIndex(enc, "/")]
			}
			return enc
		}
	}
	return ""
}

// plainSDP is the SDP the switch sees for the browser: one audio stream on the gateway's
// plain-RTP socket, with the G.711 codecs and telephone-event at the payload types the browser
// uses, so packets pass through unchanged.
func plainSDP(id, version uint64, local netip.AddrPort, a audio) []byte {
	ipv := "IP4"
	if local.Addr().Is6() {
		ipv = "IP6"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "v=0\r\no=switchboard-webrtc %d %d IN %s %s\r\ns=-\r\nc=IN %s %s\r\nt=0 0\r\n",
		id, version, ipv, local.Addr(), ipv, local.Addr())
	fmt.Fprintf(&b, "m=audio %d RTP/AVP", local.Port())
	for _, pt := range a.g711 {
		fmt.Fprintf(&b, " %d", pt)
	}
	if a.event != 0 {
		fmt.Fprintf(&b, " %d", a.event)
	}
	b.WriteString("\r\n")
	for _, pt := range a.g711 {
		name := "PCMU"
		if pt == 8 {
			name = "PCMA"
		}
		fmt.Fprintf(&b, "a=rtpmap:%d %s/8000\r\n", pt, name)
	}
	if a.event != 0 {
		fmt.Fprintf(&b, "a=rtpmap:%d telephone-event/8000\r\na=fmtp:%d 0-16\r\n", a.event, a.event)
	}
	fmt.Fprintf(&b, "a=ptime:20\r\na=%s\r\n", a.direction)
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
