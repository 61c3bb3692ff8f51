package sip

import (
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/switchboard-voip/switchboard/flow"
	"github.com/switchboard-voip/switchboard/history"
	"github.com/switchboard-voip/switchboard/internal/clock"
)

// A call has one owner, the goroutine that runs it. Everything that happens to the call — the
// caller's BYE, CANCEL, INFO and re-INVITE, a forked phone's answer, digits, timers, a queue's
// offer, shutdown — is posted to its mailbox, and only the owner takes events out and acts on
// them. SIP handlers never change a call; they post and return.

// mailboxLimit bounds the events waiting for a busy owner. Past it only digits are dropped (a
// flood of INFO cannot grow memory); every other event is kept, as losing a hang-up or an
// answer would leave the call wrong.
const mailboxLimit = 256

// events is a call's mailbox: its queue of events.
type events struct {
	mu     sync.Mutex
	q      []any
	closed bool
	ready  chan struct{} // holds a token while q may be non-empty
}

func newEvents() *events { return &events{ready: make(chan struct{}, 1)} }

// post queues ev; false when the call is over (the event is dropped).
func (m *events) post(ev any) bool {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return false
	}
	if _, digit := ev.(flow.Digit); digit && len(m.q) >= mailboxLimit {
		m.mu.Unlock()
		return true
	}
	m.q = append(m.q, ev)
	m.mu.Unlock()
	select {
	case m.ready <- struct{}{}:
	default:
	}
	return true
}

// pop takes the oldest event, if any.
func (m *events) pop() (any, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.q) == 0 {
		return nil, false
	}
	ev := m.q[0]
	m.q[0] = nil
	m.q = m.q[1:]
	if len(m.q) > 0 {
		select {
		case m.ready <- struct{}{}:
		default:
		}
	}
	return ev, true
}

// close drops what is left and refuses later events; it returns the dropped ones so their
// transactions can still be answered.
func (m *events) close() []any {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	left := m.q
	m.q = nil
	return left
}

// Events only the SIP layer sees.
type (
	// forkEvent is a forked INVITE's provisional or final response (or its failure).
	forkEvent struct {
		f   *fork
		res *sip.Response
		err error
	}
	// byeEvent: a BYE arrived on leg l.
	byeEvent struct{ l *leg }
	// cancelEvent: the caller sent CANCEL.
	cancelEvent struct{}
	// inDialog is an INFO or re-INVITE on one of the call's legs, for the owner to answer.
	inDialog struct {
		l   *leg
		req *sip.Request
		tx  sip.ServerTransaction
	}
	// ringTimeout ends round r's ringing.
	ringTimeout struct{ r *round }
	// ackTimeout: the caller never acknowledged our 2xx.
	ackTimeout struct{}
	// relayInactive: no media in either direction for the RTP timeout.
	relayInactive struct{}
	// hangupRequest: an administrator hung the call up, or why says who else did.
	hangupRequest struct {
		why  string
		node string // the cluster node gone with the call's other side: no BYE to its legs
	}
)

// Post implements flow.Call.
func (c *call) Post(ev flow.Event) { c.mail.post(ev) }

// After implements flow.Call.
func (c *call) After(d time.Duration, ev flow.Event) clock.Timer {
	return c.s.clock.AfterFunc(d, func() { c.mail.post(ev) })
}

// next is the one place a call waits: for its next event, or for the switch to shut down.
// Events already queued come first, so an answer that raced a shutdown is still seen.
func (c *call) next() any {
	c.releaseInvite()
	for {
		if ev, ok := c.mail.pop(); ok {
			return ev
		}
		select {
		case <-c.mail.ready:
		case <-c.s.ctx.Done():
			if ev, ok := c.mail.pop(); ok {
				return ev
			}
			return flow.Stop{Why: "shutting down"}
		}
	}
}

// Next implements flow.Call: events a flow acts on, after the SIP layer has handled its own
// (in-dialog requests, late answers) and turned SIP into call terms (BYE → CallerGone).
func (c *call) Next() flow.Event {
	if len(c.pending) > 0 {
		ev := c.pending[0]
		c.pending = c.pending[1:]
		return ev
	}
	for {
		if ev, ok := c.common(c.next()); ok {
			return ev
		}
	}
}

// common handles what the SIP layer does the same in every phase of a call, and returns the
// rest in call terms: false means the event was taken care of.
func (c *call) common(ev any) (flow.Event, bool) {
	switch ev := ev.(type) {
	case inDialog:
		c.onInDialog(ev)
		return nil, false
	case forkEvent:
		c.lateFork(ev)
		return nil, false
	case ringTimeout, ackTimeout, relayInactive:
		return nil, false // a phase that is over
	case cancelEvent:
		c.cancelled = true
		c.callerGone = true
		c.setOutcome(history.Abandoned, "")
		return flow.CallerGone{}, true
	case byeEvent:
		if ev.l == c.a {
			c.callerGone = true
			if !c.answered {
				// A BYE on the caller's early dialog (RFC 3261 §15.1) ends the call as a
				// CANCEL would: the INVITE still pending gets 487 (§15.1.2).
				c.cancelled = true
				c.setOutcome(history.Abandoned, "")
			}
			return flow.CallerGone{}, true
		}
		if c.party != nil && ev.l == c.party.leg() {
			c.party.gone = true
			return flow.PartyGone{}, true
		}
		return nil, false
	case pickupRequest:
		ev.reply <- false // nothing rings now
		return nil, false
	case referEvent, transferRequest:
		c.notBridged(ev)
		return nil, false
	case handOverRequest:
		c.notBridged(ev)
		if ev.named == c.a && c.b == nil {
			c.stopWhy = "replaced by a transfer"
			return flow.Stop{Why: c.stopWhy}, true
		}
		return nil, false
	case hangupRequest:
		c.stopWhy = "hung up by an administrator"
		if ev.why != "" {
			c.stopWhy = ev.why
		}
		c.goneNode = ev.node
		return flow.Stop{Why: c.stopWhy}, true
	case flow.Stop:
		c.stopWhy = ev.Why
		return ev, true
	}
	return ev, true
}
