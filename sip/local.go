package sip

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
	"go.uber.org/zap"

	"github.com/switchboard-voip/switchboard/media"
	"github.com/switchboard-voip/switchboard/media/prompts"
)

// errCallerGone means the caller hung up (or the call is being torn down) while the switch was
// talking to them.
var errCallerGone = errors.New("caller hung up")

// local is the switch's own end of a caller leg it answered itself: it plays audio to the caller
// and hears the caller's audio and digits.
type local struct {
	sess   media.Session
	stream *media.Stream
	rx     *media.Receiver
	digits chan byte // DTMF from SIP INFO; RFC 4733 digits come from rx.Digits()

	mu   sync.Mutex
	sink func(frame []int16) // where the caller's audio goes (a recording), or nil
}

// answerLocally answers the caller with the switch as the far end: its SDP answer, a paced
// outgoing stream and a receiver for the caller's audio and digits. It is a no-op when the
// switch already answered (a held caller going to voicemail).
func (c *call) answerLocally() error {
	c.mu.Lock()
	already := c.local != nil && c.localAnswered
	c.mu.Unlock()
	if already {
		return nil
	}
	if err := c.openLocal(); err != nil {
		return err
	}
	s := c.s
	c.mu.Lock()
	c.localAnswered = true
	answer := c.a.lastSDP
	c.mu.Unlock()
	s.mu.Lock()
	s.dialogs[c.a.callID] = c.a
	s.mu.Unlock()
	ok := c.a.response(c.inv, 200, "OK", answer)
	if err := c.tx.Respond(ok); err != nil {
		return fmt.Errorf("200 OK to caller: %w", err)
	}
	go c.retransmitOK(ok)
	c.onCall(c.caller)
	c.trackDialog(c.caller, "initiator", dialogConfirmed, c.inv.Recipient.User)
	c.log.Info("answered by the switch", zap.Stringer("codec", c.local.sess.Codec))
	return nil
}

// announceThenReject plays a greeting as early media (183 Session Progress), then ends the
// call with the plan's failure: "the person you are calling is not available", then 480.
func (c *call) announceThenReject(src media.Source, code int, reason string) {
	if err := c.openLocal(); err != nil {
		c.respond(code, reason, nil)
		return
	}
	c.a.mu.Lock()
	answer := c.a.lastSDP
	c.a.mu.Unlock()
	if err := c.tx.Respond(c.a.response(c.inv, 183, "Session Progress", answer)); err != nil {
		c.endLocal(true)
		return
	}
	done := c.local.stream.Play(src)
	select {
	case <-done:
	case <-c.cancelled:
	case <-c.ctx.Done():
	}
	c.endLocal(true) // no dialog was confirmed: nothing to BYE
	c.respond(code, reason, nil)
}

// openLocal prepares the switch's own media for the caller's leg (the SDP answer, the stream
// and the receiver); the caller decides whether it goes out in a 183 or a 200.
func (c *call) openLocal() error {
	s := c.s
	c.mu.Lock()
	relay, lcOld := c.relay, c.local
	c.relay = nil
	c.mu.Unlock()
	if lcOld != nil {
		return nil
	}
	if relay != nil {
		relay.Stop() // early media from a phone: the receiver reads this endpoint from now on
	}
	answer, sess, err := media.AnswerOffer(c.inv.Body(), s.opts.MediaAddr, c.epA.Port(), c.a.origin)
	if err != nil {
		code, reason := mediaError(err)
		c.respond(code, reason, nil)
		return fmt.Errorf("answer caller: %w", err)
	}
	c.epA.SetRemote(sess.Remote)
	lc := &local{sess: sess, digits: make(chan byte, 16)}
	lc.stream = s.pacer.NewStream(c.epA, sess)
	lc.rx = media.NewReceiver(c.epA, sess)
	lc.rx.Inactive(s.opts.RTPTimeout)
	c.a.mu.Lock()
	c.a.lastSDP = answer
	c.a.mu.Unlock()
	c.mu.Lock()
	c.local = lc
	c.mu.Unlock()
	lc.rx.Start(s.ctx, lc.onAudio)
	return nil
}

func (lc *local) onAudio(frame []int16) {
	lc.mu.Lock()
	if lc.sink != nil {
		lc.sink(frame)
	}
	lc.mu.Unlock()
}

// setSink routes the caller's audio; nil stops it. When setSink returns, the old sink is no
// longer being called.
func (lc *local) setSink(f func(frame []int16)) {
	lc.mu.Lock()
	lc.sink = f
	lc.mu.Unlock()
}

