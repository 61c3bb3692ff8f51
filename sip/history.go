package sip

import (
	"time"

	"go.uber.org/zap"

	"github.com/switchboard-voip/switchboard/history"
)

// History stores every call's outcome; history.Store implements it.
type History interface {
	Add(r history.Record) (history.Record, error)
}

// callRecord is what a call learns about its own outcome as it goes.
type callRecord struct {
	started    time.Time
	outcome    history.Outcome
	answeredBy string
	box        string
	code       int
	talkFrom   time.Time
	heldFrom   time.Time
	held       time.Duration
	via        string
	trace      []string
}

// setOutcome records how the call ended up, once: the first decisive event wins (a held caller
// who is put through is "answered", whatever happens later).
func (c *call) setOutcome(o history.Outcome, by string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rec.outcome != "" {
		return
	}
	c.rec.outcome = o
	switch o {
	case history.Answered:
		c.rec.answeredBy = by
		c.rec.talkFrom = time.Now()
	case history.Voicemail:
		c.rec.box = by
	}
}

// holdStarted and holdEnded measure time spent waiting for a busy user.
func (c *call) holdStarted() {
	c.mu.Lock()
	c.rec.heldFrom = time.Now()
	c.mu.Unlock()
}

func (c *call) holdEnded() {
	c.mu.Lock()
	if !c.rec.heldFrom.IsZero() {
		c.rec.held += time.Since(c.rec.heldFrom)
		c.rec.heldFrom = time.Time{}
	}
	c.mu.Unlock()
}

// writeHistory stores the call's outcome; called once when the call is over.
func (c *call) writeHistory() {
	h := c.s.opts.History
	if h == nil {
		return
	}
	c.holdEnded()
	c.mu.Lock()
	r := c.rec
	c.mu.Unlock()
	if r.outcome == "" {
		if c.isGone() {
			r.outcome = history.Abandoned
		} else {
			r.outcome = history.Missed
		}
	}
	now := time.Now()
	rec := history.Record{
		Started: r.started, Ended: now, From: c.callerID, To: c.inv.Recipient.User, Outcome: r.outcome,
		AnsweredBy: r.answeredBy, Voicemail: r.box, HeldMS: r.held.Milliseconds(), Code: r.code,
		Via: r.via, Trace: r.trace,
	}
	if !r.talkFrom.IsZero() {
		rec.TalkMS = now.Sub(r.talkFrom).Milliseconds()
	}
	if rec.Code != 0 && (rec.Code < 100 || rec.Code > 699) {
		rec.Code = 0
	}
	if _, err := h.Add(rec); err != nil {
		c.log.Warn("call history not stored", zap.Error(err))
	}
}
