package sip

import (
	"errors"
	"fmt"

	"go.uber.org/zap"

	"github.com/switchboard-voip/switchboard/media"
	"github.com/switchboard-voip/switchboard/routing"
)

// ending is why a caller who was never answered is refused. Every refusal of a call goes
// through ending.response, the one mapping from what happened to the SIP response the caller
// gets.
type ending int

const (
	endInternal     ending = iota // a bug: 500, logged
	endNotFound                   // no such number or feature
	endForbidden                  // the caller may not do this
	endUnavailable                // nobody can take the call, no voicemail
	endNoCodec                    // no codec in common with the caller's offer
	endBadSDP                     // the caller's SDP is unusable
	endOverloaded                 // no media ports left
	endShuttingDown               // the switch is stopping
	endStopped                    // an administrator hung the call up
	endCancelled                  // the caller cancelled
)

// response is the SIP status and reason phrase for e. An ending it does not know is a bug: it
// is logged and the caller gets 500.
func (e ending) response(log *zap.Logger) (int, string) {
	switch e {
	case endNotFound:
		return 404, "Not Found"
	case endForbidden:
		return 403, "Forbidden"
	case endUnavailable:
		return 480, "Temporarily Unavailable"
	case endNoCodec:
		return 488, "Not Acceptable Here"
	case endBadSDP:
		return 400, "Bad SDP"
	case endOverloaded, endShuttingDown:
		return 503, "Service Unavailable"
	case endCancelled, endStopped:
		return 487, "Request Terminated"
	case endInternal:
	default:
		log.Error("no SIP response for this ending", zap.Int("ending", int(e)))
	}
	return 500, "Server Internal Error"
}

// endingOf is what a routing refusal means for the caller.
func endingOf(r routing.Refusal) ending {
	switch r {
	case routing.NotFound:
		return endNotFound
	case routing.Forbidden:
		return endForbidden
	case routing.Unavailable:
		return endUnavailable
	}
	return ending(-1 - int(r)) // unknown to the mapping: response logs it and answers 500
}

// endingOfMedia is what a media failure means for the caller.
func endingOfMedia(err error) ending {
	switch {
	case errors.Is(err, media.ErrNoCommonCodec):
		return endNoCodec
	case errors.Is(err, media.ErrBadSDP):
		return endBadSDP
	case errors.Is(err, media.ErrPortsExhausted):
		return endOverloaded
	}
	return endInternal
}

// mediaError is the response to an in-dialog request whose SDP failed.
func mediaError(err error) (int, string) {
	return endingOfMedia(err).response(zap.NewNop())
}

func (e ending) String() string { return fmt.Sprintf("ending(%d)", int(e)) }
