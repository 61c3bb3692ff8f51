package flow

import (
	"go.uber.org/zap"

	"github.com/switchboard-voip/switchboard/routing"
)

// ring is "call to a user or a group": ring the plan's targets (all at once, or one after
// another for a sequential group), screen the call if the user asked for it, and bridge the
// first phone to answer. Unanswered, the plan's NoAnswer follows.
//
// Its frame stays on the call's stack for the whole conversation (under bridge), so the work
// is done in answered, which has returned by then. The runtime halves a parked goroutine's
// stack only while less than a quarter of it, counting 800 bytes of headroom, is in use: a
// talking call under 1.2 KB deep keeps 4 KB, one deeper keeps 8.
func (e *Engine) ring(c Call, plan *routing.Plan) {
	if p := e.answered(c, plan); p != nil {
		e.bridge(c, p)
	}
}

// answered rings the plan's targets and returns the party to bridge the caller with: a phone
// that answered (and, when the user screens calls, took it), or nil when the call went
// elsewhere (the plan's NoAnswer, where screening sent it) or is over.
func (e *Engine) answered(c Call, plan *routing.Plan) Party {
	rang := e.ringStages(c, plan)
	switch rang.Result {
	case Answered:
		if plan.Screening && !rang.PickedUp && !e.screened(c, rang.Party, plan) {
			return nil
		}
		c.SetState(Talking, rang.Party.Ext())
		return rang.Party
	case Gone:
	default:
		e.unanswered(c, plan)
	}
	return nil
}

// ringStages rings the plan's targets, stage by stage, until one answers or the call goes.
func (e *Engine) ringStages(c Call, plan *routing.Plan) Rang {
	stages := [][]string{plan.Targets}
	if plan.Sequential {
		stages = stages[:0]
		for _, t := range plan.Targets {
			stages = append(stages, []string{t})
		}
	}
	var rang Rang
	for _, targets := range stages {
		c.SetState(Ringing, targets...)
		rang = c.Ring(Ring{Targets: targets, Timeout: plan.RingTimeout, HereOnly: plan.HereOnly})
		// A user's phone that refuses (busy, decline) is a user who cannot take the call now:
		// the next member rings, and at the end the caller gets what follows an unanswered
		// call (voicemail, or 480 without one), never 486 for a user.
		if rang.Result != NoAnswer && rang.Result != Refused {
			break
		}
	}
	return rang
}

// screened lets the user whose phone answered screen the call (plan.Screening): it reports
// whether they took it; if not, the call has gone where they sent it.
func (e *Engine) screened(c Call, p Party, plan *routing.Plan) bool {
	next, accepted := e.screen(c, p, plan)
	if !accepted && next != nil {
		e.Run(c, next)
	}
	return accepted
}

// unanswered carries on with the plan's NoAnswer.
func (e *Engine) unanswered(c Call, plan *routing.Plan) {
	c.Log().Info("nobody answered", zap.Stringer("next", nextAction(plan.NoAnswer)))
	e.next(c, plan.NoAnswer)
}

// outbound is a call out through a trunk: the carrier rings the number; its own refusal (busy,
// declined, no such number) is passed back to the caller as it came.
func (e *Engine) outbound(c Call, plan *routing.Plan) {
	c.SetState(Ringing)
	trunk := plan.Trunk
	rang := c.Ring(Ring{Trunk: &trunk, Timeout: plan.RingTimeout})
	switch rang.Result {
	case Answered:
		c.SetState(Talking, rang.Party.Ext())
		e.bridge(c, rang.Party)
	case Refused:
		c.PassBack(rang.Code, rang.Reason)
	case NoAnswer:
		e.next(c, plan.NoAnswer)
	}
}

// nextAction names what a plan's next step does, for logs.
func nextAction(p *routing.Plan) routing.Action {
	if p == nil {
		return routing.Reject
	}
	return p.Action
}
