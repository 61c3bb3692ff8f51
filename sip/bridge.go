package sip

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
	"go.uber.org/zap"

	"github.com/switchboard-voip/switchboard/flow"
	"github.com/switchboard-voip/switchboard/history"
	"github.com/switchboard-voip/switchboard/media"
)

// Bridge implements flow.Call: the caller and the party that answered are connected, and the
// call's owner carries the conversation until either side hangs up.
func (c *call) Bridge(fp flow.Party) error {
	p, ok := fp.(*party)
	if !ok || p.c != c || p.done {
		return errors.New("bridge: not a party of this call")
	}
	p.closeMedia()
	p.done = true
	c.party = nil
	if p.gone {
		return errors.New("bridge: the party hung up")
	}
	var err error
	if p.picker != nil {
		err = c.answerPicker(p)
	} else if c.local != nil && c.answered {
		err = c.bridgeLocal(p)
	} else {
		err = c.answer(p)
	}
	if err != nil {
		return err
	}
	p.settle()
	if t := c.talk(); t != nil {
		return t
	}
	return nil
}

// answer completes an unanswered call with the party: the callee's SDP goes to the caller,
// media starts flowing and the caller gets 200 OK.
func (c *call) answer(p *party) error {
	s := c.s
	if c.inv == nil {
		s.removeDialog(p.f.leg)
		_ = p.f.leg.bye(s)
		return errInviteAnswered
	}
	f := p.f
	answerA, remoteB, err := media.RewriteAnswer(p.res.Body(), s.opts.MediaAddr, c.epA.Port(), c.a.origin)
	if err != nil {
		c.end(endingOfMedia(err))
		s.removeDialog(f.leg)
		_ = f.leg.bye(s)
		return fmt.Errorf("callee answer: %w", err)
	}
	c.epB.SetRemote(remoteB)
	c.b = f.leg
	c.a.setLastSDP(answerA)
	c.a.setAnswer(answerA)
	f.leg.setAnswer(p.res.Body())
	s.addDialog(c.a)
	s.addDialog(f.leg)

	c.startRelay()
	callee := f.binding.AOR
	c.setOutcome(history.Answered, callee)
	c.onCall(c.caller)
	c.onCall(callee)
	c.trackDialog(c.caller, "initiator", dialogConfirmed, callee)
	c.trackDialog(callee, "recipient", dialogConfirmed, c.callerID)
	ok := c.a.response(c.inv, 200, "OK", answerA)
	c.markAnswered()
	if err := c.respondOK(ok); err != nil {
		s.removeDialog(f.leg)
		_ = f.leg.bye(s)
		c.callerGone = true
		return fmt.Errorf("200 OK to caller: %w", err)
	}
	c.log.Info("call answered", zap.String("leg", f.leg.callID), zap.String("contact", f.binding.Contact))
	c.s.wg.Add(1)
	go c.retransmitOK(c.a, c.tx, ok)
	return nil
}

// bridgeLocal hands a caller the switch answered (held, queued) from the switch's own media to
// the answering phone; the bridged audio carries on the caller's RTP stream (same SSRC,
// sequence and timestamps) so their phone never notices the hand-over.
func (c *call) bridgeLocal(p *party) error {
	s := c.s
	f := p.f
	sess, err := media.SessionOf(p.res.Body())
	if err != nil {
		s.removeDialog(f.leg)
		_ = f.leg.bye(s)
		return fmt.Errorf("callee answer unusable: %w", err)
	}
	c.epB.SetRemote(sess.Remote)
	c.b = f.leg
	f.leg.setAnswer(p.res.Body())
	s.addDialog(f.leg)

	lc := c.local
	lc.setSink(nil)
	lc.stopReceiving() // the relay reads the caller's endpoint from now on
	relay := media.NewRelay(c.epA, c.epB, s.opts.RTPTimeout)
	relay.Continue(c.epA, lc.stream)
	c.relay = relay
	relay.Start(s.ctx)

	callee := f.binding.AOR
	c.setOutcome(history.Answered, callee)
	c.onCall(callee)
	c.trackDialog(callee, "recipient", dialogConfirmed, c.callerID)
	c.log.Info("caller connected", zap.String("ext", callee), zap.String("leg", f.leg.callID))
	return nil
}

