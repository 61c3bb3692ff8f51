package flow

import (
	"github.com/switchboard-voip/switchboard/presence"
	"time"

	"go.uber.org/zap"

	"github.com/switchboard-voip/switchboard/history"
	"github.com/switchboard-voip/switchboard/internal/clock"
	"github.com/switchboard-voip/switchboard/media/prompts"
	"github.com/switchboard-voip/switchboard/routing"
)

// ScreenWait is how long the answering user has to choose once the menu has been read.
const ScreenWait = 10 * time.Second

// screen is call screening: the user who answered hears "Call from" and the caller's number
// and chooses: 1 accepts (the caller, who heard ringing all along, is connected), 2 sends the
// caller to voicemail, 3 turns on DND (everyone sees it) and sends the caller to voicemail. No
// choice within ScreenWait means voicemail. It returns whether to connect, or what to do
// instead (nil: nothing, the caller is gone).
func (e *Engine) screen(c Call, p Party, plan *routing.Plan) (*routing.Plan, bool) {
	log := c.Log().WithLazy(zap.String("ext", p.Ext()))
	c.SetState(Screening, p.Ext())
	voicemail := plan.NoAnswer
	decline := func(dnd bool) (*routing.Plan, bool) {
		p.Release()
		if voicemail == nil {
			return nil, false
		}
		next := *voicemail
		if dnd && next.Action == routing.Voicemail {
			next.Greeting = routing.GreetingDND
		}
		return &next, false
	}

	names := []string{prompts.CallFrom}
	for _, d := range c.CallerID() {
		if d >= '0' && d <= '9' {
			names = append(names, prompts.Digit(int(d-'0')))
		}
	}
	names = append(names, prompts.ScreeningMenu)
	menu := p.Play(promptSource(names...))
	var (
		choose deadline
		timer  clock.Timer
	)
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	log.Info("screening the call", zap.String("from", c.CallerID()))
	for {
		switch ev := c.Next().(type) {
		case PlayDone:
			if ev.FromParty && ev.ID == menu && timer == nil {
				choose, timer = e.after(c, ScreenWait)
			}
		case deadline:
			if ev == choose {
				log.Info("screening: no choice; voicemail")
				return decline(false)
			}
		case Digit:
			if !ev.FromParty {
				continue
			}
			switch ev.Key {
			case '1':
				log.Info("screening: accepted")
				return nil, true
			case '2':
				log.Info("screening: sent to voicemail")
				return decline(false)
			case '3':
				log.Info("screening: DND on; voicemail")
				if e.o.Statuses != nil {
					if _, err := e.o.Statuses.Set(p.Ext(), presence.Change{DND: true, Source: presence.SourceScreening, By: p.Ext()}); err != nil {
						log.Error("DND not saved", zap.Error(err))
					}
				}
				return decline(true)
			}
		case PartyGone:
			log.Info("screening: callee hung up; voicemail")
			return voicemail, false
		case CallerGone:
			p.Release()
			c.SetOutcome(history.Abandoned, "")
			return nil, false
		case Stop:
			p.Release()
			return nil, false
		}
	}
}
