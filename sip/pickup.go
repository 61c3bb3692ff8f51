package sip

import (
	"fmt"
	"slices"
	"strings"

	"github.com/emiago/sipgo/sip"
	"go.uber.org/zap"

	"github.com/switchboard-voip/switchboard/flow"
	"github.com/switchboard-voip/switchboard/history"
	"github.com/switchboard-voip/switchboard/media"
)

// Directed pickup: a user dials *8 + extension, or presses a BLF key whose phone sends an
// INVITE with Replaces naming the ringing call's dialog. Either way the picker's call (its
// INVITE not answered yet) asks the ringing call's owner to take the picker's leg as the
// phone that answered: the ringing phones are cancelled, the caller (if not yet answered) and
// the picker get 200 OK, and the ringing call carries the conversation from then on. The
// picker's own call ends without touching the leg it gave away.

// pickupRequest asks a ringing call to be answered by the picker's call's leg.
type pickupRequest struct {
	by    *call
	reply chan bool
}

// PickUp implements flow.Call.
func (c *call) PickUp(ext string) bool {
	target := c.replaces
	if target == nil {
		target = c.s.ringingAt(ext, c)
	}
	if target == nil || c.a == nil {
		return false
	}
	reply := make(chan bool, 1)
	if !target.mail.post(pickupRequest{by: c, reply: reply}) {
		return false
	}
	select {
	case ok := <-reply:
		if !ok {
			return false
		}
	case <-target.done:
		return false
	}
	// The leg, its endpoint and the INVITE's answer are the other call's now.
	c.a, c.epA = nil, nil
	c.final = true
	c.Trace("picked up the call ringing at " + ext)
	c.log.Info("call picked up", zap.String("ext", ext), zap.String("call", target.ID()))
	return true
}

// ringingAt finds a call, other than but, whose phones ring for ext now.
func (s *Server) ringingAt(ext string, but *call) *call {
	s.mu.Lock()
	calls := make([]*call, 0, len(s.calls))
	for c := range s.calls {
		if c != but {
			calls = append(calls, c)
		}
	}
	s.mu.Unlock()
	var oldest *call
	for _, c := range calls {
		c.mu.Lock()
		ringing := (c.state == flow.Ringing || c.state == flow.Queued) && slices.Contains(c.with, ext)
		started := c.rec.started
		c.mu.Unlock()
		if ringing && (oldest == nil || started.Before(oldest.rec.started)) {
			oldest = c
		}
	}
	return oldest
}

// takePicker answers a pickupRequest while this call's phones ring (round r). The answers to
// both INVITEs are settled first: a picker whose media cannot meet the caller's is turned away
// and the phones ring on (false). Otherwise the round is over and the picker's leg becomes
// the party that answered — unless a phone answered in the same instant, which wins.
func (c *call) takePicker(r *round, ev pickupRequest) (flow.Rang, bool) {
	w := ev.by
	l := w.a
	if l == nil || l.user == "" || c.a == nil { // c.a: an originated call has no caller yet
		ev.reply <- false
		return flow.Rang{}, false
	}
	// Everything of the picker's is read before the reply: from then on its call lets go.
	p := &party{c: c, picker: l, pickerInv: w.inv, pickerTx: w.tx, pickerEp: w.epA}
	if err := c.settlePicker(p); err != nil {
		c.log.Info("pickup refused", zap.String("ext", l.user), zap.Error(err))
		ev.reply <- false
		return flow.Rang{}, false
	}
	if win := r.abandon(); win != nil {
		ev.reply <- false
		return c.answeredBy(win, c.winnerResponse(r, win)), true
	}
	l.owner.Store(c)
	ev.reply <- true
	c.party = p
	if c.answered {
		c.onCall(l.user)
	}
	c.log.Info("picked up", zap.String("ext", l.user), zap.String("leg", l.callID))
	return flow.Rang{Result: flow.Answered, Party: p, PickedUp: true}, true
}

// settlePicker works out the SDP answers of a pickup: the picker's in the codec of a caller
// the switch answered (so the caller's stream carries on), or both INVITEs' in one G.711 codec
// both offered.
func (c *call) settlePicker(p *party) error {
	s := c.s
	offer := p.pickerInv.Body()
	if c.local != nil && c.answered {
		answer, sess, err := media.AnswerOfferWith(offer, s.opts.MediaAddr, p.pickerEp.Port(), p.picker.origin, c.local.sess.Codec)
		p.pickerAnswer, p.pickerSess = answer, sess
		return err
	}
	for _, codec := range []media.Codec{media.PCMU, media.PCMA} {
		answerA, sessA, err := media.AnswerOfferWith(c.offer, s.opts.MediaAddr, c.epA.Port(), c.a.origin, codec)
		if err != nil {
			continue
		}
		answerB, sessB, err := media.AnswerOfferWith(offer, s.opts.MediaAddr, p.pickerEp.Port(), p.picker.origin, codec)
		if err == nil {
			p.callerAnswer, p.callerSess, p.pickerAnswer, p.pickerSess = answerA, sessA, answerB, sessB
			return nil
		}
	}
	return fmt.Errorf("picker and caller share no G.711 codec: %w", media.ErrNoCommonCodec)
}

