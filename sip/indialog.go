package sip

import (
	"context"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
	"go.uber.org/zap"

	"github.com/switchboard-voip/switchboard/media"
)

// lookupLeg finds the established leg an in-dialog request belongs to: its Call-ID names the leg,
// and the tags must match ours and the peer's (RFC 3261 §12.2.2).
func (s *Server) lookupLeg(req *sip.Request) *leg {
	s.mu.Lock()
	l := s.dialogs[callIDOf(req)]
	s.mu.Unlock()
	if l == nil || req.To() == nil || req.From() == nil {
		return nil
	}
	toTag, _ := req.To().Params.Get("tag")
	fromTag, _ := req.From().Params.Get("tag")
	if toTag != l.localTag || fromTag != l.remoteTag {
		return nil
	}
	return l
}

// onAck takes the caller's ACK for our 2xx (ACKs for failures end inside the transaction layer).
func (s *Server) onAck(req *sip.Request, _ sip.ServerTransaction) {
	l := s.lookupLeg(req)
	if l == nil || l.side != sideA {
		return
	}
	l.call.ackOnce.Do(func() { close(l.call.acked) })
}

// onBye ends a call from either side.
func (s *Server) onBye(req *sip.Request, tx sip.ServerTransaction) {
	l := s.lookupLeg(req)
	if l == nil {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 481, "Call/Transaction Does Not Exist", nil))
		return
	}
	_ = tx.Respond(l.response(req, 200, "OK", nil))
	s.mu.Lock()
	if s.dialogs[l.callID] == l {
		delete(s.dialogs, l.callID)
	}
	s.mu.Unlock()
	if l.side == sideA {
		l.call.markGone()
	}
	select {
	case l.call.hangup <- l.side:
	default:
	}
}

// onInfo passes in-dialog INFO (DTMF relay, fast picture update, …) to the other leg and its
// answer back.
func (s *Server) onInfo(req *sip.Request, tx sip.ServerTransaction) {
	l := s.lookupLeg(req)
	if l == nil {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 481, "Call/Transaction Does Not Exist", nil))
		return
	}
	if l.call.onScreenInfo(l, req) || l.call.onLocalInfo(req) {
		_ = tx.Respond(l.response(req, 200, "OK", nil))
		return
	}
	other := l.call.other(l)
	if other == nil {
		_ = tx.Respond(l.response(req, 481, "Call/Transaction Does Not Exist", nil))
		return
	}
	ct := ""
	if h := req.ContentType(); h != nil {
		ct = h.Value()
	}
	fwd := other.newRequest(sip.INFO, req.Body(), ct)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := other.do(ctx, s, fwd)
	if err != nil {
		l.call.log.Info("INFO not delivered", zap.String("leg", string(other.side)), zap.Error(err))
		_ = tx.Respond(l.response(req, 408, "Request Timeout", nil))
		return
	}
	_ = tx.Respond(l.response(req, res.StatusCode, res.Reason, nil))
}

// onReinvite passes a re-INVITE (hold, resume, codec change) through to the other leg with the
// SDP rewritten so media stays anchored, and the answer back. A re-INVITE without SDP is a session
// refresh: we answer it ourselves with the SDP we last sent on that leg.
func (s *Server) onReinvite(req *sip.Request, tx sip.ServerTransaction) {
	l := s.lookupLeg(req)
	if l == nil {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 481, "Call/Transaction Does Not Exist", nil))
		return
	}
	c := l.call
	if len(req.Body()) > 0 && c.reanswerLocally(l, req, tx) {
		return
	}
	other := c.other(l)
	if other == nil && len(req.Body()) > 0 {
		_ = tx.Respond(l.response(req, 491, "Request Pending", nil))
		return
	}
	if len(req.Body()) == 0 {
		l.mu.Lock()
		sdp := l.lastSDP
		l.mu.Unlock()
		_ = tx.Respond(l.response(req, 200, "OK", sdp))
		return
	}
	other.mu.Lock()
	if other.reinviting {
		other.mu.Unlock()
		_ = tx.Respond(l.response(req, 491, "Request Pending", nil))
		return
	}
	other.reinviting = true
	other.mu.Unlock()
	// The other leg's INVITE transaction is the thing to protect from glare; it is over once its
	// final response is in (and ACKed), before the answer goes back, so a re-INVITE that follows
	// the answer at once is never refused.
	release := sync.OnceFunc(func() {
		other.mu.Lock()
		other.reinviting = false
		other.mu.Unlock()
	})
	defer release()

	addr := s.opts.MediaAddr // fixed at construction: no lock needed
	offer, remote, err := media.RewriteOffer(req.Body(), addr, other.ep.Port(), other.origin)
	if err != nil {
		code, reason := mediaError(err)
		_ = tx.Respond(l.response(req, code, reason, nil))
		return
	}
	_ = tx.Respond(l.response(req, 100, "Trying", nil))
	fwd := other.newRequest(sip.INVITE, offer, "application/sdp")
	ctx, cancel := context.WithTimeout(context.Background(), 32*time.Second)
	defer cancel()
	res, err := other.do(ctx, s, fwd)
	if err != nil {
		c.log.Info("re-INVITE not answered", zap.String("leg", string(other.side)), zap.Error(err))
		_ = tx.Respond(l.response(req, 408, "Request Timeout", nil))
		return
	}
	if !res.IsSuccess() {
		release()
		_ = tx.Respond(l.response(req, res.StatusCode, res.Reason, nil))
		return
	}
	ack := other.newRequestSeq(sip.ACK, fwd.CSeq().SeqNo, nil, "")
	if err := s.client.WriteRequest(ack); err != nil {
		c.log.Warn("ACK for re-INVITE not sent", zap.String("leg", string(other.side)), zap.Error(err))
	}
	release()
	answer, remoteOther, err := media.RewriteAnswer(res.Body(), addr, l.ep.Port(), l.origin)
	if err != nil {
		code, reason := mediaError(err)
		_ = tx.Respond(l.response(req, code, reason, nil))
		return
	}
	l.ep.SetRemote(remote)
	other.ep.SetRemote(remoteOther)
	other.mu.Lock()
	other.lastSDP = offer
	other.mu.Unlock()
	l.mu.Lock()
	l.lastSDP = answer
	l.mu.Unlock()
	_ = tx.Respond(l.response(req, 200, "OK", answer))
	c.log.Info("re-INVITE passed through", zap.String("from_leg", string(l.side)))
}