// retransmitOK repeats our 2xx to the INVITE tx that created l over UDP until l's ACK
// (RFC 3261 §13.3.1.4). Once the transaction has ended (Timer L, shorter than this) the 2xx goes
// out on the connection the INVITE came by.
func (c *call) retransmitOK(l *leg, tx sip.ServerTransaction, ok *sip.Response) {
	defer c.s.wg.Done()
	if l.tp.name != "UDP" {
		return
	}
	var conn sip.Connection
	if t, isConn := tx.(interface{ Connection() sip.Connection }); isConn {
		conn = t.Connection()
	}
	interval := t1
	deadline := time.NewTimer(64 * t1)
	defer deadline.Stop()
	for {
		t := time.NewTimer(interval)
		select {
		case <-l.acked:
			t.Stop()
			return
		case <-c.done:
			t.Stop()
			return
		case <-deadline.C:
			t.Stop()
			return
		case <-t.C:
			if err := tx.Respond(ok); err != nil && conn != nil {
				_ = conn.WriteMsg(ok)
			}
			interval = min(2*interval, 4*time.Second)
		}
	}
}

// startRelay starts media once, at early media or answer.
func (c *call) startRelay() {
	if c.relay != nil {
		return
	}
	c.relay = media.NewRelay(c.epA, c.epB, c.s.opts.RTPTimeout)
	c.relay.Start(c.s.ctx)
}

// talk carries a bridged call until it ends and hangs up whichever legs are still up, or until
// a blind transfer sends the caller on (returned). Its frame is under the whole conversation:
// the events are handled in onTalk, whose frame is gone while the call waits (see ring in
// package flow for why the depth counts).
func (c *call) talk() *flow.Transferred {
	ackWait := c.s.clock.AfterFunc(64*t1, func() { c.mail.post(ackTimeout{}) })
	defer ackWait.Stop()
	c.relay.OnInactive(func() { c.mail.post(relayInactive{}) })
	for {
		if over, t := c.onTalk(c.next()); over {
			return t
		}
	}
}

// onTalk handles one event of a bridged call: it reports whether the conversation is over,
// and the transfer that sends the caller on, if that is why.
func (c *call) onTalk(ev any) (over bool, t *flow.Transferred) {
	switch ev := ev.(type) {
	case ackTimeout:
		select {
		case <-c.acked:
			return false, nil
		default:
		}
		c.log.Warn("caller never acknowledged the answer; ending call")
		c.byeBoth()
		return true, nil
	case byeEvent:
		if ev.l != c.a && ev.l != c.b {
			return false, nil // a leg this call no longer carries (transferred away)
		}
		c.log.Info("call ended", zap.String("by", c.legName(ev.l)))
		if ev.l == c.a {
			c.callerGone = true
			c.bye(c.b)
		} else {
			c.bye(c.a)
		}
		return true, nil
	case referEvent:
		t := c.onRefer(ev)
		return t != nil, t
	case transferRequest:
		t := c.onTransferRequest(ev)
		return t != nil, t
	case handOverRequest:
		return c.giveUp(ev), nil
	case relayInactive:
		c.log.Info("no media; ending call", zap.Duration("timeout", c.s.opts.RTPTimeout))
		c.byeBoth()
		return true, nil
	default:
		fev, ok := c.common(ev)
		if !ok {
			return false, nil
		}
		if st, stop := fev.(flow.Stop); stop {
			c.log.Info("ending call", zap.String("why", st.Why))
			c.byeBoth()
			return true, nil
		}
		return false, nil
	}
}

func (c *call) byeBoth() {
	var wg sync.WaitGroup
	for _, l := range []*leg{c.a, c.b} {
		wg.Add(1)
		go func() { defer wg.Done(); c.bye(l) }()
	}
	wg.Wait()
}

// whenDone posts ev once done is closed, unless the call is over first.
func (c *call) whenDone(done <-chan struct{}, ev any) {
	select {
	case <-done:
		c.mail.post(ev)
	case <-c.done:
	}
}