// endLocal stops the switch's media and hangs up the caller unless they already left.
func (c *call) endLocal(callerGone bool) {
	c.mu.Lock()
	lc := c.local
	c.mu.Unlock()
	if lc != nil {
		lc.setSink(nil)
		lc.rx.Stop()
		lc.stream.Close()
	}
	c.mu.Lock()
	answered := c.localAnswered
	c.mu.Unlock()
	if !answered {
		return // only early media: there is no dialog to end
	}
	if !callerGone {
		c.bye(c.a)
	}
}

// play sends src to the caller and waits for it to end. With interruptible, a digit stops it
// early and is returned. It fails with errCallerGone when the caller hangs up, the media stops
// or the switch shuts down.
func (c *call) play(src media.Source, interruptible bool) (byte, error) {
	lc := c.local
	done := lc.stream.Play(src)
	for {
		select {
		case <-done:
			return 0, nil
		case d := <-lc.digits:
			if interruptible {
				lc.stream.Play(nil)
				return d, nil
			}
		case d := <-lc.rx.Digits():
			if interruptible {
				lc.stream.Play(nil)
				return d, nil
			}
		case <-c.callerGone:
			return 0, errCallerGone
		case <-lc.rx.Inactive(0):
			return 0, fmt.Errorf("%w: no media", errCallerGone)
		case <-c.ctx.Done():
			return 0, fmt.Errorf("%w: shutting down", errCallerGone)
		}
	}
}

// waitDigit waits up to d for the caller to press a key; 0 means none was pressed.
func (c *call) waitDigit(d time.Duration) (byte, error) {
	lc := c.local
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return 0, nil
	case d := <-lc.digits:
		return d, nil
	case d := <-lc.rx.Digits():
		return d, nil
	case <-c.callerGone:
		return 0, errCallerGone
	case <-lc.rx.Inactive(0):
		return 0, fmt.Errorf("%w: no media", errCallerGone)
	case <-c.ctx.Done():
		return 0, fmt.Errorf("%w: shutting down", errCallerGone)
	}
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

// dtmfFromInfo reads the digit of a SIP INFO DTMF relay body ("Signal=5\r\nDuration=160") or an
// application/dtmf body ("5").
func dtmfFromInfo(contentType string, body []byte) (byte, bool) {
	text := strings.TrimSpace(string(body))
	if strings.HasPrefix(strings.ToLower(contentType), "application/dtmf-relay") {
		for _, line := range strings.Split(text, "\n") {
			k, v, ok := strings.Cut(line, "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "signal") {
				text = strings.TrimSpace(v)
				break
			}
		}
	}
	if len(text) != 1 {
		return 0, false
	}
	d := text[0]
	switch {
	case d >= '0' && d <= '9', d == '*', d == '#':
		return d, true
	case d >= 'A' && d <= 'D':
		return d, true
	case d >= 'a' && d <= 'd':
		return d - 'a' + 'A', true
	}
	return 0, false
}

// onLocalInfo takes DTMF sent as SIP INFO on a leg the switch answered itself.
func (c *call) onLocalInfo(req *sip.Request) bool {
	c.mu.Lock()
	lc := c.local
	c.mu.Unlock()
	if lc == nil {
		return false
	}
	ct := ""
	if h := req.ContentType(); h != nil {
		ct = h.Value()
	}
	if d, ok := dtmfFromInfo(ct, req.Body()); ok {
		select {
		case lc.digits <- d:
		default:
		}
	}
	return true
}

// reanswerLocally answers a re-INVITE (hold, resume, new address) on a leg the switch answered
// itself. It reports false when the leg is bridged instead.
func (c *call) reanswerLocally(l *leg, req *sip.Request, tx sip.ServerTransaction) bool {
	c.mu.Lock()
	lc := c.local
	c.mu.Unlock()
	if lc == nil || l.side != sideA {
		return false
	}
	answer, sess, err := media.AnswerOffer(req.Body(), c.s.opts.MediaAddr, c.epA.Port(), l.origin)
	if err != nil {
		code, reason := mediaError(err)
		_ = tx.Respond(l.response(req, code, reason, nil))
		return true
	}
	c.epA.SetRemote(sess.Remote)
	l.mu.Lock()
	l.lastSDP = answer
	l.mu.Unlock()
	_ = tx.Respond(l.response(req, 200, "OK", answer))
	return true
}
