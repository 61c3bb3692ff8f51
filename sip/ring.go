package sip

import (
	"strings"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"
	"go.uber.org/zap"

	"github.com/switchboard-voip/switchboard/flow"
	"github.com/switchboard-voip/switchboard/media"
)

// t1 is RFC 3261's round-trip estimate; 2xx retransmission and ACK waiting derive from it.
const t1 = 500 * time.Millisecond

// abandoned is the sentinel that stops any late 2xx from winning once ringing is over.
var abandoned = &fork{}

// round is one ringing of a set of phones. The first 2xx claims winner; once the round is over a
// sentinel there turns any late answer away.
type round struct {
	forks  []*fork
	winner atomic.Pointer[fork]
}

// Ring implements flow.Call: it forks an INVITE to every registered phone of the targets (or
// the trunk's carrier) and waits, relaying ringing and early media to a caller who has not
// been answered; a caller the switch answered keeps hearing the switch until a phone answers.
func (c *call) Ring(req flow.Ring) flow.Rang {
	if err := c.prepareCallee(); err != nil {
		c.log.Warn("callee side not prepared", zap.Error(err))
		if !c.answered {
			c.end(endingOfMedia(err))
			return flow.Rang{Result: flow.Gone}
		}
		return flow.Rang{Result: flow.NoAnswer}
	}
	r := &round{}
	targets := req.Targets
	for _, b := range c.bindings(req) {
		f, err := c.startFork(r, b, req.Trunk == nil)
		if err != nil {
			c.log.Warn("fork not started", zap.String("ext", b.AOR), zap.String("contact", b.Contact), zap.Error(err))
			continue
		}
		r.forks = append(r.forks, f)
	}
	if len(r.forks) == 0 {
		return flow.Rang{Result: flow.NoAnswer}
	}
	if !c.answered {
		c.trackDialog(c.caller, "initiator", dialogTrying, c.dialled)
	}
	for _, ext := range targets {
		c.trackDialog(ext, "recipient", dialogEarly, c.callerID)
	}
	rang := c.ring(r, req.Timeout)
	for _, ext := range targets {
		if rang.Result != flow.Answered || ext != rang.Party.Ext() {
			c.untrackDialog(ext)
		}
	}
	return rang
}

// ring waits for the first phone of round r to answer.
func (c *call) ring(r *round, timeout time.Duration) flow.Rang {
	if timeout <= 0 {
		timeout = 20 * time.Second
	}
	timer := c.s.clock.AfterFunc(timeout, func() { c.mail.post(ringTimeout{r: r}) })
	defer timer.Stop()
	pending := len(r.forks)
	var best *sip.Response
	for pending > 0 {
		switch ev := c.next().(type) {
		case forkEvent:
			if ev.f.r != r {
				c.lateFork(ev)
				continue
			}
			switch {
			case ev.res != nil && ev.res.IsProvisional():
				c.relayProvisional(ev.res)
			case ev.res != nil && ev.res.IsSuccess():
				r.cancelForks(ev.f)
				return c.answeredBy(ev.f, ev.res)
			default:
				pending--
				best = betterFinal(best, ev.res)
				c.log.Info("phone did not take the call", zap.String("leg", ev.f.leg.callID),
					zap.Int("code", codeOf(ev.res)), zap.Error(ev.err))
			}
		case pickupRequest:
			if rang, taken := c.takePicker(r, ev); taken {
				return rang
			}
		case ringTimeout:
			if ev.r != r {
				continue
			}
			if w := r.abandon(); w != nil {
				return c.answeredBy(w, c.winnerResponse(r, w))
			}
			c.log.Info("no answer", zap.Duration("after", timeout))
			return flow.Rang{Result: flow.NoAnswer}
		default:
			fev, ok := c.common(ev)
			if !ok {
				continue
			}
			switch fev.(type) {
			case flow.CallerGone, flow.Stop:
				c.log.Info("ringing given up", zap.String("why", describe(fev)))
				if w := r.abandon(); w != nil {
					c.endLate(r, w)
				}
				return flow.Rang{Result: flow.Gone}
			}
			c.pending = append(c.pending, fev) // the flow's, for after the ringing
		}
	}
	r.abandon()
	if best != nil {
		return flow.Rang{Result: flow.Refused, Code: best.StatusCode, Reason: best.Reason}
	}
	return flow.Rang{Result: flow.NoAnswer}
}

// describe names a call-ending event for logs.
func describe(ev flow.Event) string {
	switch ev := ev.(type) {
	case flow.CallerGone:
		return "caller hung up"
	case flow.Stop:
		return ev.Why
	}
	return "other"
}

// answeredBy turns a winning fork into the flow's Party. When the switch had answered the
// caller (a held or queued caller), the user is on a call from this instant: a queue's
// dispatcher must already see them busy, or it offers them the next caller.
func (c *call) answeredBy(f *fork, res *sip.Response) flow.Rang {
	p := &party{c: c, f: f, res: res}
	c.party = p
	if c.answered {
		c.onCall(f.binding.AOR)
	}
	return flow.Rang{Result: flow.Answered, Party: p}
}

