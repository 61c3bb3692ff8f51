package sip

import (
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
	"go.uber.org/zap"

	"github.com/switchboard-voip/switchboard/history"
	"github.com/switchboard-voip/switchboard/media"
	"github.com/switchboard-voip/switchboard/media/prompts"
	"github.com/switchboard-voip/switchboard/presence"
	"github.com/switchboard-voip/switchboard/routing"
)

// holdLine is the callers waiting for one busy user, first come first served.
type holdLine struct {
	waiting []*holder
}

// holder is one caller on hold; turn is signalled when the user is free and this caller is first.
type holder struct {
	c    *call
	turn chan presence.Status // the status that ended the wait: available (connect) or dnd
}

// holds is every busy user's line of waiting callers.
type holds struct {
	mu    sync.Mutex
	lines map[string]*holdLine
}

// join puts c at the back of ext's line.
func (h *holds) join(ext string, c *call) *holder {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.lines == nil {
		h.lines = make(map[string]*holdLine)
	}
	l := h.lines[ext]
	if l == nil {
		l = &holdLine{}
		h.lines[ext] = l
	}
	w := &holder{c: c, turn: make(chan presence.Status, 1)}
	l.waiting = append(l.waiting, w)
	return w
}

// leave takes w out of ext's line.
func (h *holds) leave(ext string, w *holder) {
	h.mu.Lock()
	defer h.mu.Unlock()
	l := h.lines[ext]
	if l == nil {
		return
	}
	for i, x := range l.waiting {
		if x == w {
			l.waiting = append(l.waiting[:i:i], l.waiting[i+1:]...)
			break
		}
	}
	if len(l.waiting) == 0 {
		delete(h.lines, ext)
	}
}

// statusChanged wakes ext's line: when the user is available the first caller is put through;
// when the user turns DND nobody will be, so every caller is told.
func (h *holds) statusChanged(ext string, st presence.Status) {
	h.mu.Lock()
	defer h.mu.Unlock()
	l := h.lines[ext]
	if l == nil || len(l.waiting) == 0 {
		return
	}
	switch st {
	case presence.Available:
		select {
		case l.waiting[0].turn <- st:
		default:
		}
	case presence.DND:
		for _, w := range l.waiting {
			select {
			case w.turn <- st:
			default:
			}
		}
	}
}

// Waiting returns how many callers are holding for ext, for the API and tests.
func (s *Server) Waiting(ext string) int {
	s.holds.mu.Lock()
	defer s.holds.mu.Unlock()
	if l := s.holds.lines[ext]; l != nil {
		return len(l.waiting)
	}
	return 0
}

// hold is "call to a busy user": the busy greeting, then music on hold until the user's call
// ends, then their phones ring. Pressing 1, the user turning DND, or the hold limit sends the
// caller to voicemail instead.
func (c *call) hold(plan routing.Plan) {
	s := c.s
	if err := c.answerLocally(); err != nil {
		c.log.Warn("hold not answered", zap.Error(err))
		return
	}
	log := c.log.With(zap.String("ext", plan.Ext))
	greeting := promptSource(prompts.Busy)
	if s.opts.Greetings != nil {
		if own := s.opts.Greetings.Greeting(plan.Ext, routing.GreetingBusy); len(own) > 0 {
			greeting = media.Samples(own)
		}
	}
	// The caller joins the line at once, so the wait is measured from their arrival, but hears
	// the whole greeting before anything else.
	w := s.holds.join(plan.Ext, c)
	c.holdStarted()
	c.enter(StateHeld, plan.Ext)
	leave := sync.OnceFunc(func() { s.holds.leave(plan.Ext, w); c.holdEnded() })
	defer leave()
	if _, err := c.play(greeting, false); err != nil {
		c.endLocal(c.isGone())
		return
	}
	moh, _ := prompts.PCM(prompts.MusicOnHold)
	lc := c.local
	lc.stream.Play(media.Loop(moh)) // loops until replaced: put-through, voicemail or hang-up
	limit := time.NewTimer(plan.HoldLimit)
	defer limit.Stop()
	started := time.Now()
	// The user may have become free while the greeting played.
	if st, ok := s.statusOf(plan.Ext); ok {
		s.holds.statusChanged(plan.Ext, st)
	}
	for {
		select {
		case st := <-w.turn:
			if st == presence.DND {
				leave()
				log.Info("held caller: user turned DND", zap.Duration("held", time.Since(started)))
				c.follow(*plan.NoAnswer)
				return
			}
			next := s.opts.Router.Decide(routing.Request{Caller: c.caller, Dialled: plan.Ext})
			if next.Action == routing.Hold {
				continue // busy again (another call got in first): keep waiting
			}
			leave()
			log.Info("held caller put through", zap.Duration("held", time.Since(started)),
				zap.Stringer("action", next.Action))
			c.follow(next)
			// Whoever is next in line may be put through once this attempt is over.
			if st, ok := s.statusOf(plan.Ext); ok {
				s.holds.statusChanged(plan.Ext, st)
			}
			return
		case d := <-lc.digits:
			if d == '1' {
				leave()
				c.follow(*plan.NoAnswer)
				return
			}
		case d := <-lc.rx.Digits():
			if d == '1' {
				leave()
				c.follow(*plan.NoAnswer)
				return
			}
		case <-limit.C:
			leave()
			log.Info("held caller: hold limit reached", zap.Duration("limit", plan.HoldLimit))
			c.follow(*plan.NoAnswer)
			return
		case <-c.callerGone:
			log.Info("held caller hung up", zap.Duration("held", time.Since(started)))
			c.endLocal(true)
			return
		case <-lc.rx.Inactive(0):
			c.endLocal(false)
			return
		case <-c.ctx.Done():
			c.endLocal(false)
			return
		}
	}
}

