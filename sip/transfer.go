package sip

import (
	"context"
	"errors"
	"time"

	"github.com/emiago/sipgo/sip"
	"go.uber.org/zap"

	"github.com/switchboard-voip/switchboard/flow"
	"github.com/switchboard-voip/switchboard/media"
)

// Transfers, as the owner of a bridged call carries them out.
//
// Blind (a REFER, or Server.Transfer from the page): the relay stops; the party that stays
// becomes the call's caller (its leg becomes the "a" leg when it was the callee's) and hears the
// switch on the same RTP stream it heard the other party on; the transferring user's leg ends;
// Bridge returns a *flow.Transferred and the flows route the caller on.
//
// Attended (a REFER whose Refer-To carries Replaces naming the transferring user's other
// call): that call's owner hands over its far party's leg (handOver); this call joins it with
// the party that stays, and both of the user's legs end. A consultation that has not been
// answered yet becomes a blind transfer to what it dialled.

// handOverRequest asks a call for its leg other than named (the transferring user's), for the
// call to: an attended transfer joins it there.
type handOverRequest struct {
	named *leg
	to    *call
	reply chan handOver
}

// handOver is a call's answer to a handOverRequest.
type handOver struct {
	leg     *leg            // the far party's leg, now owned by the asking call
	sent    media.Numbering // the last RTP the far party got, to carry its stream on
	dialled string          // instead of leg: the call was not answered yet; what it dialled
	err     error
}

// handOverWait bounds how long an attended transfer waits for the other call's owner.
const handOverWait = 5 * time.Second

// errNotHandedOver: the other call cannot give up its party now (it is with the switch).
var errNotHandedOver = errors.New("the consultation call cannot be joined now")

// onRefer handles a REFER on one of a bridged call's legs. It returns the transfer when the
// call goes on as a blind transfer (Bridge returns it), nil when the call carries on here.
func (c *call) onRefer(ev referEvent) *flow.Transferred {
	l, req, tx := ev.l, ev.req, ev.tx
	if l != c.a && l != c.b {
		_ = tx.Respond(l.response(req, 481, "Call/Transaction Does Not Exist", nil))
		return nil
	}
	if l.user == "" {
		// An outside party cannot send a call on (it could send it out again at our cost).
		_ = tx.Respond(l.response(req, 403, "Only Users May Transfer", nil))
		return nil
	}
	target, code, reason := parseReferTo(req)
	if code != 0 {
		_ = tx.Respond(l.response(req, code, reason, nil))
		return nil
	}
	kept := c.other(l)
	sess, err := c.keptSession(kept)
	if err != nil {
		c.log.Info("transfer refused: the switch cannot take the other party's media", zap.Error(err))
		_ = tx.Respond(l.response(req, 488, "Not Acceptable Here", nil))
		return nil
	}
	if target.replaces != nil {
		return c.attended(l, kept, sess, target, req, tx)
	}
	_ = tx.Respond(accepted(l, req))
	rep := c.s.startReferReport(l, req, c.log)
	c.log.Info("blind transfer", zap.String("by", l.user), zap.String("to", target.to))
	return c.sendOn(l, kept, sess, flow.Transferred{To: target.to, By: l.user}, rep)
}

// onTransferRequest carries out Server.Transfer on a bridged call.
func (c *call) onTransferRequest(ev transferRequest) *flow.Transferred {
	var from *leg
	switch {
	case ev.By != "" && c.a.user == ev.By:
		from = c.a
	case ev.By != "" && c.b.user == ev.By:
		from = c.b
	case ev.By == "" && ev.Keep != "" && c.a.party == ev.Keep:
		from = c.b
	case ev.By == "" && ev.Keep != "" && c.b.party == ev.Keep:
		from = c.a
	default:
		ev.reply <- ErrNotParty
		return nil
	}
	kept := c.other(from)
	sess, err := c.keptSession(kept)
	if err != nil {
		c.log.Info("transfer refused: the switch cannot take the other party's media", zap.Error(err))
		ev.reply <- ErrNotTransferable
		return nil
	}
	ev.reply <- nil
	by := from.user
	c.log.Info("transfer from the API", zap.String("by", ev.By), zap.String("leg_ended", from.party),
		zap.String("to", ev.To), zap.Bool("voicemail", ev.Voicemail))
	return c.sendOn(from, kept, sess, flow.Transferred{To: ev.To, By: by, Voicemail: ev.Voicemail}, nil)
}

