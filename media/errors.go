package media

import "errors"

// Sentinel errors. Callers match them with errors.Is; the package wraps them
// with detail but never logs, so the SIP layer decides the response code and
// the log level (blame follows the code).
var (
	// ErrPortsExhausted means every RTP/RTCP pair of the pool is in use or
	// held by another process. The SIP layer answers 503.
	ErrPortsExhausted = errors.New("media: no free RTP port")

	// ErrNoCommonCodec means the SDP offers no audio stream the switch can
	// relay: no plain RTP/AVP audio line carrying PCMU or PCMA. The SIP layer
	// answers 488 Not Acceptable Here.
	ErrNoCommonCodec = errors.New("media: no common codec")

	// ErrBadSDP means the SDP could not be parsed or lacks what the switch
	// needs (such as a usable c= address). It is wrapped with detail; the SIP
	// layer answers 400 or 488.
	ErrBadSDP = errors.New("media: malformed SDP")
)
