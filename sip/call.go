package sip

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/switchboard-voip/switchboard/history"
	"github.com/switchboard-voip/switchboard/media"
	"github.com/switchboard-voip/switchboard/media/prompts"
	"github.com/switchboard-voip/switchboard/routing"
)

// t1 is RFC 3261's round-trip estimate; 2xx retransmission and ACK waiting derive from it.
const t1 = 500 * time.Millisecond

// call is one bridged call: the caller's leg, the forks ringing the callee's phones, and after
// answer the winning fork's leg, with the media relay between them.
type call struct {
	s      *Server
	log    *zap.Logger
	caller string
	inv    *sip.Request
	tx     sip.ServerTransaction

	a       *leg
	epA     *media.Endpoint
	epB     *media.Endpoint
	originB *media.Origin
	offerB  []byte   // the caller's offer as the callee's phones see it
	rounds  []*round // every ringing round, for cleanup

	done      chan struct{} // closed when run returns
	cancelled chan struct{} // the caller sent CANCEL
	acked     chan struct{} // the caller ACKed our 2xx
	ackOnce   sync.Once
	hangup    chan legSide // a BYE arrived on that side

	mu            sync.Mutex
	b             *leg
	relay         *media.Relay
	local         *local                 // set when the switch answered the caller itself
	screenDigits  chan byte              // DTMF the screening callee sends as SIP INFO
	rec           callRecord             // outcome, for the call history (under mu)
	outbound      *routing.OutboundRoute // set for a call going out through a trunk
	callerID      string                 // the number callees see: the user's extension or the outside number
	localAnswered bool                   // the switch sent the caller its 200 OK
	tracked       map[string]string      // users whose BLF shows this call → direction
	busy          []string               // users this call made busy
	callerGone    chan struct{}          // closed when the caller's BYE arrives
	goneOnce      sync.Once
	control       // state for the API, and the context that ends the call (calls.go)
}

// abandoned is the sentinel that stops any late 2xx from winning once ringing is over.
var abandoned = &fork{}

// round is one ringing of a set of phones (all of a user's, all available group members, or the
// next member of a sequential group). The first 2xx claims winner; once the round is over a
// sentinel there turns any late answer away.
type round struct {
	forks  []*fork
	winner atomic.Pointer[fork]
	events chan forkEvent
}

// newRound starts a round and remembers it for cleanup.
func (c *call) newRound() *round {
	r := &round{events: make(chan forkEvent)}
	c.mu.Lock()
	c.rounds = append(c.rounds, r)
	c.mu.Unlock()
	return r
}

func newCall(s *Server, inv *sip.Request, tx sip.ServerTransaction, caller string, log *zap.Logger) *call {
	c := &call{
		s: s, log: log, caller: caller, inv: inv, tx: tx,
		done:       make(chan struct{}),
		cancelled:  make(chan struct{}),
		acked:      make(chan struct{}),
		hangup:     make(chan legSide, 2),
		callerGone: make(chan struct{}),
	}
	c.rec.started = time.Now()
	c.initControl()
	var once sync.Once
	if !tx.OnCancel(func(*sip.Request) { once.Do(func() { close(c.cancelled) }) }) {
		once.Do(func() { close(c.cancelled) })
	}
	return c
}

// run carries out a Ring plan and then owns the call until it ends.
func (c *call) run(plan routing.Plan) {
	s := c.s
	s.mu.Lock()
	s.calls[c] = struct{}{}
	s.mu.Unlock()
	s.wg.Add(1)
	defer func() {
		c.cleanup()
		c.writeHistory()
		close(c.done)
		c.stop(nil)
		s.mu.Lock()
		delete(s.calls, c)
		s.mu.Unlock()
		s.wg.Done()
	}()

	if err := c.openCaller(); err != nil {
		code, reason := mediaError(err)
		c.log.Info("call refused", zap.Int("code", code), zap.Error(err))
		c.respond(code, reason, nil)
		return
	}
	c.follow(plan)
}

