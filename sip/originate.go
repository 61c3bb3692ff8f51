package sip

import (
	"errors"
	"fmt"

	"github.com/emiago/sipgo/sip"
	"go.uber.org/zap"

	"github.com/switchboard-voip/switchboard/flow"
	"github.com/switchboard-voip/switchboard/media"
)

// ErrStopping: the switch is shutting down and places no more calls.
var ErrStopping = errors.New("sip: the switch is stopping")

// presented is who a call's INVITEs say is calling: the From user and display name.
type presented struct{ user, name string }

// presentedAs is who the phones this call rings see as the caller.
func (c *call) presentedAs() presented {
	if c.ringAs != nil {
		return *c.ringAs
	}
	name := c.name
	if name == "" {
		name = c.s.opts.Users.DisplayName(c.caller)
	}
	return presented{user: c.callerID, name: name}
}

// Originate implements flow.Originator. The new call is a call like one that came in, with an
// owner goroutine, mailbox, history record and a place in Calls; it has no INVITE of its own
// (nothing waits for its response) until the first phone answers, whose leg then becomes the
// caller's leg ("a") with the switch's media on it, as for a caller the switch answered. So
// ringing the next party, bridging, transfers and hang-ups take the held caller's paths.
func (s *Server) Originate(o flow.Origination) error {
	if o.Run == nil {
		return errors.New("originate: no flow to run")
	}
	if s.draining.Load() {
		return fmt.Errorf("originate call to %s: %w", o.To, ErrStopping)
	}
	id := newCallID()
	// The call's own request stands for the INVITE a call that came in has: its Call-ID names
	// the call, its Request-URI what was dialled (the number called back).
	inv := sip.NewRequest(sip.INVITE, sip.Uri{Scheme: "sip", User: o.To, Host: s.transportOf("UDP").host})
	callID := sip.CallIDHeader(id)
	inv.AppendHeader(&callID)
	log := s.log.With(zap.String("call_id", id), zap.String("from", o.From), zap.String("to", o.To),
		zap.Bool("originated", true))
	c := &call{
		s: s, log: log, caller: o.Caller, callerID: o.From, inv: inv, name: o.FromName,
		ringAs:    &presented{user: o.RingFrom, name: o.RingFromName},
		mail:      newEvents(),
		done:      make(chan struct{}),
		acked:     make(chan struct{}),
		finalized: make(chan struct{}),
		final:     true, // there is no INVITE to respond to
	}
	c.keepInvite()
	close(c.acked) // the ACK is ours to send, not to wait for
	c.rec.started = s.clock.Now()
	ep, err := s.opts.Ports.Open()
	if err != nil {
		return fmt.Errorf("originate call to %s: %w", o.To, err)
	}
	if !s.addCall(c) {
		_ = ep.Close()
		return fmt.Errorf("originate call to %s: %w", o.To, ErrStopping)
	}
	go c.originate(ep, o)
	return nil
}

// originate owns an originated call: it rings the first phones, makes the one that answers
// the caller's leg, and runs the flow.
func (c *call) originate(ep *media.Endpoint, o flow.Origination) {
	defer c.over()
	c.setState(flow.Ringing, o.Ring.Targets...)
	r := c.ringFirst(ep, o.Ring)
	if r.Result != flow.Answered {
		c.log.Info("originated call not answered", zap.Strings("ext", o.Ring.Targets), zap.Int("result", int(r.Result)))
	}
	o.Run(c, r)
}

// ringFirst rings req's phones with an offer of the switch's own (the phones' answer settles
// the codec the rest of the call speaks) and makes the phone that answers the caller's leg.
func (c *call) ringFirst(ep *media.Endpoint, req flow.Ring) flow.Originated {
	s := c.s
	from := c.ringAs.user
	// The phones ring on the callee-facing endpoint, as any call's do; the winner's is then
	// the caller's.
	c.epB, c.originB = ep, media.NewOrigin()
	c.offerB = media.NewOffer(s.opts.MediaAddr, ep.Port(), c.originB, media.PCMU, true)
	if c.offerB == nil {
		c.log.Error("no offer for an originated call", zap.Stringer("media_addr", s.opts.MediaAddr))
		return flow.Originated{Result: flow.Gone}
	}
	rnd := &round{}
	for _, b := range c.bindings(req) {
		f, err := c.startFork(rnd, b, true)
		if err != nil {
			c.log.Warn("fork not started", zap.String("ext", b.AOR), zap.String("contact", b.Contact), zap.Error(err))
			continue
		}
		rnd.forks = append(rnd.forks, f)
	}
	if len(rnd.forks) == 0 {
		return flow.Originated{Result: flow.NoAnswer}
	}
	for _, ext := range req.Targets {
		c.trackDialog(ext, "recipient", dialogEarly, from)
	}
	rang := c.ring(rnd, req.Timeout)
	answeredBy := ""
	if rang.Result == flow.Answered {
		answeredBy = rang.Party.Ext()
	}
	for _, ext := range req.Targets {
		if ext != answeredBy {
			c.untrackDialog(ext)
		}
	}
	c.ringAs = nil // the phones rung next see the call's own caller
	if rang.Result != flow.Answered {
		return flow.Originated{Result: rang.Result}
	}
	p := rang.Party.(*party)
	c.party = nil
	p.done = true
	// The phone that answered is the caller now, with the switch's media on its endpoint.
	f := p.f
	c.a, c.epA = f.leg, c.epB
	c.epB, c.originB, c.offerB = nil, nil, nil
	c.a.acked = c.acked
	sess, err := media.SessionOf(p.res.Body())
	if err != nil {
		c.log.Warn("answer to an originated call unusable", zap.String("ext", answeredBy), zap.Error(err))
		c.markAnswered() // finish hangs the phone up
		return flow.Originated{Result: flow.Gone}
	}
	c.a.setAnswer(p.res.Body())
	c.startLocal(sess)
	c.markAnswered()
	c.onCall(answeredBy)
	c.trackDialog(answeredBy, "recipient", dialogConfirmed, from)
	c.log.Info("originated call answered", zap.String("ext", answeredBy), zap.String("leg", f.leg.callID),
		zap.Stringer("codec", sess.Codec))
	return flow.Originated{Result: flow.Answered, Ext: answeredBy}
}
