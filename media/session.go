package media

import (
	"fmt"
	"net/netip"
	"strconv"

	"github.com/pion/sdp/v3"
)

// Codec is an audio codec the switch can encode and decode itself. Its value
// is the codec's static RTP payload type.
type Codec uint8

// The codecs of the switch's own media (prompts, music on hold, voicemail).
const (
	PCMU Codec = 0 // G.711 µ-law
	PCMA Codec = 8 // G.711 A-law
)

// String returns the codec's rtpmap name.
func (c Codec) String() string {
	switch c {
	case PCMU:
		return "PCMU"
	case PCMA:
		return "PCMA"
	}
	return "Codec(" + strconv.Itoa(int(c)) + ")"
}

// DefaultEventPT is the payload type NewOffer gives telephone-event, the
// one most phones use.
const DefaultEventPT = 101

// Session is the negotiated media of one leg the switch terminates: the
// payload type and codec of the audio, the telephone-event payload type (0
// if the leg has none) and where the phone receives RTP, for
// Endpoint.SetRemote (an unspecified address means the phone is on hold).
type Session struct {
	PT     uint8
	Codec  Codec
	DTMF   uint8
	Remote netip.AddrPort
}

// AnswerOffer answers an offer the switch terminates itself (voicemail,
// announcements, a queue): it picks the first of PCMU and PCMA in the
// offerer's order and keeps the offerer's telephone-event payload type if
// there is one. The answer follows the same rules as RewriteAnswer (o= from
// origin, c= local, the audio line on localPort, other m= lines rejected)
// and mirrors the offer's direction (sendonly is answered recvonly).
//
// Errors wrap ErrBadSDP and ErrNoCommonCodec as for RewriteOffer.
func AnswerOffer(offer []byte, local netip.Addr, localPort int, origin *Origin) (answer []byte, s Session, err error) {
	return answerOffer(offer, local, localPort, origin, anyCodec, "")
}

// AnswerOfferWith is AnswerOffer choosing codec c (PCMU or PCMA) alone, at
// the payload type the offer gives it, wherever it is in the offerer's
// order. The switch uses it when the phone is to be bridged to a leg that
// already runs c (a transfer target, a call taken back from a queue), since
// the relay never transcodes. It fails with ErrNoCommonCodec if the offer
// lacks c.
func AnswerOfferWith(offer []byte, local netip.Addr, localPort int, origin *Origin, c Codec) (answer []byte, s Session, err error) {
	return answerOffer(offer, local, localPort, origin, func(x Codec) bool { return x == c }, ", not "+c.String())
}

// answerOffer is AnswerOffer with the codecs accept allows; not says which
// codec was wanted, for the error.
func answerOffer(offer []byte, local netip.Addr, localPort int, origin *Origin, accept func(Codec) bool, not string) (answer []byte, s Session, err error) {
	local, err = checkLocal("answer", local, localPort)
	if err != nil {
		return nil, Session{}, err
	}
	sd, audio, err := parseAudio("offer", offer)
	if err != nil {
		return nil, Session{}, err
	}
	md := sd.MediaDescriptions[audio]
	s, ok := choose(md, accept)
	if !ok {
		return nil, Session{}, fmt.Errorf("%w: offer has audio formats %v%s", ErrNoCommonCodec, md.MediaName.Formats, not)
	}
	var dir string
	s.Remote, dir, err = addrAndDirection("offer", sd, md)
	if err != nil {
		return nil, Session{}, err
	}
	formats, attrs := sessionFormats(s)
	attrs = append(attrs, sdp.NewPropertyAttribute(reverse(dir)))
	answer, err = marshalSDP("answer", local, localPort, origin, sd, audio, formats, attrs)
	if err != nil {
		return nil, Session{}, err
	}
	return answer, s, nil
}

// NewOffer returns an offer from the switch (say, to call a phone for a
// caller the switch already answered) with codec c alone, plus
// telephone-event on DefaultEventPT if dtmf is set, so that the answer can
// only pick what the other leg already uses and nothing is ever transcoded.
// origin is the leg's Origin; its version is bumped. It returns nil if local
// is not a specified IP or localPort not a valid port.
func NewOffer(local netip.Addr, localPort int, origin *Origin, c Codec, dtmf bool) []byte {
	local, err := checkLocal("offer", local, localPort)
	if err != nil {
		return nil
	}
	s := Session{PT: uint8(c), Codec: c}
	if dtmf {
		s.DTMF = DefaultEventPT
	}
	formats, attrs := sessionFormats(s)
	attrs = append(attrs, sdp.NewPropertyAttribute("sendrecv"))
	out, err := marshalSDP("offer", local, localPort, origin, nil, 0, formats, attrs)
	if err != nil {
		return nil
	}
	return out
}

// SessionOf reads the media of an SDP the switch received, usually the
// answer to NewOffer: the first PCMU or PCMA format of the audio line (an
// answerer lists the one it will send first), the telephone-event payload
// type if any, and the RTP address. Errors wrap ErrBadSDP and
// ErrNoCommonCodec as for RewriteOffer.
func SessionOf(b []byte) (Session, error) {
	sd, audio, err := parseAudio("description", b)
	if err != nil {
		return Session{}, err
	}
	md := sd.MediaDescriptions[audio]
	s, ok := choose(md, anyCodec)
	if !ok {
		return Session{}, fmt.Errorf("%w: audio formats %v", ErrNoCommonCodec, md.MediaName.Formats)
	}
	s.Remote, _, err = addrAndDirection("description", sd, md)
	if err != nil {
		return Session{}, err
	}
	return s, nil
}

// choose picks the first PCMU or PCMA format of md whose codec accept
// allows, and md's first telephone-event format.
func choose(md *sdp.MediaDescription, accept func(Codec) bool) (s Session, ok bool) {
	for _, f := range audioFormats(md) {
		switch f.c {
		case codecPCMU, codecPCMA:
			c := PCMU
			if f.c == codecPCMA {
				c = PCMA
			}
			if !ok && accept(c) {
				s.PT, s.Codec, ok = f.n, c, true
			}
		case codecEvent:
			// Payload type 0 is PCMU's, so telephone-event never uses it
			// and 0 can mean "none".
			if s.DTMF == 0 && f.n != 0 {
				s.DTMF = f.n
			}
		}
	}
	return s, ok
}

// anyCodec accepts both codecs, for choose.
func anyCodec(Codec) bool { return true }

// sessionFormats returns the m= formats and attributes of s's audio line.
func sessionFormats(s Session) ([]string, []sdp.Attribute) {
	pt := strconv.Itoa(int(s.PT))
	formats := []string{pt}
	attrs := []sdp.Attribute{sdp.NewAttribute("rtpmap", pt+" "+s.Codec.String()+"/8000")}
	if s.DTMF != 0 {
		ev := strconv.Itoa(int(s.DTMF))
		formats = append(formats, ev)
		attrs = append(attrs,
			sdp.NewAttribute("rtpmap", ev+" telephone-event/8000"),
			sdp.NewAttribute("fmtp", ev+" 0-16"))
	}
	attrs = append(attrs, sdp.NewAttribute("ptime", "20"))
	return formats, attrs
}

// reverse is the direction an answerer puts against the offer's dir
// (RFC 3264 §6.1).
func reverse(dir string) string {
	switch dir {
	case "sendonly":
		return "recvonly"
	case "recvonly":
		return "sendonly"
	}
	return dir
}