// follow carries out a plan on the caller's leg, which has not been answered yet.
func (c *call) follow(plan routing.Plan) {
	c.mu.Lock()
	answered := c.localAnswered
	c.rec.trace = append(c.rec.trace, plan.Trace...)
	c.mu.Unlock()
	switch plan.Action {
	case routing.Ring:
		if answered {
			c.connectLocal(plan)
			return
		}
		c.ringTargets(plan)
	case routing.Hold:
		c.hold(plan)
	case routing.Enqueue:
		c.enqueue(plan)
	case routing.Outbound:
		c.mu.Lock()
		c.outbound = &plan.Trunk
		c.mu.Unlock()
		c.ringTargets(routing.Plan{Action: routing.Ring, Targets: []string{plan.Trunk.Number}, RingTimeout: outboundRingTimeout,
			Trace: plan.Trace})
	case routing.Voicemail:
		c.voicemail(plan)
	case routing.VoicemailMenu:
		c.voicemailMenu(plan)
	case routing.SetDND:
		c.applyDND(plan)
	default:
		code, reason := plan.Code, plan.Reason
		if code < 300 {
			code, reason = 500, "Server Internal Error"
		}
		if answered {
			// The switch already answered (a held caller whose user cannot be reached and who
			// has no voicemail): there is nothing left to offer, so hang up.
			c.endLocal(c.isGone())
			return
		}
		if plan.Announce != "" {
			c.announceThenReject(c.greeting(plan.Box, plan.Announce), code, reason)
			return
		}
		c.respond(code, reason, nil)
	}
}

// greeting is the user's own greeting of a kind, or the built-in prompt for it.
func (c *call) greeting(ext, kind string) media.Source {
	if g := c.s.opts.Greetings; g != nil {
		if own := g.Greeting(ext, kind); len(own) > 0 {
			return media.Samples(own)
		}
	}
	switch kind {
	case routing.GreetingBusy:
		return promptSource(prompts.Busy)
	case routing.GreetingDND:
		return promptSource(prompts.Unavailable)
	}
	return promptSource(prompts.Unavailable, prompts.LeaveMessage)
}

// ringTargets rings every registered phone of the plan's targets and bridges the first to
// answer; unanswered, it follows the plan's NoAnswer.
func (c *call) ringTargets(plan routing.Plan) {
	if err := c.prepareCallee(); err != nil {
		code, reason := mediaError(err)
		c.log.Info("call refused", zap.Int("code", code), zap.Error(err))
		c.respond(code, reason, nil)
		return
	}
	stages := [][]string{plan.Targets}
	if plan.Sequential {
		stages = stages[:0]
		for _, t := range plan.Targets {
			stages = append(stages, []string{t})
		}
	}
	var (
		f   *fork
		res *sip.Response
		out = outcomeUnanswered
	)
	dialled := c.inv.Recipient.User
	for _, targets := range stages {
		r := c.newRound()
		for _, ext := range targets {
			for _, b := range c.bindings(ext) {
				f, err := c.startFork(r, b)
				if err != nil {
					c.log.Warn("fork not started", zap.String("ext", ext), zap.String("contact", b.Contact), zap.Error(err))
					continue
				}
				r.forks = append(r.forks, f)
			}
		}
		if len(r.forks) == 0 {
			continue
		}
		c.enter(StateRinging, targets...)
		c.trackDialog(c.caller, "initiator", dialogTrying, dialled)
		for _, ext := range targets {
			c.trackDialog(ext, "recipient", dialogEarly, c.callerID)
		}
		f, res, out = c.ring(r, plan.RingTimeout)
		if out != outcomeAnswered {
			for _, ext := range targets {
				c.untrackDialog(ext)
			}
		}
		if out != outcomeUnanswered {
			break
		}
	}
	switch out {
	case outcomeAnswered:
		if plan.Screening {
			next, accepted := c.screen(f, res, plan)
			if !accepted {
				c.follow(next)
				return
			}
		}
		if err := c.answer(f, res); err != nil {
			c.log.Warn("answer failed", zap.Error(err))
			return
		}
		c.talk()
	case outcomeUnanswered:
		next := routing.Plan{Action: routing.Reject, Code: 480, Reason: "Temporarily Unavailable"}
		if plan.NoAnswer != nil {
			next = *plan.NoAnswer
		}
		c.log.Info("nobody answered", zap.Stringer("next", next.Action), zap.Strings("trace", next.Trace))
		c.follow(next)
	}
}

