package flow

import (
	"errors"
	"time"

	"go.uber.org/zap"

	"github.com/switchboard-voip/switchboard/media"
	"github.com/switchboard-voip/switchboard/media/prompts"
	"github.com/switchboard-voip/switchboard/routing"
)

// recallTimeout is how long a transferred caller nobody took rings back at the transferring
// user's phones before their voicemail (or goodbye).
const recallTimeout = 30 * time.Second

// bridge connects the caller with p and, when one party sends the other on, carries on with
// the transfer.
func (e *Engine) bridge(c Call, p Party) {
	if err := c.Bridge(p); err != nil {
		e.bridgeEnded(c, err) // a frame of its own: bridge's is under the whole conversation
	}
}

// bridgeEnded carries on after a bridge that ended in a transfer, or failed.
func (e *Engine) bridgeEnded(c Call, err error) {
	var t *Transferred
	if errors.As(err, &t) {
		e.transfer(c, *t)
		return
	}
	c.Log().Warn("call not bridged", zap.Error(err))
}

// transfer sends a transferred caller to t.To through the same status routing as a new call:
// an Available user's phones ring, a Busy user's greeting and hold, a DND user's greeting and
// voicemail, groups, queues and outside numbers as usual. If that ends in a refusal (no such
// number, nobody there and no mailbox), the caller hears so and rings back at the transferring
// user's phones: a transferred caller is never dropped silently.
func (e *Engine) transfer(c Call, t Transferred) {
	plan := e.o.Router.Decide(routing.Request{Caller: c.Caller(), Dialled: t.To, TransferredBy: t.By, Voicemail: t.Voicemail})
	c.Log().Info("transferred", zap.String("by", t.By), zap.String("to", t.To),
		zap.Bool("voicemail", t.Voicemail), zap.Stringer("action", plan.Action))
	c.Trace("transferred by " + t.By + " to " + t.To + map[bool]string{true: " (voicemail)"}[t.Voicemail])
	c.Play(ringback()) // until the target's flow plays its own (a greeting, music) or a phone answers
	r := &refusals{Call: c}
	e.Run(r, &plan)
	if !r.refused {
		return
	}
	e.recall(c, t.By)
}

// recall rings a transferred caller back at the transferring user's phones, after telling the
// caller the person is not available. Unanswered, the transferring user's voicemail (if any)
// takes the message.
func (e *Engine) recall(c Call, by string) {
	c.Trace("not taken: recall to " + by)
	c.Log().Info("transfer not taken; recalling", zap.String("ext", by))
	if _, err := e.play(c, promptSource(prompts.Unavailable), false); err != nil {
		return
	}
	c.Play(ringback())
	c.SetState(Ringing, by)
	rang := c.Ring(Ring{Targets: []string{by}, Timeout: recallTimeout})
	switch rang.Result {
	case Answered:
		c.SetState(Talking, rang.Party.Ext())
		e.bridge(c, rang.Party)
	case Gone:
	default:
		vm := e.o.Router.Decide(routing.Request{Caller: c.Caller(), Dialled: by, Voicemail: true})
		if vm.Action != routing.Voicemail {
			c.Trace("recall not answered; " + by + " has no mailbox")
			_, _ = e.play(c, promptSource(prompts.Goodbye), false)
			c.Refuse(routing.Unavailable)
			return
		}
		e.Run(c, &vm)
	}
}

// refusals is a transferred call whose refusals are noted instead of ending it, so that the
// caller can be recalled. The refusal still reaches the call (the SIP layer reports it to the
// transferring phone); a caller already answered is not hung up by it.
type refusals struct {
	Call
	refused bool
}

// Refuse implements Call.
func (r *refusals) Refuse(why routing.Refusal) {
	r.refused = true
	r.Call.Refuse(why)
}

// PassBack implements Call.
func (r *refusals) PassBack(code int, reason string) {
	r.refused = true
	r.Call.PassBack(code, reason)
}

// ringback is the ringing tone a transferred caller hears while the target's phones ring: 425 Hz,
// one second on, four off (the ITU-T E.180 cadence most of Europe uses).
func ringback() media.Source {
	on := media.Tone(425, 0.25, time.Second)
	tone := make([]int16, 0, 5*media.SampleRate)
	tone = append(tone, on...)
	tone = append(tone, make([]int16, 4*media.SampleRate)...)
	return media.Loop(tone)
}
