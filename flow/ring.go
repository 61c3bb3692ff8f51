package flow

import (
	"go.uber.org/zap"

	"github.com/switchboard-voip/switchboard/routing"
)

// ring is "call to a user or a group": ring the plan's targets (all at once, or one after
// another for a sequential group), screen the call if the user asked for it, and bridge the
// first phone to answer. Unanswered, the plan's NoAnswer follows.
func (e *Engine) ring(c Call, plan *routing.Plan) {
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
	switch rang.Result {
	case Answered:
		if plan.Screening && !rang.PickedUp {
			next, accepted := e.screen(c, rang.Party, plan)
			if !accepted {
				if next != nil {
					e.Run(c, next)
				}
				return
			}
		}
		c.SetState(Talking, rang.Party.Ext())
		e.bridge(c, rang.Party)
	case Gone:
	default:
		c.Log().Info("nobody answered", zap.Stringer("next", nextAction(plan.NoAnswer)))
		e.next(c, plan.NoAnswer)
	}
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
