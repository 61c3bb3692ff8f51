package sip

import (
	"context"
	"fmt"
	"sync"
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
	party string               // who is at the far end: an extension or an outside number
	user  string               // party, when it is a user of the switch (who may transfer); "" otherwise
	ended atomic.Bool          // the peer sent BYE
	// node is the cluster node at the far end (a phone registered there, or a caller whose
	// call it forwarded here), or "": when that node is gone the leg is dead.
	node string

	// acked is closed when the peer ACKs our 2xx to its INVITE (a leg the peer created).
	acked   chan struct{}
	ackOnce sync.Once

	ep     *media.Endpoint
	origin *media.Origin

	lastSDP    []byte // the SDP we last sent on this leg, to answer session refreshes (under mu)
	answer     []byte // the answer of the leg's latest offer/answer, ours or the peer's (under mu)
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

// setAnswer remembers the answer that settled the leg's media last (whoever gave it): it names
// the codec both ends use now.
func (l *leg) setAnswer(sdp []byte) {
	l.mu.Lock()
	l.answer = sdp
	l.mu.Unlock()
}

// session is the leg's negotiated media as the switch can take it over: codec, payload types.
// It fails when the leg uses no G.711 codec (the switch cannot play to it then).
func (l *leg) session() (media.Session, error) {
	l.mu.Lock()
	answer := l.answer
	l.mu.Unlock()
	if answer == nil {
		return media.Session{}, fmt.Errorf("leg %s: no answer yet", l.callID)
	}
	return media.SessionOf(answer)
}

// getLastSDP is the SDP we last sent on this leg.
func (l *leg) getLastSDP() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lastSDP
}
