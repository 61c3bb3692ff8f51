package sip

import (
	"slices"
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
	answeredAt time.Time // the caller got a 2xx (a phone's, or the switch's own)
	progressAt time.Time // the caller got its first ringing, progress or final response
	heldFrom   time.Time
	held       time.Duration
	via        string
	trace      []string
	skipped    []history.Skip
}

// SetOutcome implements flow.Call.
func (c *call) SetOutcome(o history.Outcome, by string) { c.setOutcome(o, by) }

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
		c.rec.talkFrom = c.s.clock.Now()
	case history.Voicemail:
		c.rec.box = by
	}
}

// Holding implements flow.Call: time spent waiting for a busy user or in a queue.
func (c *call) Holding(on bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.s.clock.Now()
	switch {
	case on && c.rec.heldFrom.IsZero():
		c.rec.heldFrom = now
	case !on && !c.rec.heldFrom.IsZero():
		c.rec.held += now.Sub(c.rec.heldFrom)
		c.rec.heldFrom = time.Time{}
	}
}

// Trace implements flow.Call.
func (c *call) Trace(lines ...string) {
	c.mu.Lock()
	c.rec.trace = append(c.rec.trace, lines...)
	c.mu.Unlock()
}

// Skipped implements flow.Call. A user passed over twice (held for, then DND) keeps the
// first reason: it is why their phone did not ring when the call came.
func (c *call) Skipped(s ...history.Skip) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range s {
		if !slices.ContainsFunc(c.rec.skipped, func(o history.Skip) bool { return o.Ext == k.Ext && o.Via == k.Via }) {
			c.rec.skipped = append(c.rec.skipped, k)
		}
	}
}

// Via implements flow.Call.
func (c *call) Via(ext string) {
	c.mu.Lock()
	c.rec.via = ext
	c.mu.Unlock()
}

// writeHistory stores the call's outcome: the one path every call takes when it is over,
// refused ones included (not the part another node forwarded here: its record is there).
func (c *call) writeHistory() {
	h := c.s.opts.History
	if h == nil || c.fromNode != "" {
		return // a call another node forwarded is in that node's history, once
	}
	c.Holding(false)
	c.mu.Lock()
	r := c.rec
	c.mu.Unlock()
	r.outcome = c.outcomeOf(r.outcome)
	now := c.s.clock.Now()
	rec := history.Record{
		Started: r.started, Ended: now, From: c.callerID, To: c.dialled, Outcome: r.outcome,
		AnsweredBy: r.answeredBy, Voicemail: r.box, HeldMS: r.held.Milliseconds(), Code: r.code,
		Via: r.via, Trace: r.trace, Skipped: r.skipped,
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