// openCaller opens the caller-facing media endpoint and builds the caller's dialog.
func (c *call) openCaller() error {
	if len(c.inv.Body()) == 0 {
		// Offerless INVITEs would need the offer/answer turned around through ACK; phones and
		// SIPp always offer, so refuse clearly rather than half-support it.
		return fmt.Errorf("invite without SDP offer: %w", media.ErrNoCommonCodec)
	}
	var err error
	if c.epA, err = c.s.opts.Ports.Open(); err != nil {
		return fmt.Errorf("open caller endpoint: %w", err)
	}
	c.a = c.newALeg()
	return nil
}

// prepareCallee opens the callee-facing endpoint and turns the caller's offer into the callee's.
func (c *call) prepareCallee() error {
	s := c.s
	var err error
	if c.epB, err = s.opts.Ports.Open(); err != nil {
		return fmt.Errorf("open callee endpoint: %w", err)
	}
	c.originB = media.NewOrigin()
	offerB, remoteA, err := media.RewriteOffer(c.inv.Body(), s.opts.MediaAddr, c.epB.Port(), c.originB)
	if err != nil {
		return fmt.Errorf("caller offer: %w", err)
	}
	c.epA.SetRemote(remoteA)
	c.offerB = offerB
	return nil
}

// newALeg builds the caller-facing dialog from the INVITE.
func (c *call) newALeg() *leg {
	l := &leg{side: sideA, call: c, ep: c.epA, origin: media.NewOrigin()}
	l.initUAS(c.inv, c.s.transportOf(c.inv.Transport()))
	return l
}

// respond sends a response to the caller's INVITE.
func (c *call) respond(code int, reason string, body []byte) {
	if code >= 300 {
		outcome := history.Rejected
		if code == 487 {
			outcome = history.Abandoned
		}
		c.setOutcome(outcome, "")
		c.mu.Lock()
		c.rec.code = code
		c.mu.Unlock()
	}
	var res *sip.Response
	if c.a != nil {
		res = c.a.response(c.inv, code, reason, body)
	} else {
		res = sip.NewResponseFromRequest(c.inv, code, reason, body)
	}
	if err := c.tx.Respond(res); err != nil {
		c.log.Debug("response to caller not sent", zap.Int("code", code), zap.Error(err))
	}
}

// outcome is how ringing ended.
type outcome int

const (
	outcomeDone       outcome = iota // the caller has been answered already (cancelled, refused, busy)
	outcomeAnswered                  // a phone answered: bridge it
	outcomeUnanswered                // nobody took the call: follow the plan's NoAnswer
)