// statusOf reads a user's status from the table, if there is one.
func (s *Server) statusOf(ext string) (presence.Status, bool) {
	if s.opts.Presence == nil {
		return presence.Available, false
	}
	st, ok := s.opts.Presence.Get(ext)
	return st.Status, ok
}

// connectLocal rings targets for a caller the switch has already answered (held callers): the
// callee is offered only the caller's codec, the caller keeps hearing music until the answer, and
// the bridged audio carries on the caller's RTP stream (same SSRC, sequence and timestamps) so
// their phone never notices the hand-over. Unanswered, it follows the plan's NoAnswer.
func (c *call) connectLocal(plan routing.Plan) {
	switch c.ringFromLocal(plan.Targets, plan.RingTimeout, nil) {
	case outcomeUnanswered:
		next := routing.Plan{Action: routing.Reject, Code: 480, Reason: "Temporarily Unavailable"}
		if plan.NoAnswer != nil {
			next = *plan.NoAnswer
		}
		c.follow(next)
	case outcomeDone:
		c.endLocal(c.isGone())
	}
}

// ringFromLocal rings targets' phones for a caller the switch answered and, when one answers,
// calls answered (if set) with the extension that answered, then bridges and talks until the
// call ends (outcomeAnswered).
func (c *call) ringFromLocal(targets []string, timeout time.Duration, answered func(ext string)) outcome {
	s := c.s
	lc := c.local
	var err error
	if c.epB == nil {
		if c.epB, err = s.opts.Ports.Open(); err != nil {
			c.log.Warn("no port to connect the caller", zap.Error(err))
			return outcomeUnanswered
		}
	}
	c.originB = media.NewOrigin()
	c.offerB = media.NewOffer(s.opts.MediaAddr, c.epB.Port(), c.originB, lc.sess.Codec, lc.sess.DTMF != 0)
	r := c.newRound()
	for _, ext := range targets {
		for _, b := range c.bindings(ext) {
			f, err := c.startFork(r, b)
			if err != nil {
				c.log.Warn("fork not started", zap.String("ext", ext), zap.Error(err))
				continue
			}
			r.forks = append(r.forks, f)
		}
	}
	if len(r.forks) == 0 {
		return outcomeUnanswered
	}
	for _, ext := range targets {
		c.trackDialog(ext, "recipient", dialogEarly, c.callerID)
	}
	c.enter(StateRinging, targets...)
	f, res, out := c.ring(r, timeout)
	if out != outcomeAnswered {
		for _, ext := range targets {
			c.untrackDialog(ext)
		}
		return out
	}
	for _, ext := range targets {
		if ext != f.binding.AOR {
			c.untrackDialog(ext)
		}
	}
	// The user is on a call from this instant: a queue's dispatcher, woken by answered, must
	// already see them busy, or it offers them the next caller.
	c.onCall(f.binding.AOR)
	if answered != nil {
		answered(f.binding.AOR)
	}
	c.bridgeLocal(f, res)
	return outcomeAnswered
}

// bridgeLocal hands the caller's leg from the switch's own media to the answering phone.
func (c *call) bridgeLocal(f *fork, res *sip.Response) {
	s := c.s
	lc := c.local
	sess, err := media.SessionOf(res.Body())
	if err != nil {
		c.log.Warn("callee answer unusable", zap.Error(err))
		_ = f.leg.bye(s)
		c.endLocal(c.isGone())
		return
	}
	c.epB.SetRemote(sess.Remote)
	c.mu.Lock()
	c.b = f.leg
	c.mu.Unlock()
	s.mu.Lock()
	s.dialogs[f.leg.callID] = f.leg
	s.mu.Unlock()

	lc.setSink(nil)
	lc.rx.Stop() // the relay reads the caller's endpoint from now on
	relay := media.NewRelay(c.epA, c.epB, s.opts.RTPTimeout)
	relay.Continue(c.epA, lc.stream)
	c.mu.Lock()
	c.relay = relay
	c.mu.Unlock()
	relay.Start(s.ctx)

	callee := f.binding.AOR
	c.setOutcome(history.Answered, callee)
	c.enter(StateTalking, callee)
	c.onCall(callee)
	c.trackDialog(callee, "recipient", dialogConfirmed, c.callerID)
	c.log.Info("held caller connected", zap.String("ext", callee), zap.String("leg", f.leg.callID))
	c.talk()
	lc.stream.Close()
}