// keptSession is the media of the party that stays, as the switch will play to it.
func (c *call) keptSession(kept *leg) (media.Session, error) {
	if kept == c.a && c.local != nil {
		return c.local.sess, nil
	}
	return kept.session()
}

// sendOn turns a bridged call into a transferred one: the relay stops, kept becomes the call's
// caller hearing the switch (the same RTP stream on), from's leg ends (after rep's final
// status, when a phone asked), and the flows route the caller to t.To.
func (c *call) sendOn(from, kept *leg, sess media.Session, t flow.Transferred, rep *referReport) *flow.Transferred {
	sent := c.stopRelay(kept)
	if from == c.a {
		c.swap()
	}
	c.dropLeg(from, rep)
	c.hearSwitch(sess, sent)
	c.unhold(kept, sess)
	c.report = rep
	return &t
}

// stopRelay stops the bridge's relay and returns the numbering of the last RTP it sent to
// kept's phone, so the stream the phone hears can carry on (zero when it sent none: then a
// stream made after it starts afresh).
func (c *call) stopRelay(kept *leg) media.Numbering {
	if c.relay == nil {
		return media.Numbering{}
	}
	c.relay.Stop()
	n, _ := c.relay.Sent(kept.ep)
	c.relay = nil
	return n
}

// swap makes the callee's leg the caller's: after a transfer by the caller, the callee is who
// the call goes on with.
func (c *call) swap() {
	c.endLocal() // the switch's media faced the leaving caller
	c.local = nil
	c.a, c.b = c.b, c.a
	c.epA, c.epB = c.epB, c.epA
	c.mu.Lock()
	c.caller, c.callerID = c.a.user, c.a.party
	c.mu.Unlock()
}

// dropLeg ends the transferring party's part in the call (its leg is c.b): its media port goes
// back to the pool, it is no longer busy with this call, and its leg is hung up — by rep once
// the final status is reported, or now.
func (c *call) dropLeg(l *leg, rep *referReport) {
	if c.b == l {
		c.b = nil
		if c.epB != nil {
			_ = c.epB.Close()
			c.epB = nil
		}
	}
	c.offCall(l.user)
	c.untrackDialog(l.user)
	if l.user != "" {
		c.mu.Lock()
		c.left = append(c.left, l.user)
		c.mu.Unlock()
	}
	if rep != nil {
		return // the report hangs the leg up after its final NOTIFY
	}
	c.s.wg.Add(1)
	go func() {
		defer c.s.wg.Done()
		if !l.ended.Load() {
			if err := l.bye(c.s); err != nil {
				c.log.Debug("transferring leg not hung up", zap.String("leg", l.callID), zap.Error(err))
			}
		}
		c.s.removeDialog(l)
	}()
}

// hearSwitch gives the caller's leg (c.a) the switch's own media, carrying on the RTP stream
// its phone last got (sent) when there was one.
func (c *call) hearSwitch(sess media.Session, sent media.Numbering) {
	s := c.s
	if lc := c.local; lc != nil {
		// A caller the switch answered before (held, queued): its stream has its numbering
		// back from the relay; only the receiver has to start again.
		lc.restart(c)
		return
	}
	lc := &local{sess: sess, stop: make(chan struct{})}
	lc.stream = s.pacer.NewStreamAfter(c.epA, sess, sent) // a fresh stream when nothing was sent
	lc.rx = media.NewReceiver(c.epA, sess)
	lc.rx.Inactive(s.opts.RTPTimeout)
	c.local = lc
	lc.rx.Start(s.ctx, lc.onAudio)
	go c.pumpDigits(lc.rx, lc.stop, false)
}

