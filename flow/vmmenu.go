package flow

import (
	"errors"

	"go.uber.org/zap"

	"github.com/switchboard-voip/switchboard/history"
	"github.com/switchboard-voip/switchboard/media"
	"github.com/switchboard-voip/switchboard/media/mailbox"
	"github.com/switchboard-voip/switchboard/media/prompts"
	"github.com/switchboard-voip/switchboard/routing"
)

// voicemailMenu lets a user hear their new messages (*97): after each, 1 repeats it, 7 deletes
// it, 9 saves it, # goes to the next. A message that has been played is marked heard.
func (e *Engine) voicemailMenu(c Call, plan *routing.Plan) {
	if e.o.Voicemail == nil {
		c.Refuse(routing.NotFound)
		return
	}
	c.SetOutcome(history.Feature, "")
	if err := c.Answer(); err != nil {
		c.Log().Warn("voicemail menu not answered", zap.Error(err))
		return
	}
	c.SetState(Voicemail, plan.Box)
	if err := e.menu(c, plan.Box); err != nil && !errors.Is(err, errGone) {
		c.Log().Info("voicemail menu ended", zap.Error(err))
	}
}

func (e *Engine) menu(c Call, box string) error {
	store := e.o.Voicemail
	all, err := store.List(box)
	if err != nil {
		return err
	}
	var fresh []mailbox.Message
	for i := len(all) - 1; i >= 0; i-- { // oldest first: messages are heard in the order they came
		if !all[i].Heard {
			fresh = append(fresh, all[i])
		}
	}
	intro := []string{prompts.NoNewMessages}
	if n := len(fresh); n > 0 {
		word := prompts.NewMessages
		if n == 1 {
			word = prompts.NewMessage
		}
		intro = append(append([]string{prompts.YouHave}, prompts.Number(n)...), word)
	}
	if _, err := e.play(c, promptSource(intro...), false); err != nil {
		return err
	}
	for i := 0; i < len(fresh); {
		m := fresh[i]
		path, err := store.Path(box, m.ID)
		if err != nil {
			i++
			continue
		}
		audio, err := media.LoadWAV(path)
		if err != nil {
			c.Log().Warn("message not playable", zap.String("id", m.ID), zap.Error(err))
			i++
			continue
		}
		d, err := e.play(c, media.Sequence(media.Samples(audio), promptSource(prompts.VoicemailMenu)), true)
		if err != nil {
			return err
		}
		if err := store.SetHeard(box, m.ID, true); err != nil {
			c.Log().Warn("message not marked heard", zap.String("id", m.ID), zap.Error(err))
		}
		if d == 0 {
			if d, err = e.waitDigit(c, digitKeepAwait); err != nil {
				return err
			}
		}
		switch d {
		case '1':
			continue
		case '7':
			if err := store.Delete(box, m.ID); err != nil {
				c.Log().Warn("message not deleted", zap.String("id", m.ID), zap.Error(err))
			}
			if _, err := e.play(c, promptSource(prompts.MessageDeleted), false); err != nil {
				return err
			}
		case '9':
			if _, err := e.play(c, promptSource(prompts.MessageSaved), false); err != nil {
				return err
			}
		}
		i++
	}
	_, err = e.play(c, promptSource(prompts.NoMoreMessages, prompts.Goodbye), false)
	return err
}
