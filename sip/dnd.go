package sip

import (
	"go.uber.org/zap"

	"github.com/switchboard-voip/switchboard/history"
	"github.com/switchboard-voip/switchboard/media/prompts"
	"github.com/switchboard-voip/switchboard/routing"
)

// applyDND carries out *78 / *79: the setting is saved first (so it is never lost once
// confirmed), then the switch answers, says "Do not disturb is on/off" and hangs up.
func (c *call) applyDND(plan routing.Plan) {
	p := c.s.opts.Presence
	if p == nil {
		c.respond(404, "Not Found", nil)
		return
	}
	if _, err := p.SetDND(plan.Ext, plan.DND); err != nil {
		c.log.Error("DND not saved", zap.Error(err))
		c.respond(500, "Server Internal Error", nil)
		return
	}
	c.log.Info("DND set by feature code", zap.String("ext", plan.Ext), zap.Bool("dnd", plan.DND))
	c.setOutcome(history.Feature, "")
	if err := c.answerLocally(); err != nil {
		c.log.Warn("DND confirmation not answered", zap.Error(err))
		return
	}
	prompt := prompts.DNDOff
	if plan.DND {
		prompt = prompts.DNDOn
	}
	_, _ = c.play(promptSource(prompt), false)
	c.endLocal(c.isGone())
}
