package sip

import (
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
	"go.uber.org/zap"

	"github.com/switchboard-voip/switchboard/media"
	"github.com/switchboard-voip/switchboard/media/prompts"
	"github.com/switchboard-voip/switchboard/routing"
)

// screenWait is how long the answering user has to choose once the menu has been read.
const screenWait = 10 * time.Second

// screen is call screening: the user who answered hears "Call from" and the caller's number
// and chooses: 1 accepts (the caller, who heard ringing all along, is connected), 2 sends the
// caller to voicemail, 3 turns on DND (everyone sees it) and sends the caller to voicemail. No
// choice within 10 s means voicemail. It returns whether to connect, or what to do instead.
func (c *call) screen(f *fork, res *sip.Response, plan routing.Plan) (routing.Plan, bool) {
	s := c.s
	callee := f.binding.AOR
	c.enter(StateScreening, callee)
	log := c.log.With(zap.String("ext", callee), zap.String("leg", f.leg.callID))
	voicemail := routing.Plan{Action: routing.Reject, Code: 480, Reason: "Temporarily Unavailable"}
	if plan.NoAnswer != nil {
		voicemail = *plan.NoAnswer
	}
	decline := func(dnd bool) (routing.Plan, bool) {
		if err := f.leg.bye(s); err != nil {
			log.Debug("screening BYE", zap.Error(err))
		}
		next := voicemail
		if dnd && next.Action == routing.Voicemail {
			next.Greeting = routing.GreetingDND
		}
		return next, false
	}

	sess, err := media.SessionOf(res.Body())
	if err != nil {
		log.Warn("screening: callee SDP unusable", zap.Error(err))
		return decline(false)
	}
	c.epB.SetRemote(sess.Remote)
	stream := s.pacer.NewStream(c.epB, sess)
	defer stream.Close()
	rx := media.NewReceiver(c.epB, sess)
	rx.Start(s.ctx, nil)
	defer rx.Stop()
	c.mu.Lock()
	c.screenDigits = make(chan byte, 8)
	infoDigits := c.screenDigits
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.screenDigits = nil
		c.mu.Unlock()
	}()
	s.mu.Lock()
	s.dialogs[f.leg.callID] = f.leg // the callee's BYE or INFO reach this call meanwhile
	s.mu.Unlock()
	accepted := false
	defer func() {
		if !accepted {
			s.mu.Lock()
			if s.dialogs[f.leg.callID] == f.leg {
				delete(s.dialogs, f.leg.callID)
			}
			s.mu.Unlock()
		}
	}()

	names := []string{prompts.CallFrom}
	for _, d := range c.callerID {
		if d >= '0' && d <= '9' {
			names = append(names, prompts.Digit(int(d-'0')))
		}
	}
	names = append(names, prompts.ScreeningMenu)
	played := stream.Play(promptSource(names...))
	var menuDone <-chan time.Time
	log.Info("screening the call", zap.String("from", c.callerID))
	for {
		select {
		case <-played:
			played = nil
			menuDone = time.After(screenWait)
		case d := <-rx.Digits():
			if next, ok, decided := c.screenChoice(d, callee, log, decline); decided {
				accepted = ok
				return next, ok
			}
		case d := <-infoDigits:
			if next, ok, decided := c.screenChoice(d, callee, log, decline); decided {
				accepted = ok
				return next, ok
			}
		case <-menuDone:
			log.Info("screening: no choice; voicemail")
			return decline(false)
		case side := <-c.hangup:
			if side == sideB {
				log.Info("screening: callee hung up; voicemail")
				return voicemail, false
			}
			return routing.Plan{Action: routing.Reject, Code: 487, Reason: "Request Terminated"}, false
		case <-c.cancelled:
			_ = f.leg.bye(s)
			c.setOutcome("abandoned", "")
			return routing.Plan{Action: routing.Reject, Code: 487, Reason: "Request Terminated"}, false
		case <-c.ctx.Done():
			_ = f.leg.bye(s)
			return c.endedPlan(), false
		}
	}
}

// screenChoice acts on one key the screening user pressed.
func (c *call) screenChoice(d byte, callee string, log *zap.Logger,
	decline func(dnd bool) (routing.Plan, bool)) (routing.Plan, bool, bool) {
	switch d {
	case '1':
		log.Info("screening: accepted")
		return routing.Plan{}, true, true
	case '2':
		log.Info("screening: sent to voicemail")
		next, ok := decline(false)
		return next, ok, true
	case '3':
		log.Info("screening: DND on; voicemail")
		if p := c.s.opts.Presence; p != nil {
			if _, err := p.SetDND(callee, true); err != nil {
				log.Error("DND not saved", zap.Error(err))
			}
		}
		next, ok := decline(true)
		return next, ok, true
	}
	return routing.Plan{}, false, false
}

// onScreenInfo takes DTMF the screening user sends as SIP INFO on the callee's leg.
func (c *call) onScreenInfo(l *leg, req *sip.Request) bool {
	if l.side != sideB {
		return false
	}
	c.mu.Lock()
	ch := c.screenDigits
	c.mu.Unlock()
	if ch == nil {
		return false
	}
	ct := ""
	if h := req.ContentType(); h != nil {
		ct = strings.TrimSpace(h.Value())
	}
	if d, ok := dtmfFromInfo(ct, req.Body()); ok {
		select {
		case ch <- d:
		default:
		}
	}
	return true
}
