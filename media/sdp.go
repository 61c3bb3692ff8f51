package media

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/pion/sdp/v3"
)

// The switch sits between caller A and callee B and anchors the media, so
// every SDP it forwards is rewritten to point at its own endpoint on that leg:
// A's offer becomes an offer to B pointing at the B-facing endpoint, and B's
// answer becomes an answer to A pointing at the A-facing endpoint; the same
// holds for re-INVITEs from either side.
//
// Only what the relay can carry survives: one plain RTP/AVP audio stream
// with PCMU, PCMA and telephone-event (RFC 4733) at 8 kHz. The payload types
// are passed through unchanged, so both phones use the same numbers and the
// relay never rewrites packets. Everything else that is specific to the
// offerer's transport (ICE, DTLS, SDES crypto, rtcp-mux, a=rtcp, bundling)
// is dropped, because the switch's endpoint does plain RTP with RTCP on the
// next port up.

// Origin keeps the o= line of one leg: a session id that stays the same for
// the dialog and a version that grows by one with every SDP the switch sends
// on that leg, so the phone can tell a changed session apart from a
// retransmission (RFC 3264 §8). Use one Origin per leg, for the whole dialog.
// It is safe for concurrent use.
type Origin struct {
	id      uint64
	version atomic.Uint64
}

// NewOrigin returns an origin with a random session id. The id stays below
// 2^31 because some phones parse it into a signed 32-bit integer.
func NewOrigin() *Origin {
	return &Origin{id: uint64(rand.Int32N(1<<31-1)) + 1}
}

// next returns the session id and the version of the next SDP, starting at 1.
func (o *Origin) next() (id, version uint64) {
	return o.id, o.version.Add(1)
}

// RewriteOffer rewrites an SDP offer received on one leg into the offer the
// switch sends on the other leg: connection and origin address local, audio
// port localPort, o= from origin (its version is bumped), and in the audio
// m= line only the formats the switch relays, in the offerer's order. The
// direction attribute (sendrecv, sendonly, recvonly, inactive) and ptime are
// kept. Only the first audio line with RTP/AVP and a non-zero port is
// relayed; every other m= line is kept with port 0 so that the answer can
// reject it and the m= lines still line up (RFC 3264 §6).
//
// remote is the offerer's RTP address for Endpoint.SetRemote. It has an
// unspecified address if the offerer put c=0.0.0.0 (old-style hold); the
// forwarded offer then says sendonly (or inactive) so the other side stops
// sending too.
//
// local must be a specified IP and localPort a valid port (the endpoint's),
// and origin the Origin of the leg the output is sent on; neither may be nil
// or zero.
//
// Errors wrap ErrBadSDP when the offer cannot be parsed or has no usable
// address, and ErrNoCommonCodec when no PCMU or PCMA audio remains
// (telephone-event alone is not enough; RTP/SAVP-only offers end here too).
func RewriteOffer(offer []byte, local netip.Addr, localPort int, origin *Origin) (out []byte, remote netip.AddrPort, err error) {
	return rewrite("offer", offer, local, localPort, origin)
}

// RewriteAnswer rewrites an SDP answer received on one leg into the answer
// the switch sends on the other leg, the same way as RewriteOffer. The
// answerer has already chosen among the offered formats; the check that
// PCMU or PCMA remains still applies, since it may have rejected them all.
func RewriteAnswer(answer []byte, local netip.Addr, localPort int, origin *Origin) (out []byte, remote netip.AddrPort, err error) {
	return rewrite("answer", answer, local, localPort, origin)
}

// Direction returns the direction of the audio stream an SDP describes, as
// the switch reads it for relaying: "sendrecv", "sendonly", "recvonly" or
// "inactive", from the media-level attribute, else the session-level one,
// else sendrecv; a c= address of 0.0.0.0 (the old-style hold) takes
// receiving away. The SIP layer uses it to tell a phone that put the call
// on hold (sendonly or inactive) from one that did not. Errors wrap
// ErrBadSDP as for SessionOf, and ErrNoCommonCodec when there is no plain
// RTP/AVP audio stream (the codecs themselves are not checked).
func Direction(b []byte) (string, error) {
	sd, audio, err := parseAudio("description", b)
	if err != nil {
		return "", err
	}
	_, dir, err := addrAndDirection("description", sd, sd.MediaDescriptions[audio])
	if err != nil {
		return "", err
	}
	return dir, nil
}

