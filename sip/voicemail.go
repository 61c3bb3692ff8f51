package sip

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/switchboard-voip/switchboard/history"
	"github.com/switchboard-voip/switchboard/media/mailbox"
	"github.com/switchboard-voip/switchboard/media/prompts"
	"github.com/switchboard-voip/switchboard/routing"
)

// Greetings finds a user's own recorded greeting of a kind (routing.GreetingBusy, …); nil means
// the built-in prompt plays instead.
type Greetings interface {
	Greeting(ext, kind string) []int16
}

// Limits of one voicemail message.
const (
	maxMessage     = 3 * time.Minute
	silenceEnds    = 10 * time.Second
	minMessage     = time.Second // shorter recordings are hang-ups, not messages
	silenceLevel   = 200         // mean absolute sample value below which a frame is silence
	digitKeepAwait = 10 * time.Second
)

// voicemail answers the caller, plays the box owner's greeting and a beep, and records a
// message until the caller hangs up, presses #, stays silent for 10 s, or 3 minutes pass.
func (c *call) voicemail(plan routing.Plan) {
	s := c.s
	if s.opts.Voicemail == nil {
		c.respond(480, "Temporarily Unavailable", nil)
		return
	}
	if err := c.answerLocally(); err != nil {
		c.log.Warn("voicemail not answered", zap.Error(err))
		return
	}
	c.enter(StateVoicemail, plan.Box)
	log := c.log.With(zap.String("box", plan.Box))
	greeting := c.greeting(plan.Box, plan.Greeting)
	if plan.Greeting == routing.GreetingDND {
		if g := s.opts.Greetings; g == nil || len(g.Greeting(plan.Box, plan.Greeting)) == 0 {
			// Built-in: "The person you are calling is not available. Please leave a message…"
			greeting = promptSource(prompts.Unavailable, prompts.LeaveMessage)
		}
	}
	if _, err := c.play(greeting, false); err != nil {
		c.endLocal(c.isGone())
		return
	}
	if _, err := c.play(promptSource(prompts.Beep), false); err != nil {
		c.endLocal(c.isGone())
		return
	}
	rec, err := s.opts.Voicemail.Record(plan.Box, c.callerID, s.opts.Users.DisplayName(c.caller))
	if err != nil {
		log.Error("voicemail not recorded", zap.Error(err))
		c.endLocal(false)
		return
	}
	why, msg, err := c.record(rec)
	switch {
	case errors.Is(err, mailbox.ErrTooShort):
		log.Info("voicemail too short; discarded", zap.String("ended_by", why))
	case err != nil:
		log.Error("voicemail not saved", zap.String("ended_by", why), zap.Error(err))
	default:
		c.setOutcome(history.Voicemail, plan.Box)
		log.Info("voicemail saved", zap.String("id", msg.ID), zap.Int64("duration_ms", msg.DurationMS),
			zap.String("ended_by", why))
	}
	gone := c.isGone()
	if !gone && why == "#" {
		_, _ = c.play(promptSource(prompts.MessageSaved, prompts.Goodbye), false)
	}
	c.endLocal(c.isGone())
}

// record writes the caller's audio into rec until the message ends, then commits it.
func (c *call) record(rec *mailbox.Recording) (endedBy string, msg mailbox.Message, err error) {
	lc := c.local
	var (
		mu        sync.Mutex
		lastVoice atomic.Int64
		werr      error
	)
	lastVoice.Store(time.Now().UnixNano())
	lc.setSink(func(frame []int16) {
		mu.Lock()
		defer mu.Unlock()
		if werr == nil {
			werr = rec.Write(frame)
		}
		if loud(frame) {
			lastVoice.Store(time.Now().UnixNano())
		}
	})
	limit := time.NewTimer(maxMessage)
	defer limit.Stop()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	endedBy = ""
	for endedBy == "" {
		select {
		case <-c.callerGone:
			endedBy = "hangup"
		case d := <-lc.digits:
			if d == '#' {
				endedBy = "#"
			}
		case d := <-lc.rx.Digits():
			if d == '#' {
				endedBy = "#"
			}
		case <-limit.C:
			endedBy = "limit"
		case <-tick.C:
			if time.Since(time.Unix(0, lastVoice.Load())) >= silenceEnds {
				endedBy = "silence"
			}
		case <-lc.rx.Inactive(0):
			endedBy = "no media"
		case <-c.ctx.Done():
			endedBy = "shutdown"
		}
	}
	lc.setSink(nil)
	mu.Lock()
	defer mu.Unlock()
	if werr != nil {
		_ = rec.Abort()
		return endedBy, mailbox.Message{}, werr
	}
	msg, err = rec.Commit(minMessage)
	return endedBy, msg, err
}

// loud reports whether a frame holds more than line noise.
func loud(frame []int16) bool {
	var sum int
	for _, v := range frame {
		if v < 0 {
			sum -= int(v)
		} else {
			sum += int(v)
		}
	}
	return len(frame) > 0 && sum/len(frame) > silenceLevel
}
