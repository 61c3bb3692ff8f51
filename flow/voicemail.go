package flow

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

// Limits of one voicemail message.
const (
	MaxMessage     = 3 * time.Minute
	SilenceEnds    = 10 * time.Second
	minMessage     = time.Second // shorter recordings are hang-ups, not messages
	silenceLevel   = 200         // mean absolute sample value below which a frame is silence
	silenceCheck   = 250 * time.Millisecond
	digitKeepAwait = 10 * time.Second
)

// voicemail answers the caller, plays the box owner's greeting and a beep, and records a
// message until the caller hangs up, presses #, stays silent for SilenceEnds, or MaxMessage
// passes.
func (e *Engine) voicemail(c Call, plan *routing.Plan) {
	if e.o.Voicemail == nil {
		c.Refuse(routing.Unavailable)
		return
	}
	if err := c.Answer(); err != nil {
		c.Log().Warn("voicemail not answered", zap.Error(err))
		return
	}
	c.SetState(Voicemail, plan.Box)
	log := c.Log().WithLazy(zap.String("box", plan.Box))
	if _, err := e.play(c, e.greeting(plan.Box, plan.Greeting, true), false); err != nil {
		return
	}
	if _, err := e.play(c, promptSource(prompts.Beep), false); err != nil {
		return
	}
	rec, err := e.o.Voicemail.Record(plan.Box, c.CallerID(), c.CallerName())
	if err != nil {
		log.Error("voicemail not recorded", zap.Error(err))
		return
	}
	log.Info("recording the message")
	why, msg, err := e.record(c, rec)
	switch {
	case errors.Is(err, mailbox.ErrTooShort):
		log.Info("voicemail too short; discarded", zap.String("ended_by", why))
	case err != nil:
		log.Error("voicemail not saved", zap.String("ended_by", why), zap.Error(err))
	default:
		c.SetOutcome(history.Voicemail, plan.Box)
		log.Info("voicemail saved", zap.String("id", msg.ID), zap.Int64("duration_ms", msg.DurationMS),
			zap.String("ended_by", why))
	}
	if why == "#" {
		_, _ = e.play(c, promptSource(prompts.MessageSaved, prompts.Goodbye), false)
	}
}

// record writes the caller's audio into rec until the message ends, then commits it.
func (e *Engine) record(c Call, rec *mailbox.Recording) (endedBy string, msg mailbox.Message, err error) {
	var (
		mu        sync.Mutex
		lastVoice atomic.Int64
		werr      error
	)
	lastVoice.Store(e.clock.Now().UnixNano())
	c.Listen(func(frame []int16) {
		mu.Lock()
		defer mu.Unlock()
		if werr == nil {
			werr = rec.Write(frame)
		}
		if loud(frame) {
			lastVoice.Store(e.clock.Now().UnixNano())
		}
	})
	limit, limitTimer := e.after(c, MaxMessage)
	defer limitTimer.Stop()
	tick, tickTimer := e.after(c, silenceCheck)
	defer func() { tickTimer.Stop() }()
	for endedBy == "" {
		ev := c.Next()
		switch ev := ev.(type) {
		case CallerGone:
			endedBy = "hangup"
		case MediaLost:
			endedBy = "no media"
		case Stop:
			endedBy = "stopped: " + ev.Why
		case Digit:
			if ev.Key == '#' && !ev.FromParty {
				endedBy = "#"
			}
		case deadline:
			switch ev {
			case limit:
				endedBy = "limit"
			case tick:
				if e.clock.Now().Sub(time.Unix(0, lastVoice.Load())) >= SilenceEnds {
					endedBy = "silence"
					break
				}
				tick, tickTimer = e.after(c, silenceCheck)
			}
		}
	}
	c.Listen(nil)
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