// answerPicker connects the caller with a picker: the picker gets its 200 OK first (if it has
// gone meanwhile, the caller is not answered into nothing), then the caller, unless the switch
// answered it already, and a relay joins them; a caller the switch answered keeps its RTP
// stream.
func (c *call) answerPicker(p *party) error {
	s := c.s
	l := p.picker
	if c.inv == nil && (c.local == nil || !c.answered) {
		return errInviteAnswered // no 200 to send the caller, and no media of ours to hand over
	}
	if c.relay != nil { // early media from a phone that rang
		c.relay.Stop()
		c.relay = nil
	}
	if c.epB != nil {
		_ = c.epB.Close()
	}
	c.epB = p.pickerEp
	p.pickerEp = nil
	c.b = l
	l.ep = c.epB
	l.setLastSDP(p.pickerAnswer)
	l.setAnswer(p.pickerAnswer)
	okB := l.response(p.pickerInv, 200, "OK", p.pickerAnswer)
	if err := p.pickerTx.Respond(okB); err != nil {
		// The picker cancelled in the same instant: nobody takes the call now.
		c.end(endUnavailable)
		return fmt.Errorf("200 OK to the picker: %w", err)
	}
	c.s.wg.Add(1)
	go c.retransmitOK(l, p.pickerTx, okB)
	c.epB.SetRemote(p.pickerSess.Remote)
	if c.local != nil && c.answered {
		lc := c.local
		lc.setSink(nil)
		lc.stopReceiving()
		c.relay = media.NewRelay(c.epA, c.epB, s.opts.RTPTimeout)
		c.relay.Continue(c.epA, lc.stream)
	} else {
		c.epA.SetRemote(p.callerSess.Remote)
		c.a.setLastSDP(p.callerAnswer)
		c.a.setAnswer(p.callerAnswer)
		c.relay = media.NewRelay(c.epA, c.epB, s.opts.RTPTimeout)
		ok := c.a.response(c.inv, 200, "OK", p.callerAnswer)
		c.markAnswered()
		if err := c.respondOK(ok); err != nil {
			c.callerGone = true
			return fmt.Errorf("200 OK to caller: %w", err)
		}
		c.s.wg.Add(1)
		go c.retransmitOK(c.a, c.tx, ok)
		c.onCall(c.caller)
		c.trackDialog(c.caller, "initiator", dialogConfirmed, l.user)
	}
	c.relay.Start(s.ctx)
	c.setOutcome(history.Answered, l.user)
	c.onCall(l.user)
	c.trackDialog(l.user, "recipient", dialogConfirmed, c.callerID)
	c.Trace("picked up by " + l.user + " from " + strings.Join(c.with, ", ")) // c.with: who it rang for
	c.log.Info("caller connected to the picker", zap.String("ext", l.user))
	return nil
}

// releasePicker turns a picker away whose pickup the flow did not complete (the caller went).
func (p *party) releasePicker() {
	c := p.c
	_ = p.pickerTx.Respond(p.picker.response(p.pickerInv, 487, "Request Terminated", nil))
	c.s.removeDialog(p.picker)
	if p.pickerEp != nil {
		_ = p.pickerEp.Close()
		p.pickerEp = nil
	}
}

// replacedCall finds the ringing call an INVITE's Replaces header (RFC 3891) names, and the user
// it rings for: a BLF key's pickup. It returns false when it refused the INVITE itself: 400 for
// a malformed header, 481 when it names no dialog, 486 when the call is no longer ringing (an
// established call is not taken over by another phone here).
func (s *Server) replacedCall(req *sip.Request, tx sip.ServerTransaction, h sip.Header) (*call, string, bool) {
	rp, ok := parseReplaces(h.Value())
	if !ok {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 400, "Bad Replaces", nil))
		return nil, "", false
	}
	l := s.lookupReplaced(rp)
	if l == nil {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 481, "Call/Transaction Does Not Exist", nil))
		return nil, "", false
	}
	z := l.call()
	z.mu.Lock()
	ringing := (z.state == flow.Ringing || z.state == flow.Queued) && len(z.with) > 0
	ext := ""
	if ringing {
		ext = z.with[0]
	}
	z.mu.Unlock()
	if l != z.a || !ringing {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 486, "Busy Here", nil))
		return nil, "", false
	}
	return z, ext, true
}
