package flow

import (
	"sync"

	"go.uber.org/zap"

	"github.com/switchboard-voip/switchboard/media"
	"github.com/switchboard-voip/switchboard/media/prompts"
	"github.com/switchboard-voip/switchboard/presence"
	"github.com/switchboard-voip/switchboard/routing"
)

// holds is every busy user's line of waiting callers, first come first served.
type holds struct {
	mu    sync.Mutex
	lines map[string][]*holder
}

// holder is one caller on hold.
type holder struct{ c Call }

// turn tells a held caller that the user's status changed: available (try to connect) or DND
// (nobody will be put through).
type turn struct{ status presence.Status }

// join puts c at the back of ext's line.
func (h *holds) join(ext string, c Call) *holder {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.lines == nil {
		h.lines = make(map[string][]*holder)
	}
	w := &holder{c: c}
	h.lines[ext] = append(h.lines[ext], w)
	return w
}

// leave takes w out of ext's line.
func (h *holds) leave(ext string, w *holder) {
	h.mu.Lock()
	defer h.mu.Unlock()
	line := h.lines[ext]
	for i, x := range line {
		if x == w {
			line = append(line[:i:i], line[i+1:]...)
			break
		}
	}
	if len(line) == 0 {
		delete(h.lines, ext)
		return
	}
	h.lines[ext] = line
}

// statusChanged wakes ext's line: when the user is available the first caller is tried; when
// the user turns DND nobody will be put through, so every caller is told.
func (h *holds) statusChanged(ext string, st presence.Status) {
	h.mu.Lock()
	defer h.mu.Unlock()
	line := h.lines[ext]
	if len(line) == 0 {
		return
	}
	switch st {
	case presence.Available:
		line[0].c.Post(turn{status: st})
	case presence.DND:
		for _, w := range line {
			w.c.Post(turn{status: st})
		}
	}
}

// Waiting returns how many callers are holding for ext.
func (e *Engine) Waiting(ext string) int {
	e.holds.mu.Lock()
	defer e.holds.mu.Unlock()
	return len(e.holds.lines[ext])
}

// statusOf reads a user's status from the table, if there is one.
func (e *Engine) statusOf(ext string) (presence.Status, bool) {
	if e.o.Statuses == nil {
		return presence.Available, false
	}
	st, ok := e.o.Statuses.Get(ext)
	return st.Status, ok
}

// hold is "call to a busy user": the busy greeting, then music on hold until the user's call
// ends, then the user is routed to again (their phones ring). Pressing 1, the user turning
// DND, or the hold limit sends the caller to the plan's NoAnswer (voicemail) instead.
func (e *Engine) hold(c Call, plan *routing.Plan) {
	if err := c.Answer(); err != nil {
		c.Log().Warn("hold not answered", zap.Error(err))
		return
	}
	c.SetState(Held, plan.Ext)
	log := c.Log().WithLazy(zap.String("ext", plan.Ext))
	// The caller joins the line at once, so the wait is measured from their arrival, but hears
	// the whole greeting before anything else.
	w := e.holds.join(plan.Ext, c)
	c.Holding(true)
	left := false
	leave := func() {
		if !left {
			left = true
			e.holds.leave(plan.Ext, w)
			c.Holding(false)
		}
	}
	defer leave()
	if _, err := e.play(c, e.greeting(plan.Ext, routing.GreetingBusy, false), false); err != nil {
		return
	}
	moh, _ := prompts.PCM(prompts.MusicOnHold)
	c.Play(e.withCallbackOffer(c, media.Loop(moh))) // loops until replaced: put-through, voicemail or hang-up
	limit, timer := e.after(c, plan.HoldLimit)
	defer timer.Stop()
	started := e.clock.Now()
	// The user may have become free while the greeting played.
	if st, ok := e.statusOf(plan.Ext); ok {
		e.holds.statusChanged(plan.Ext, st)
	}
	for {
		ev := c.Next()
		if err := goneErr(ev); err != nil {
			log.Info("held caller gone", zap.Duration("held", e.clock.Now().Sub(started)), zap.Error(err))
			return
		}
		switch ev := ev.(type) {
		case turn:
			if ev.status == presence.DND {
				leave()
				log.Info("held caller: user turned DND", zap.Duration("held", e.clock.Now().Sub(started)))
				e.next(c, plan.NoAnswer)
				return
			}
			next := e.o.Router.Decide(routing.Request{Caller: c.Caller(), Dialled: plan.Ext})
			if next.Action == routing.Hold {
				continue // busy again (another call got in first): keep waiting
			}
			leave()
			log.Info("held caller put through", zap.Duration("held", e.clock.Now().Sub(started)),
				zap.Stringer("action", next.Action))
			e.Run(c, &next)
			// Whoever is next in line may be put through once this attempt is over.
			if st, ok := e.statusOf(plan.Ext); ok {
				e.holds.statusChanged(plan.Ext, st)
			}
			return
		case Digit:
			if ev.Key == '1' && !ev.FromParty {
				leave()
				e.next(c, plan.NoAnswer)
				return
			}
			if ev.Key == '2' && !ev.FromParty && e.callMeBack(c, plan.Ext, leave, nil, nil) {
				return
			}
		case deadline:
			if ev == limit {
				leave()
				log.Info("held caller: hold limit reached", zap.Duration("limit", plan.HoldLimit))
				e.next(c, plan.NoAnswer)
				return
			}
		}
	}
}