// ring waits for the first phone of round r to answer.
func (c *call) ring(r *round, timeout time.Duration) (*fork, *sip.Response, outcome) {
	if timeout <= 0 {
		timeout = 20 * time.Second
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	pending := len(r.forks)
	var best *sip.Response
	for pending > 0 {
		select {
		case ev := <-r.events:
			switch {
			case ev.res != nil && ev.res.IsProvisional():
				c.relayProvisional(ev.res)
			case ev.res != nil && ev.res.IsSuccess():
				r.cancelForks(ev.f)
				return ev.f, ev.res, outcomeAnswered
			default:
				pending--
				best = betterFinal(best, ev.res)
				c.log.Info("phone did not take the call", zap.String("leg", ev.f.leg.callID),
					zap.Int("code", codeOf(ev.res)), zap.Error(ev.err))
			}
		case <-c.cancelled:
			c.log.Info("caller cancelled")
			c.setOutcome(history.Abandoned, "")
			if w := r.abandon(); w != nil {
				c.endLate(r, w)
			}
			return nil, nil, outcomeDone
		case <-c.callerGone:
			// A caller the switch had answered (held) hung up while the phones rang.
			c.log.Info("caller hung up while ringing")
			if w := r.abandon(); w != nil {
				c.endLate(r, w)
			}
			return nil, nil, outcomeDone
		case <-timer.C:
			if w := r.abandon(); w != nil {
				return w, <-r.winnerResponse(w), outcomeAnswered
			}
			c.log.Info("no answer", zap.Duration("after", timeout))
			return nil, nil, outcomeUnanswered
		case <-c.ctx.Done():
			if w := r.abandon(); w != nil {
				c.endLate(r, w)
			}
			c.respondEnded()
			return nil, nil, outcomeDone
		}
	}
	r.abandon()
	c.mu.Lock()
	outside := c.outbound != nil
	c.mu.Unlock()
	if best != nil && outside {
		// A number outside answered for itself (busy, declined, no such number): pass it back.
		c.respond(best.StatusCode, best.Reason, nil)
		return nil, nil, outcomeDone
	}
	// A user's phone that refuses (busy, decline) is a user who cannot take the call now: the
	// caller is never told 486 for a user, they get what follows an unanswered call (voicemail,
	// or 480 without one).
	return nil, nil, outcomeUnanswered
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

// winnerResponse waits for the winner's 2xx event, which is on its way when abandon lost the race.
func (r *round) winnerResponse(w *fork) <-chan *sip.Response {
	out := make(chan *sip.Response, 1)
	for {
		ev := <-r.events
		if ev.f == w && ev.res != nil && ev.res.IsSuccess() {
			out <- ev.res
			return out
		}
	}
}

// endLate hangs up a phone that answered after the call had been given up.
func (c *call) endLate(r *round, w *fork) {
	<-r.winnerResponse(w)
	if err := w.leg.bye(c.s); err != nil {
		c.log.Debug("late answer not hung up", zap.Error(err))
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

// relayProvisional passes ringing and early media on to the caller.
func (c *call) relayProvisional(res *sip.Response) {
	c.mu.Lock()
	local := c.local != nil
	c.mu.Unlock()
	if res.StatusCode == 100 || local {
		return // the caller hears the switch (music on hold), not the phones
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

// answer completes the call with the winning fork: the callee's SDP goes to the caller, media
// starts flowing and the caller gets 200 OK.
func (c *call) answer(f *fork, res *sip.Response) error {
	s := c.s
	answerA, remoteB, err := media.RewriteAnswer(res.Body(), s.opts.MediaAddr, c.epA.Port(), c.a.origin)
	if err != nil {
		code, reason := mediaError(err)
		c.respond(code, reason, nil)
		_ = f.leg.bye(s)
		return fmt.Errorf("callee answer: %w", err)
	}
	c.epB.SetRemote(remoteB)
	c.mu.Lock()
	c.b = f.leg
	c.mu.Unlock()
	c.a.lastSDP = answerA

	s.mu.Lock()
	s.dialogs[c.a.callID] = c.a
	s.dialogs[f.leg.callID] = f.leg
	s.mu.Unlock()

	c.startRelay()
	callee := f.binding.AOR
	c.setOutcome(history.Answered, callee)
	c.enter(StateTalking, callee)
	c.onCall(c.caller)
	c.onCall(callee)
	c.trackDialog(c.caller, "initiator", dialogConfirmed, callee)
	c.trackDialog(callee, "recipient", dialogConfirmed, c.callerID)
	ok := c.a.response(c.inv, 200, "OK", answerA)
	if err := c.tx.Respond(ok); err != nil {
		_ = f.leg.bye(s)
		return fmt.Errorf("200 OK to caller: %w", err)
	}
	c.log.Info("call answered", zap.String("leg", f.leg.callID), zap.String("contact", f.binding.Contact))
	go c.retransmitOK(ok)
	return nil
}

// retransmitOK repeats our 2xx over UDP until the caller's ACK (RFC 3261 §13.3.1.4).
func (c *call) retransmitOK(ok *sip.Response) {
	if c.a.tp.name != "UDP" {
		return
	}
	interval := t1
	deadline := time.NewTimer(64 * t1)
	defer deadline.Stop()
	for {
		select {
		case <-c.acked:
			return
		case <-c.done:
			return
		case <-deadline.C:
			return
		case <-time.After(interval):
			_ = c.tx.Respond(ok)
			interval = min(2*interval, 4*time.Second)
		}
	}
}

// startRelay starts media once, at early media or answer.
func (c *call) startRelay() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.relay != nil {
		return
	}
	c.relay = media.NewRelay(c.epA, c.epB, c.s.opts.RTPTimeout)
	c.relay.Start(c.s.ctx)
}

// talk waits for the call to end and hangs up whichever legs are still up.
func (c *call) talk() {
	s := c.s
	ackWait := time.NewTimer(64 * t1)
	defer ackWait.Stop()
	acked := c.acked // closed once; nil after, so the select stops seeing it
	for {
		select {
		case <-acked:
			ackWait.Stop()
			acked = nil
			continue
		case <-ackWait.C:
			c.log.Warn("caller never acknowledged the answer; ending call")
			c.byeBoth()
			return
		case side := <-c.hangup:
			c.log.Info("call ended", zap.String("by", string(side)))
			if side == sideA {
				c.bye(c.b)
			} else {
				c.bye(c.a)
			}
			return
		case <-c.relay.Inactive():
			c.log.Info("no media; ending call", zap.Duration("timeout", s.opts.RTPTimeout))
			c.byeBoth()
			return
		case <-c.ctx.Done():
			c.log.Info("shutting down; ending call")
			c.byeBoth()
			return
		}
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

func (c *call) bye(l *leg) {
	if err := l.bye(c.s); err != nil {
		c.log.Info("BYE not confirmed", zap.String("leg", string(l.side)), zap.Error(err))
	}
}

// cleanup releases everything the call held: dialogs, relay, ports, ringing forks.
func (c *call) cleanup() {
	c.mu.Lock()
	rounds := c.rounds
	c.mu.Unlock()
	for _, r := range rounds {
		r.abandon()
	}
	c.untrack()
	s := c.s
	s.mu.Lock()
	if c.a != nil && s.dialogs[c.a.callID] == c.a {
		delete(s.dialogs, c.a.callID)
	}
	if c.b != nil && s.dialogs[c.b.callID] == c.b {
		delete(s.dialogs, c.b.callID)
	}
	s.mu.Unlock()
	c.mu.Lock()
	relay := c.relay
	c.mu.Unlock()
	if relay != nil {
		relay.Stop()
	}
	for _, ep := range []*media.Endpoint{c.epA, c.epB} {
		if ep != nil {
			_ = ep.Close()
		}
	}
}

// markGone records that the caller hung up.
func (c *call) markGone() { c.goneOnce.Do(func() { close(c.callerGone) }) }

// isGone reports whether the caller hung up.
func (c *call) isGone() bool {
	select {
	case <-c.callerGone:
		return true
	default:
		return false
	}
}

// other returns the leg bridged to l.
func (c *call) other(l *leg) *leg {
	c.mu.Lock()
	defer c.mu.Unlock()
	if l.side == sideA {
		return c.b
	}
	return c.a
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

// newCallID makes a Call-ID for a B-leg; each fork gets its own so dialogs never share one.
func newCallID() string { return uuid.NewString() }

var errForkEnded = errors.New("fork transaction ended")

// outboundRingTimeout bounds an outside call that is never answered; carriers usually give up
// first with their own final response.
const outboundRingTimeout = 3 * time.Minute

// bindings are where a target's calls go: the user's registered phones, or, for a call going
// out, the trunk's carrier.
func (c *call) bindings(target string) []Binding {
	c.mu.Lock()
	out := c.outbound
	c.mu.Unlock()
	if out != nil && target == out.Number {
		host := out.Addr
		tp := strings.ToUpper(out.Transport)
		contact := "sip:" + out.Number + "@" + host
		if tp == "TCP" {
			contact += ";transport=tcp"
		}
		return []Binding{{AOR: out.Number, Contact: contact, Source: host, Transport: tp}}
	}
	return c.s.opts.Locations.Lookup(target)
}
