package sip

import (
	"context"
	"fmt"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/switchboard-voip/switchboard/media"
)

// legSide names the two dialogs of a bridged call.
type legSide string

const (
	sideA legSide = "a" // towards the caller; Switchboard is the UAS
	sideB legSide = "b" // towards the callee; Switchboard is the UAC
)

// leg is one SIP dialog of a call, with the media endpoint that faces its peer.
type leg struct {
	dialog
	side legSide
	call *call

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
		return fmt.Errorf("BYE on leg %s: %d %s", l.side, res.StatusCode, res.Reason)
	}
	return nil
}

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
