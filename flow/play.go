package flow

import (
	"errors"
	"fmt"
	"time"

	"github.com/switchboard-voip/switchboard/internal/clock"
	"github.com/switchboard-voip/switchboard/media"
	"github.com/switchboard-voip/switchboard/media/prompts"
	"github.com/switchboard-voip/switchboard/routing"
)

// errGone means the caller hung up, their media stopped or the call is being stopped while the
// switch was talking to them: the flow returns and the SIP layer ends the call.
var errGone = errors.New("caller gone")

// goneErr turns a call-ending event into errGone with its reason, or nil for other events.
func goneErr(ev Event) error {
	switch ev := ev.(type) {
	case CallerGone:
		return errGone
	case MediaLost:
		return fmt.Errorf("%w: no media", errGone)
	case Stop:
		return fmt.Errorf("%w: %s", errGone, ev.Why)
	}
	return nil
}

// play sends src to the caller and waits for it to end. With interruptible, a digit stops it
// early and is returned. Other events meanwhile are not for this prompt and are dropped.
func (e *Engine) play(c Call, src media.Source, interruptible bool) (byte, error) {
	id := c.Play(src)
	for {
		ev := c.Next()
		if err := goneErr(ev); err != nil {
			return 0, err
		}
		switch ev := ev.(type) {
		case PlayDone:
			if ev.ID == id && !ev.FromParty {
				return 0, nil
			}
		case Digit:
			if interruptible && !ev.FromParty {
				c.Play(nil)
				return ev.Key, nil
			}
		}
	}
}

// waitDigit waits up to d for the caller to press a key; 0 means none was pressed.
func (e *Engine) waitDigit(c Call, d time.Duration) (byte, error) {
	dl, t := e.after(c, d)
	defer t.Stop()
	for {
		ev := c.Next()
		if err := goneErr(ev); err != nil {
			return 0, err
		}
		switch ev := ev.(type) {
		case deadline:
			if ev == dl {
				return 0, nil
			}
		case Digit:
			if !ev.FromParty {
				return ev.Key, nil
			}
		}
	}
}

// deadline is a flow's own timer event; each one is distinct, so a timer that fired just as it
// was stopped is never mistaken for a later one.
type deadline struct{ id uint64 }

// after posts a fresh deadline to c once d has passed on the call's clock.
func (e *Engine) after(c Call, d time.Duration) (deadline, clock.Timer) {
	dl := deadline{id: e.deadlines.Add(1)}
	return dl, c.After(d, dl)
}

// greeting is the one place that chooses what a caller hears for a user's greeting of a kind:
// the user's own recording when there is one, else the built-in prompt. leaveMessage says a
// voicemail beep follows, so the built-in DND and no-answer prompts invite a message.
func (e *Engine) greeting(ext, kind string, leaveMessage bool) media.Source {
	if g := e.o.Greetings; g != nil {
		if own := g.Greeting(ext, kind); len(own) > 0 {
			return media.Samples(own)
		}
	}
	switch {
	case kind == routing.GreetingBusy:
		return promptSource(prompts.Busy)
	case leaveMessage:
		return promptSource(prompts.Unavailable, prompts.LeaveMessage)
	}
	return promptSource(prompts.Unavailable)
}

// promptSource plays named built-in prompts in order.
func promptSource(names ...string) media.Source {
	srcs := make([]media.Source, 0, len(names))
	for _, n := range names {
		if pcm, ok := prompts.PCM(n); ok {
			srcs = append(srcs, media.Samples(pcm))
		}
	}
	return media.Sequence(srcs...)
}
