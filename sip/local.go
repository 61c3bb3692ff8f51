package sip

import (
	"fmt"
	"strings"
	"sync"

	"github.com/emiago/sipgo/sip"
	"go.uber.org/zap"

	"github.com/switchboard-voip/switchboard/flow"
	"github.com/switchboard-voip/switchboard/media"
)

// local is the switch's own end of a caller leg it answered itself: it plays audio to the caller
// and hears the caller's audio and digits.
type local struct {
	sess   media.Session
	stream *media.Stream
	rx     *media.Receiver
	stop   chan struct{} // ends the digit pump
	rxDone bool

	mu   sync.Mutex
	sink func(frame []int16) // where the caller's audio goes (a recording), or nil
}

// Answer implements flow.Call: the switch answers the caller as the far end, with its SDP
// answer, a paced outgoing stream and a receiver for the caller's audio and digits.
func (c *call) Answer() error {
	if c.answered {
		return nil
	}
	if err := c.openLocal(); err != nil {
		return err
	}
	c.s.addDialog(c.a)
	ok := c.a.response(c.inv, 200, "OK", c.a.getLastSDP())
	c.markAnswered()
	if err := c.respondOK(ok); err != nil {
		c.callerGone = true
		return fmt.Errorf("200 OK to caller: %w", err)
	}
	c.s.wg.Add(1)
	go c.retransmitOK(c.a, c.tx, ok)
	c.onCall(c.caller)
	c.trackDialog(c.caller, "initiator", dialogConfirmed, c.dialled)
	c.log.Info("answered by the switch", zap.Stringer("codec", c.local.sess.Codec))
	return nil
}

// EarlyMedia implements flow.Call: the switch's media goes to the caller in a 183 Session
// Progress; no dialog is confirmed.
func (c *call) EarlyMedia() error {
	if c.answered {
		return nil // a transferred caller hears the switch already
	}
	if err := c.openLocal(); err != nil {
		return err
	}
	c.noteProgress()
	if err := c.tx.Respond(c.a.response(c.inv, 183, "Session Progress", c.a.getLastSDP())); err != nil {
		return fmt.Errorf("183 to caller: %w", err)
	}
	return nil
}

// openLocal prepares the switch's own media for the caller's leg (the SDP answer, the stream and
// the receiver), once.
func (c *call) openLocal() error {
	if c.local != nil {
		return nil
	}
	s := c.s
	if c.relay != nil {
		c.relay.Stop() // early media from a phone: the receiver reads this endpoint from now on
		c.relay = nil
	}
	answer, sess, err := media.AnswerOffer(c.offer, s.opts.MediaAddr, c.epA.Port(), c.a.origin)
	if err != nil {
		c.end(endingOfMedia(err))
		return fmt.Errorf("answer caller: %w", err)
	}
	c.a.setLastSDP(answer)
	c.a.setAnswer(answer)
	c.startLocal(sess)
	return nil
}

// startLocal starts the switch's own media on the caller's endpoint in session sess: a paced
// stream to the caller, a receiver for their audio and digits.
func (c *call) startLocal(sess media.Session) {
	s := c.s
	c.epA.SetRemote(sess.Remote)
	lc := &local{sess: sess, stop: make(chan struct{})}
	lc.stream = s.pacer.NewStream(c.epA, sess)
	lc.rx = media.NewReceiver(c.epA, sess)
	lc.rx.Inactive(s.opts.RTPTimeout)
	c.local = lc
	lc.rx.Start(s.ctx, lc.onAudio)
	go c.pumpDigits(lc.rx, lc.stop, false)
}

// pumpDigits posts a receiver's RFC 4733 digits (and, for the caller, the loss of their
// media) to the call until stop is closed or the call is over.
func (c *call) pumpDigits(rx *media.Receiver, stop <-chan struct{}, fromParty bool) {
	inactive := rx.Inactive(0)
	if fromParty {
		inactive = nil
	}
	for {
		select {
		case d := <-rx.Digits():
			c.mail.post(flow.Digit{Key: d, FromParty: fromParty})
		case <-inactive:
			c.mail.post(flow.MediaLost{})
			return
		case <-stop:
			return
		case <-c.done:
			return
		}
	}
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

// stopReceiving ends the receiver and its digit pump (the relay takes the endpoint over).
func (lc *local) stopReceiving() {
	if lc.rxDone {
		return
	}
	lc.rxDone = true
	close(lc.stop)
	lc.rx.Stop()
}

// endLocal stops the switch's media towards the caller.
func (c *call) endLocal() {
	lc := c.local
	if lc == nil {
		return
	}
	lc.setSink(nil)
	lc.stopReceiving()
	lc.stream.Close()
}

// Play implements flow.Call.
func (c *call) Play(src media.Source) uint64 {
	c.plays++
	id := c.plays
	if c.local == nil {
		c.log.Error("play without the switch's media; answer first")
		c.mail.post(flow.PlayDone{ID: id})
		return id
	}
	done := c.local.stream.Play(src)
	if src != nil {
		go c.whenDone(done, flow.PlayDone{ID: id})
	}
	return id
}

// Listen implements flow.Call.
func (c *call) Listen(sink func(frame []int16)) {
	if c.local != nil {
		c.local.setSink(sink)
	}
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

// reanswerLocally answers a re-INVITE (hold, resume, new address) on the caller's leg while the
// switch is its far end.
func (c *call) reanswerLocally(l *leg, req *sip.Request, tx sip.ServerTransaction) {
	answer, sess, err := media.AnswerOffer(req.Body(), c.s.opts.MediaAddr, c.epA.Port(), l.origin)
	if err != nil {
		code, reason := mediaError(err)
		_ = tx.Respond(l.response(req, code, reason, nil))
		return
	}
	c.epA.SetRemote(sess.Remote)
	l.setLastSDP(answer)
	l.setAnswer(answer)
	_ = tx.Respond(l.response(req, 200, "OK", answer))
}
