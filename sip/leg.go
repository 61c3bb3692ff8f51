package sip

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/switchboard-voip/switchboard/media"
)

// leg is one SIP dialog of a call, with the media endpoint that faces its peer. A call's caller
// leg is its "a" leg, the leg bridged to it its "b" leg; a transfer may hand a leg to another
// call or make the b leg the a leg, so a leg knows its owner only through owner.
type leg struct {
	dialog
	uas   bool                 // the peer created the dialog (it sent the INVITE): its ACK is ours to take
	owner atomic.Pointer[call] // the call that owns the leg now

	ep     *media.Endpoint
	origin *media.Origin

	lastSDP    []byte // the SDP we last sent on this leg, to answer session refreshes (under mu)
	reinviting bool   // a re-INVITE we forwarded on this leg is outstanding: glare → 491 (under mu)
}

// bye ends this leg's dialog. It waits a bounded time for the answer so shutdown can be clean
// without hanging on a vanished phone.
func (l *leg) bye(s *Server) error {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	res, err := l.do(ctx, s, l.newRequest(sip.BYE, nil, ""))
	if err != nil {
		return err
	}
	if res.StatusCode >= 300 && res.StatusCode != 481 {
		return fmt.Errorf("BYE on leg %s: %d %s", l.callID, res.StatusCode, res.Reason)
	}
	return nil
}

// newLeg returns a leg owned by c.
func newLeg(c *call, uas bool, ep *media.Endpoint, origin *media.Origin) *leg {
	l := &leg{uas: uas, ep: ep, origin: origin}
	l.owner.Store(c)
	return l
}

// call is the call that owns the leg now.
func (l *leg) call() *call { return l.owner.Load() }

// setLastSDP remembers the SDP we last sent on this leg.
func (l *leg) setLastSDP(sdp []byte) {
	l.mu.Lock()
	l.lastSDP = sdp
	l.mu.Unlock()
}

// getLastSDP is the SDP we last sent on this leg.
func (l *leg) getLastSDP() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lastSDP
}