// prepareCallee opens the callee-facing endpoint and the offer the callee's phones get: the
// caller's own offer rewritten, or, once the switch answered the caller, an offer of the
// caller's negotiated codec only, so the bridged audio can carry on the caller's RTP stream.
func (c *call) prepareCallee() error {
	s := c.s
	if c.epB == nil {
		ep, err := s.opts.Ports.Open()
		if err != nil {
			return err
		}
		c.epB = ep
	}
	if c.local != nil && c.answered {
		c.originB = media.NewOrigin()
		c.offerB = media.NewOffer(s.opts.MediaAddr, c.epB.Port(), c.originB, c.local.sess.Codec, c.local.sess.DTMF != 0)
		c.prepared = false
		return nil
	}
	if c.prepared {
		return nil
	}
	c.originB = media.NewOrigin()
	offerB, remoteA, err := media.RewriteOffer(c.offer, s.opts.MediaAddr, c.epB.Port(), c.originB)
	if err != nil {
		return err
	}
	c.epA.SetRemote(remoteA)
	c.offerB = offerB
	c.prepared = true
	return nil
}

// abandon closes the round: every fork is cancelled and no later 2xx can win. If a fork won in
// the same instant, it is returned and the caller decides what to do with it.
func (r *round) abandon() *fork {
	if !r.winner.CompareAndSwap(nil, abandoned) {
		w := r.winner.Load()
		r.cancelForks(w)
		if w == abandoned {
			return nil
		}
		return w
	}
	r.cancelForks(nil)
	return nil
}

// winnerResponse waits for the winner's 2xx, which is on its way when abandon lost the race;
// other events meanwhile are handled or kept for the flow.
func (c *call) winnerResponse(r *round, w *fork) *sip.Response {
	for {
		ev := c.next()
		if fe, ok := ev.(forkEvent); ok && fe.f == w && fe.res != nil && fe.res.IsSuccess() {
			return fe.res
		}
		if fe, ok := ev.(forkEvent); ok && fe.f.r == r {
			continue
		}
		if fev, ok := c.common(ev); ok {
			c.pending = append(c.pending, fev)
		}
	}
}

// endLate hangs up a phone that answered after the call had been given up.
func (c *call) endLate(r *round, w *fork) {
	c.winnerResponse(r, w)
	c.s.removeDialog(w.leg)
	if err := w.leg.bye(c.s); err != nil {
		c.log.Debug("late answer not hung up", zap.Error(err))
	}
}

// lateFork handles a fork's event after its round is over: forks are stopped then, and a 2xx
// that still won a round is the only thing that needs an answer (a BYE).
func (c *call) lateFork(ev forkEvent) {
	if ev.res != nil && ev.res.IsSuccess() && ev.f.r.winner.Load() == ev.f && c.party == nil && c.b != ev.f.leg {
		c.s.removeDialog(ev.f.leg)
		if err := ev.f.leg.bye(c.s); err != nil {
			c.log.Debug("late answer not hung up", zap.Error(err))
		}
	}
}

// cancelForks sends CANCEL to every ringing fork of the round except keep.
func (r *round) cancelForks(keep *fork) {
	for _, f := range r.forks {
		if f != keep {
			f.stop()
		}
	}
}

// relayProvisional passes ringing and early media on to a caller the switch has not answered.
func (c *call) relayProvisional(res *sip.Response) {
	if res.StatusCode == 180 || res.StatusCode == 183 {
		c.report.progress(180, "Ringing")
	}
	if res.StatusCode == 100 || c.local != nil || c.answered || c.a == nil {
		// The caller hears the switch (music on hold), not the phones; an originated call
		// ringing its first phone has no caller yet.
		return
	}
	var body []byte
	if len(res.Body()) > 0 && res.StatusCode == 183 {
		answer, remote, err := media.RewriteAnswer(res.Body(), c.s.opts.MediaAddr, c.epA.Port(), c.a.origin)
		if err == nil {
			c.epB.SetRemote(remote)
			c.startRelay()
			body = answer
		}
	}
	code, reason := res.StatusCode, res.Reason
	if code == 183 && body == nil {
		code, reason = 180, "Ringing"
	}
	c.respond(code, reason, body)
}

// betterFinal picks the failure response to pass back when every phone refused (RFC 3261
// §16.7.6, simplified): a 6xx wins, then 4xx, then anything else.
func betterFinal(best, res *sip.Response) *sip.Response {
	if res == nil {
		return best
	}
	if best == nil {
		return res
	}
	rank := func(code int) int {
		switch {
		case code >= 600:
			return 0
		case code >= 400 && code < 500 && code != 408:
			return 1
		default:
			return 2
		}
	}
	if rank(res.StatusCode) < rank(best.StatusCode) {
		return res
	}
	return best
}

func codeOf(res *sip.Response) int {
	if res == nil {
		return 0
	}
	return res.StatusCode
}

// bindings are where a ring goes: the targets' registered phones, or the trunk's carrier.
func (c *call) bindings(req flow.Ring) []Binding {
	if out := req.Trunk; out != nil {
		tp := strings.ToUpper(out.Transport)
		contact := "sip:" + out.Number + "@" + out.Addr
		if tp == "TCP" {
			contact += ";transport=tcp"
		}
		return []Binding{{AOR: out.Number, Contact: contact, Source: out.Addr, Dest: out.Addr, Transport: tp}}
	}
	var out []Binding
	for _, ext := range req.Targets {
		out = append(out, c.s.opts.Locations.Lookup(ext)...)
		if !req.HereOnly { // a call another node forwarded for its phones here rings only those
			out = append(out, c.s.peerBindings(ext)...)
		}
	}
	return out
}