func rewrite(kind string, in []byte, local netip.Addr, localPort int, origin *Origin) ([]byte, netip.AddrPort, error) {
	local, err := checkLocal(kind, local, localPort)
	if err != nil {
		return nil, netip.AddrPort{}, err
	}
	sd, audio, err := parseAudio(kind, in)
	if err != nil {
		return nil, netip.AddrPort{}, err
	}
	md := sd.MediaDescriptions[audio]
	formats, attrs, ok := relayedFormats(md)
	if !ok {
		return nil, netip.AddrPort{}, fmt.Errorf("%w: %s offers audio formats %v", ErrNoCommonCodec, kind, md.MediaName.Formats)
	}
	remote, dir, err := addrAndDirection(kind, sd, md)
	if err != nil {
		return nil, netip.AddrPort{}, err
	}
	attrs = append(attrs, sdp.NewPropertyAttribute(dir))
	out, err := marshalSDP(kind, local, localPort, origin, sd, audio, formats, attrs)
	if err != nil {
		return nil, netip.AddrPort{}, err
	}
	return out, remote, nil
}

// checkLocal validates the address and port the switch advertises and
// returns the address unmapped.
func checkLocal(kind string, local netip.Addr, localPort int) (netip.Addr, error) {
	local = local.Unmap()
	if !local.IsValid() || local.IsUnspecified() || localPort < 1 || localPort > 65535 {
		return local, fmt.Errorf("media: cannot advertise %v port %d in an SDP %s", local, localPort, kind)
	}
	return local, nil
}

// parseAudio parses an SDP the switch received and finds the audio line it
// handles (see relayedAudio).
func parseAudio(kind string, in []byte) (*sdp.SessionDescription, int, error) {
	var sd sdp.SessionDescription
	if err := sd.Unmarshal(in); err != nil {
		return nil, 0, fmt.Errorf("%w: %s: %v", ErrBadSDP, kind, err)
	}
	if len(sd.TimeDescriptions) == 0 {
		// The parser accepts a description that stops early (even an empty
		// one); without v=, o=, s= and t= it is not an SDP at all.
		return nil, 0, fmt.Errorf("%w: %s ends before its t= line", ErrBadSDP, kind)
	}
	audio := relayedAudio(&sd)
	if audio < 0 {
		return nil, 0, fmt.Errorf("%w: %s has no RTP/AVP audio stream", ErrNoCommonCodec, kind)
	}
	return &sd, audio, nil
}

// addrAndDirection returns where the sender of sd receives md's RTP and the
// direction it asked for, with receiving taken away if the address is
// unspecified.
func addrAndDirection(kind string, sd *sdp.SessionDescription, md *sdp.MediaDescription) (netip.AddrPort, string, error) {
	remote, err := mediaAddr(sd, md)
	if err != nil {
		return netip.AddrPort{}, "", fmt.Errorf("%w: %s: %v", ErrBadSDP, kind, err)
	}
	dir := direction(sd, md)
	if remote.Addr().IsUnspecified() {
		// c=0.0.0.0 says "do not send to me": whatever the attribute said,
		// the offerer cannot receive (RFC 3264 §8.4).
		dir = withoutRecv(dir)
	}
	return remote, dir, nil
}

// marshalSDP writes the SDP the switch sends: o= and c= local, o= versions
// from origin, and at index audio of the received description sd an audio
// line on localPort with formats and attrs; sd's other m= lines are kept
// rejected (port 0, no attributes) so that the lines still match. With sd
// nil the output has the audio line alone.
func marshalSDP(kind string, local netip.Addr, localPort int, origin *Origin, sd *sdp.SessionDescription, audio int, formats []string, attrs []sdp.Attribute) ([]byte, error) {
	addrType := "IP4"
	if local.Is6() {
		addrType = "IP6"
	}
	id, version := origin.next()
	res := sdp.SessionDescription{
		Origin: sdp.Origin{
			Username:       "-",
			SessionID:      id,
			SessionVersion: version,
			NetworkType:    "IN",
			AddressType:    addrType,
			UnicastAddress: local.String(),
		},
		SessionName: "-",
		ConnectionInformation: &sdp.ConnectionInformation{
			NetworkType: "IN",
			AddressType: addrType,
			Address:     &sdp.Address{Address: local.String()},
		},
		TimeDescriptions: []sdp.TimeDescription{{Timing: sdp.Timing{StartTime: 0, StopTime: 0}}},
	}
	audioLine := &sdp.MediaDescription{
		MediaName: sdp.MediaName{
			Media:   "audio",
			Port:    sdp.RangedPort{Value: localPort},
			Protos:  []string{"RTP", "AVP"},
			Formats: formats,
		},
		Attributes: attrs,
	}
	if sd == nil {
		res.MediaDescriptions = []*sdp.MediaDescription{audioLine}
	} else {
		res.MediaDescriptions = make([]*sdp.MediaDescription, len(sd.MediaDescriptions))
		for i, m := range sd.MediaDescriptions {
			if i == audio {
				res.MediaDescriptions[i] = audioLine
				continue
			}
			// Rejected: port 0, same media and transport, no attributes.
			res.MediaDescriptions[i] = &sdp.MediaDescription{
				MediaName: sdp.MediaName{
					Media:   m.MediaName.Media,
					Port:    sdp.RangedPort{Value: 0},
					Protos:  m.MediaName.Protos,
					Formats: m.MediaName.Formats,
				},
			}
		}
	}
	out, err := res.Marshal()
	if err != nil {
		return nil, fmt.Errorf("media: marshal SDP %s: %w", kind, err)
	}
	return out, nil
}