// restart starts receiving the caller again after a relay had the endpoint.
func (lc *local) restart(c *call) {
	if !lc.rxDone {
		return
	}
	lc.rxDone = false
	lc.stop = make(chan struct{})
	lc.rx = media.NewReceiver(c.epA, lc.sess)
	lc.rx.Inactive(c.s.opts.RTPTimeout)
	lc.rx.Start(c.s.ctx, lc.onAudio)
	go c.pumpDigits(lc.rx, lc.stop, false)
}

// unhold takes a party off hold when its phone was put on hold by the one who transferred it
// (phones hold before they transfer): a worker re-INVITEs it to send and receive again, in
// codec sess, so it can talk to whoever takes the call.
func (c *call) unhold(l *leg, sess media.Session) {
	dir, err := media.Direction(l.getLastSDP())
	if err != nil || dir == "sendrecv" || dir == "recvonly" {
		return
	}
	c.reofferLater(l, sess)
}

// reoffer sends l's phone a fresh offer of one codec, sendrecv, and takes its answer.
func (s *Server) reoffer(log *zap.Logger, l *leg, sess media.Session) {
	l.mu.Lock()
	if l.reinviting {
		l.mu.Unlock()
		return
	}
	l.reinviting = true
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		l.reinviting = false
		l.mu.Unlock()
	}()
	offer := media.NewOffer(s.opts.MediaAddr, l.ep.Port(), l.origin, sess.Codec, sess.DTMF != 0)
	req := l.newRequest(sip.INVITE, offer, "application/sdp")
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	res, ackErr, err := l.reinvite(ctx, s, req)
	if ackErr != nil {
		log.Warn("ACK for re-INVITE not sent", zap.String("leg", l.callID), zap.Error(ackErr))
	}
	if err != nil {
		log.Info("re-INVITE after transfer not answered", zap.String("leg", l.callID), zap.Error(err))
		return
	}
	if !res.IsSuccess() {
		log.Info("re-INVITE after transfer refused", zap.String("leg", l.callID), zap.Int("code", res.StatusCode))
		return
	}
	l.setLastSDP(offer)
	l.setAnswer(res.Body())
	if got, err := media.SessionOf(res.Body()); err == nil {
		l.ep.SetRemote(got.Remote)
	}
}

// attended joins the party that stays (kept) with the far party of the transferring user's
// other call, which the REFER's Replaces names.
func (c *call) attended(from, kept *leg, sess media.Session, target referTarget, req *sip.Request, tx sip.ServerTransaction) *flow.Transferred {
	named := c.s.lookupReplaced(*target.replaces)
	if named == nil {
		_ = tx.Respond(from.response(req, 481, "Replaced Dialog Does Not Exist", nil))
		return nil
	}
	other := named.call()
	if other == c || named.user != from.user {
		_ = tx.Respond(from.response(req, 403, "Not Your Call", nil))
		return nil
	}
	_ = tx.Respond(accepted(from, req))
	rep := c.s.startReferReport(from, req, c.log)
	h := c.askHandOver(other, named)
	switch {
	case h.err != nil:
		c.log.Info("attended transfer failed", zap.Error(h.err))
		rep.final(503, "Service Unavailable")
		return nil
	case h.leg == nil:
		// The consultation was not answered: the other party goes where it was going.
		c.log.Info("attended transfer to an unanswered call", zap.String("by", from.user), zap.String("to", h.dialled))
		return c.sendOn(from, kept, sess, flow.Transferred{To: h.dialled, By: from.user}, rep)
	}
	c.join(from, kept, sess, h, rep)
	rep.final(200, "OK")
	return nil
}

// askHandOver asks other's owner for its leg other than named, bounded in time; a leg handed
// over too late is hung up, never left without an owner.
func (c *call) askHandOver(other *call, named *leg) handOver {
	reply := make(chan handOver, 1)
	if !other.mail.post(handOverRequest{named: named, to: c, reply: reply}) {
		return handOver{err: errNotHandedOver}
	}
	t := time.NewTimer(handOverWait)
	defer t.Stop()
	select {
	case h := <-reply:
		return h
	case <-t.C:
	}
	c.s.wg.Add(1)
	go func() {
		defer c.s.wg.Done()
		h := <-reply
		if h.leg != nil {
			_ = h.leg.bye(c.s)
			c.s.removeDialog(h.leg)
			_ = h.leg.ep.Close()
		}
	}()
	return handOver{err: errors.New("the consultation call did not answer in time")}
}

