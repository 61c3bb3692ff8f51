package sip

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
	"go.uber.org/zap"

	"github.com/switchboard-voip/switchboard/flow"
	"github.com/switchboard-voip/switchboard/media"
)

// SIP handlers for requests inside a call's dialogs. They find the leg, answer what needs no
// call state, and post the rest to the call's owner.

// onAck takes the caller's ACK for our 2xx (ACKs for failures end inside the transaction layer).
func (s *Server) onAck(req *sip.Request, _ sip.ServerTransaction) {
	l := s.lookupLeg(req)
	if l == nil || !l.uas || l.acked == nil {
		return
	}
	l.ackOnce.Do(func() { close(l.acked) })
}

// onBye ends a call from either side. Its transaction ends once answered (recentByes says
// why): a retransmission of the BYE, which then matches no transaction, is answered 200 from
// the dialog's entry there.
func (s *Server) onBye(req *sip.Request, tx sip.ServerTransaction) {
	defer tx.Terminate()
	callID, ours, theirs, ok := dialogIDOf(req)
	key := byeKey(callID, ours, theirs)
	var l *leg
	if ok {
		l = s.legOf(callID, ours, theirs)
	}
	if l == nil {
		code, reason := 481, "Call/Transaction Does Not Exist"
		if ok && s.byes.ended(key, s.clock.Now()) {
			code, reason = 200, "OK"
		}
		_ = tx.Respond(sip.NewResponseFromRequest(req, code, reason, nil))
		return
	}
	_ = tx.Respond(l.response(req, 200, "OK", nil))
	s.byes.add(key, s.clock.Now())
	l.ended.Store(true)
	s.removeDialog(l)
	l.call().mail.post(byeEvent{l: l})
}

// onInfo passes INFO (DTMF relay, fast picture update, …) to the call's owner.
func (s *Server) onInfo(req *sip.Request, tx sip.ServerTransaction) {
	s.postInDialog(req, tx)
}

// onReinvite passes a re-INVITE (hold, resume, codec change, session refresh) to the call's owner.
func (s *Server) onReinvite(req *sip.Request, tx sip.ServerTransaction) {
	s.postInDialog(req, tx)
}

func (s *Server) postInDialog(req *sip.Request, tx sip.ServerTransaction) {
	l := s.lookupLeg(req)
	if l != nil && req.IsInvite() && l.browser != nil && len(req.Body()) > 0 {
		plain, err := l.fromBrowser(req.Body())
		if err != nil {
			code, reason := mediaError(err)
			_ = tx.Respond(l.response(req, code, reason, nil))
			return
		}
		req.SetBody(plain)
	}
	if l == nil || !l.call().mail.post(inDialog{l: l, req: req, tx: tx}) {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 481, "Call/Transaction Does Not Exist", nil))
	}
}

// onInDialog answers an INFO or re-INVITE on the owner's goroutine. Digits for the switch become
// the flow's events; requests for the other party are passed through by a worker, so the owner
// never waits on the network.
func (c *call) onInDialog(ev inDialog) {
	l, req, tx := ev.l, ev.req, ev.tx
	if req.IsInvite() {
		c.onReinvite(l, req, tx)
		return
	}
	// INFO: DTMF for the switch (its own media on the caller's leg, or a screening party).
	switch {
	case l == c.a && c.local != nil && c.relay == nil,
		c.party != nil && c.party.leg() == l:
		ct := ""
		if h := req.ContentType(); h != nil {
			ct = strings.TrimSpace(h.Value())
		}
		_ = tx.Respond(l.response(req, 200, "OK", nil))
		if d, ok := dtmfFromInfo(ct, req.Body()); ok {
			c.mail.post(flow.Digit{Key: d, FromParty: l != c.a})
		}
		return
	}
	other := c.other(l)
	if other == nil {
		_ = tx.Respond(l.response(req, 481, "Call/Transaction Does Not Exist", nil))
		return
	}
	c.s.wg.Add(1)
	go func() {
		defer c.s.wg.Done()
		c.s.forwardInfo(c.log, l, other, req, tx)
	}()
}

// forwardInfo passes an INFO to the other leg and its answer back.
func (s *Server) forwardInfo(log *zap.Logger, l, other *leg, req *sip.Request, tx sip.ServerTransaction) {
	ct := ""
	if h := req.ContentType(); h != nil {
		ct = h.Value()
	}
	fwd := other.newRequest(sip.INFO, req.Body(), ct)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := other.do(ctx, s, fwd)
	if err != nil {
		log.Info("INFO not delivered", zap.String("leg", other.callID), zap.Error(err))
		_ = tx.Respond(l.response(req, 408, "Request Timeout", nil))
		return
	}
	_ = tx.Respond(l.response(req, res.StatusCode, res.Reason, nil))
}

// onReinvite answers a re-INVITE: the switch answers for itself when it is the caller's far end
// or when the request is a session refresh without SDP; otherwise the offer goes through to the
// other leg with the SDP rewritten so media stays anchored.
func (c *call) onReinvite(l *leg, req *sip.Request, tx sip.ServerTransaction) {
	if len(req.Body()) == 0 {
		_ = tx.Respond(l.response(req, 200, "OK", l.getLastSDP()))
		return
	}
	if l == c.a && c.local != nil && c.relay == nil {
		c.reanswerLocally(l, req, tx)
		return
	}
	other := c.other(l)
	if other == nil {
		_ = tx.Respond(l.response(req, 491, "Request Pending", nil))
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
	c.s.wg.Add(1)
	go func() {
		defer c.s.wg.Done()
		c.s.passReinvite(c.log, l, other, req, tx)
	}()
}

// passReinvite sends a re-INVITE's offer on the other leg and its answer back. Glare on the
// other leg is refused with 491 by onReinvite while this runs.
func (s *Server) passReinvite(log *zap.Logger, l, other *leg, req *sip.Request, tx sip.ServerTransaction) {
	// The other leg's INVITE transaction is the thing to protect from glare; it is over once its
	// final response is in (and ACKed), before the answer goes back, so a re-INVITE that follows
	// the answer at once is never refused.
	release := sync.OnceFunc(func() {
		other.mu.Lock()
		other.reinviting = false
		other.mu.Unlock()
	})
	defer release()

	addr := s.opts.MediaAddr
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
	res, ackErr, err := other.reinvite(ctx, s, fwd)
	if ackErr != nil {
		log.Warn("ACK for re-INVITE not sent", zap.String("leg", other.callID), zap.Error(ackErr))
	}
	if err != nil {
		log.Info("re-INVITE not answered", zap.String("leg", other.callID), zap.Error(err))
		_ = tx.Respond(l.response(req, 408, "Request Timeout", nil))
		return
	}
	if !res.IsSuccess() {
		release()
		_ = tx.Respond(l.response(req, res.StatusCode, res.Reason, nil))
		return
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
	other.setLastSDP(offer)
	other.setAnswer(res.Body())
	l.setLastSDP(answer)
	l.setAnswer(answer)
	_ = tx.Respond(l.response(req, 200, "OK", answer))
	log.Info("re-INVITE passed through", zap.String("from_leg", l.callID))
}