// relayedAudio returns the index of the m= line the switch relays: the first
// audio line with plain RTP/AVP and a non-zero port, or -1. Skipping SAVP and
// disabled lines lets an offer that lists an SRTP line before a plain one
// still connect.
func relayedAudio(sd *sdp.SessionDescription) int {
	for i, m := range sd.MediaDescriptions {
		if m.MediaName.Media == "audio" && m.MediaName.Port.Value != 0 &&
			len(m.MediaName.Protos) == 2 && m.MediaName.Protos[0] == "RTP" && m.MediaName.Protos[1] == "AVP" {
			return i
		}
	}
	return -1
}

// Audio is an SDP's first audio stream as the switch reads it, whatever its profile (plain RTP,
// or a browser's UDP/TLS/RTP/SAVPF): what a gateway in front of the switch needs to pass it on.
type Audio struct {
	G711      []AudioFormat  // PCMU and PCMA, in the writer's order of preference
	Event     uint8          // telephone-event at 8 kHz; 0 if none
	Direction string         // sendrecv, sendonly, recvonly or inactive
	Remote    netip.AddrPort // where the writer receives; invalid without a usable c= line
}

// AudioFormat is one G.711 payload type of a stream.
type AudioFormat struct {
	PT    uint8
	Codec Codec
}

// ReadAudio reads the first audio stream of b with a non-zero port. Errors wrap ErrBadSDP for
// what is not an SDP and ErrNoCommonCodec for no audio stream or one without G.711.
func ReadAudio(b []byte) (Audio, error) {
	var sd sdp.SessionDescription
	if err := sd.Unmarshal(b); err != nil {
		return Audio{}, fmt.Errorf("%w: %v", ErrBadSDP, err)
	}
	for _, md := range sd.MediaDescriptions {
		if md.MediaName.Media != "audio" || md.MediaName.Port.Value == 0 {
			continue
		}
		a := Audio{Direction: direction(&sd, md)}
		if remote, err := mediaAddr(&sd, md); err == nil {
			a.Remote = remote
		}
		for _, f := range audioFormats(md) {
			switch f.c {
			case codecPCMU:
				a.G711 = append(a.G711, AudioFormat{PT: f.n, Codec: PCMU})
			case codecPCMA:
				a.G711 = append(a.G711, AudioFormat{PT: f.n, Codec: PCMA})
			case codecEvent:
				if a.Event == 0 {
					a.Event = f.n
				}
			}
		}
		if len(a.G711) == 0 {
			return a, fmt.Errorf("%w: the audio stream has no PCMU or PCMA", ErrNoCommonCodec)
		}
		return a, nil
	}
	return Audio{}, fmt.Errorf("%w: no audio stream", ErrNoCommonCodec)
}

// codec identifies a format by its rtpmap encoding; payload type numbers
// alone mean nothing for dynamic types.
type codec int

const (
	codecNone codec = iota
	codecPCMU
	codecPCMA
	codecEvent
)

// format is one payload type of an m= line that the switch handles.
type format struct {
	pt  string // as in the m= line
	n   uint8  // its number
	c   codec
	enc string // rtpmap encoding, added for static types that lacked one
}

