package srtp

import (
	"errors"
	"fmt"
	"strings"

	"github.com/pion/sdp/v3"
)

// ErrNotSecure is wrapped when an SDP that must offer SRTP does not.
var ErrNotSecure = errors.New("srtp: the audio stream is not RTP/SAVP")

// Plain reads a phone's SDP. When its audio stream is RTP/SAVP it returns the same SDP as
// plain RTP/AVP without the a=crypto lines (what the call core reads), the phone's usable
// crypto lines in its order of preference, and secure true; a plain SDP comes back as it is.
// An RTP/SAVP stream without one usable line is an error wrapping ErrBadCrypto.
func Plain(body []byte) (plain []byte, offered []Crypto, secure bool, err error) {
	var sd sdp.SessionDescription
	if err := sd.Unmarshal(body); err != nil {
		return nil, nil, false, fmt.Errorf("srtp: read SDP: %w", err)
	}
	md := audio(&sd)
	if md == nil || !isSAVP(md.MediaName.Protos) {
		return body, nil, false, nil
	}
	var bad error
	attrs := md.Attributes[:0:0]
	for _, a := range md.Attributes {
		if a.Key != "crypto" {
			attrs = append(attrs, a)
			continue
		}
		c, err := ParseCrypto(a.Value)
		if err != nil {
			bad = err
			continue
		}
		offered = append(offered, c)
	}
	if len(offered) == 0 {
		if bad == nil {
			bad = fmt.Errorf("%w: RTP/SAVP without a=crypto (DTLS-SRTP is for browsers)", ErrBadCrypto)
		}
		return nil, nil, true, bad
	}
	md.Attributes = attrs
	md.MediaName.Protos = []string{"RTP", "AVP"}
	out, err := sd.Marshal()
	if err != nil {
		return nil, nil, true, fmt.Errorf("srtp: write SDP: %w", err)
	}
	return out, offered, true, nil
}

// Secure turns the switch's plain SDP for a phone into RTP/SAVP with local's a=crypto line.
func Secure(plain []byte, local Crypto) ([]byte, error) {
	var sd sdp.SessionDescription
	if err := sd.Unmarshal(plain); err != nil {
		return nil, fmt.Errorf("srtp: read SDP: %w", err)
	}
	md := audio(&sd)
	if md == nil {
		return nil, fmt.Errorf("srtp: no audio stream to secure")
	}
	md.MediaName.Protos = []string{"RTP", "SAVP"}
	md.Attributes = append(md.Attributes, sdp.Attribute{Key: "crypto", Value: local.String()})
	out, err := sd.Marshal()
	if err != nil {
		return nil, fmt.Errorf("srtp: write SDP: %w", err)
	}
	return out, nil
}

// audio is the first audio stream with a port, the one the switch relays.
func audio(sd *sdp.SessionDescription) *sdp.MediaDescription {
	for _, md := range sd.MediaDescriptions {
		if md.MediaName.Media == "audio" && md.MediaName.Port.Value != 0 {
			return md
		}
	}
	return nil
}

func isSAVP(protos []string) bool {
	return strings.EqualFold(strings.Join(protos, "/"), "RTP/SAVP")
}