// join connects kept with the handed-over leg and carries the talk on; from's leg ends.
func (c *call) join(from, kept *leg, sess media.Session, h handOver, rep *referReport) {
	sent := c.stopRelay(kept)
	if from == c.a {
		c.swap()
	}
	c.dropLeg(from, rep)
	joined := h.leg
	c.b, c.epB = joined, joined.ep
	relay := media.NewRelay(c.epA, c.epB, c.s.opts.RTPTimeout)
	switch {
	case c.local != nil:
		c.local.setSink(nil)
		c.local.stopReceiving()
		relay.Continue(c.epA, c.local.stream)
	default:
		st := c.s.pacer.NewStreamAfter(c.epA, sess, sent)
		c.carried = append(c.carried, st)
		relay.Continue(c.epA, st)
	}
	joinedSess, err := joined.session()
	if err == nil {
		st := c.s.pacer.NewStreamAfter(c.epB, joinedSess, h.sent)
		c.carried = append(c.carried, st)
		relay.Continue(c.epB, st)
	}
	c.relay = relay
	relay.Start(c.s.ctx)
	relay.OnInactive(func() { c.mail.post(relayInactive{}) })
	c.unhold(kept, sess)
	if err == nil && joinedSess.Codec != sess.Codec {
		// The two phones settled on different codecs with the switch: the joined one is
		// offered the kept one's, so audio passes without transcoding.
		c.reofferLater(joined, sess)
	} else {
		c.unhold(joined, joinedSess)
	}
	c.onCall(joined.user)
	c.trackDialog(joined.user, "recipient", dialogConfirmed, kept.party)
	c.setState(flow.Talking, joined.party)
	c.Trace("attended transfer by " + from.user + ": " + kept.party + " joined with " + joined.party)
	c.log.Info("attended transfer", zap.String("by", from.user), zap.String("ext", joined.party))
}

// reofferLater re-INVITEs l to codec sess in a worker.
func (c *call) reofferLater(l *leg, sess media.Session) {
	c.s.wg.Add(1)
	go func() {
		defer c.s.wg.Done()
		c.s.reoffer(c.log, l, sess)
	}()
}

// giveUp answers another call's handOverRequest: this call's far party (the leg other than
// the transferring user's) goes to that call, the user's leg here ends, and this call is over.
// It reports whether the call is over.
func (c *call) giveUp(ev handOverRequest) bool {
	named := ev.named
	if named != c.a && named != c.b {
		ev.reply <- handOver{err: errNotHandedOver}
		return false
	}
	far := c.other(named)
	sent := c.stopRelay(far)
	if c.local != nil {
		c.endLocal()
		c.local = nil
	}
	// The far party is on a call all along: the new call marks it before this one lets go.
	ev.to.onCall(far.user)
	far.owner.Store(ev.to)
	if far == c.a {
		c.a, c.epA = nil, nil
	} else {
		c.b, c.epB = nil, nil
	}
	c.Trace("joined to another call by an attended transfer of " + named.user)
	ev.reply <- handOver{leg: far, sent: sent}
	c.log.Info("party handed over to an attended transfer", zap.String("ext", far.party))
	if !named.ended.Load() {
		c.bye(named)
	}
	c.s.removeDialog(named)
	if named == c.a {
		c.a = nil
		c.callerGone = true
	} else {
		c.b = nil
	}
	return true
}

// notBridged answers the requests only a bridged call can carry out.
func (c *call) notBridged(ev any) {
	switch ev := ev.(type) {
	case referEvent:
		_ = ev.tx.Respond(ev.l.response(ev.req, 403, "Transfer Not Possible Now", nil))
	case transferRequest:
		ev.reply <- ErrNotTransferable
	case handOverRequest:
		if ev.named == c.a && c.b == nil {
			// A consultation that was not answered: the transfer goes where it was going.
			ev.reply <- handOver{dialled: c.dialled}
			return
		}
		ev.reply <- handOver{err: errNotHandedOver}
	}
}