// audioFormats returns the formats of md the switch handles (PCMU, PCMA,
// telephone-event at 8 kHz), in md's order, each payload type once.
func audioFormats(md *sdp.MediaDescription) []format {
	rtpmaps := make(map[string]string)
	for _, a := range md.Attributes {
		if a.Key == "rtpmap" {
			pt, enc, _ := strings.Cut(a.Value, " ")
			if _, dup := rtpmaps[pt]; !dup {
				rtpmaps[pt] = strings.TrimSpace(enc)
			}
		}
	}
	var out []format
	seen := make(map[string]bool)
	for _, pt := range md.MediaName.Formats {
		if seen[pt] {
			continue
		}
		n, err := strconv.Atoi(pt)
		if err != nil || n < 0 || n > 127 {
			continue
		}
		enc, hasMap := rtpmaps[pt]
		var c codec
		switch {
		case hasMap:
			c = codecOf(enc)
		case n == 0:
			c, enc = codecPCMU, "PCMU/8000"
		case n == 8:
			c, enc = codecPCMA, "PCMA/8000"
		}
		if c == codecNone {
			continue
		}
		seen[pt] = true
		out = append(out, format{pt: pt, n: uint8(n), c: c, enc: enc})
	}
	return out
}

// relayedFormats keeps the formats of md the switch relays, in md's order,
// with their rtpmap (added for static types that lacked one), fmtp, ptime
// and maxptime attributes. ok is false unless PCMU or PCMA is among them.
func relayedFormats(md *sdp.MediaDescription) (formats []string, attrs []sdp.Attribute, ok bool) {
	kept := make(map[string]bool)
	for _, f := range audioFormats(md) {
		ok = ok || f.c == codecPCMU || f.c == codecPCMA
		kept[f.pt] = true
		formats = append(formats, f.pt)
		attrs = append(attrs, sdp.NewAttribute("rtpmap", f.pt+" "+f.enc))
	}
	if !ok {
		return nil, nil, false
	}
	for _, a := range md.Attributes {
		switch a.Key {
		case "fmtp":
			if pt, _, _ := strings.Cut(a.Value, " "); kept[pt] {
				attrs = append(attrs, a)
			}
		case "ptime", "maxptime":
			attrs = append(attrs, a)
		}
	}
	return formats, attrs, true
}

// codecOf classifies an rtpmap encoding such as "PCMU/8000" or
// "telephone-event/8000/1". Only 8 kHz mono qualifies: the switch does not
// resample, and telephone-event must match the audio clock.
func codecOf(enc string) codec {
	name, rest, _ := strings.Cut(enc, "/")
	rate, channels, _ := strings.Cut(rest, "/")
	if rate != "8000" || (channels != "" && channels != "1") {
		return codecNone
	}
	switch {
	case strings.EqualFold(name, "PCMU"):
		return codecPCMU
	case strings.EqualFold(name, "PCMA"):
		return codecPCMA
	case strings.EqualFold(name, "telephone-event"):
		return codecEvent
	}
	return codecNone
}

// mediaAddr returns where the sender of the SDP receives md's RTP: the
// media-level c= address, else the session-level one, with the m= port.
// Host names are refused: the media path does no DNS.
func mediaAddr(sd *sdp.SessionDescription, md *sdp.MediaDescription) (netip.AddrPort, error) {
	ci := md.ConnectionInformation
	if ci == nil || ci.Address == nil {
		ci = sd.ConnectionInformation
	}
	if ci == nil || ci.Address == nil {
		return netip.AddrPort{}, fmt.Errorf("no c= line for the audio stream")
	}
	addr, err := netip.ParseAddr(ci.Address.Address)
	if err != nil || addr.Zone() != "" {
		return netip.AddrPort{}, fmt.Errorf("c= address %q is not an IP address", ci.Address.Address)
	}
	return netip.AddrPortFrom(addr.Unmap(), uint16(md.MediaName.Port.Value)), nil
}

// direction returns md's direction attribute, else the session-level one,
// else sendrecv, the default (RFC 4566 §6).
func direction(sd *sdp.SessionDescription, md *sdp.MediaDescription) string {
	for _, attrs := range [][]sdp.Attribute{md.Attributes, sd.Attributes} {
		for _, a := range attrs {
			switch a.Key {
			case "sendrecv", "sendonly", "recvonly", "inactive":
				return a.Key
			}
		}
	}
	return "sendrecv"
}

// withoutRecv is dir with receiving taken away.
func withoutRecv(dir string) string {
	switch dir {
	case "sendrecv", "sendonly":
		return "sendonly"
	}
	return "inactive"
}
