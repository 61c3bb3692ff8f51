package sip

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/switchboard-voip/switchboard/routing"
)

// The calls in progress as the API shows them, and hanging one up from outside. A call reports
// its state as it goes (one line where it enters each state); a hang-up is a per-call context,
// derived from the server's, which every wait of the call's own goroutine watches: shutdown and
// an administrator's hang-up end a call the same way (BYE on answered legs, CANCEL to ringing
// phones), except that a caller who was never answered gets 487 for a hang-up and 503 for a
// shutdown.

// Call states, as CallInfo.State spells them.
const (
	StateRinging   = "ringing"   // phones ring; the caller hears ringing
	StateTalking   = "talking"   // the caller is bridged to a phone
	StateHeld      = "held"      // a busy user's caller on hold
	StateQueued    = "queued"    // waiting in a call queue
	StateVoicemail = "voicemail" // the switch plays a greeting, records a message or reads the box
	StateScreening = "screening" // the answering user hears who calls and chooses
)

// ErrNoSuchCall is HangUp's error for an id that names no call in progress.
var ErrNoSuchCall = errors.New("sip: no such call")

// errHungUp is the cause of a call's context when HangUp ended it.
var errHungUp = errors.New("hung up by request")

// hangUpWait bounds how long HangUp waits for the call to end: a leg's BYE waits 4 s for its
// answer at most, and both legs are hung up at once.
const hangUpWait = 8 * time.Second

// CallInfo is an active call as the API shows it.
type CallInfo struct {
	ID       string    // the caller leg's Call-ID
	From     string    // caller ID (extension or outside number)
	To       string    // what was dialled
	State    string    // ringing | talking | held | queued | voicemail | screening
	Started  time.Time // when the INVITE arrived
	Answered time.Time // zero until someone (a phone or the switch) answered the caller
	Parties  []string  // extensions taking part: the caller (if a user) and the callee once known
	Trace    []string  // the routing trace so far
}

// control is what a call shows of itself to the API, and the context that ends it.
type control struct {
	ctx  context.Context         // ends at shutdown or when the call is hung up
	stop context.CancelCauseFunc // ends ctx; the call's run releases it when the call is over

	ctlMu    sync.Mutex
	state    string    // one of the State… values; "" reads as ringing
	callees  []string  // who the caller is calling now: ringing targets, the answerer, the box
	answered time.Time // when the caller's leg was answered
}

// initControl gives the call its context; called once, before the call runs.
func (c *call) initControl() {
	c.ctx, c.stop = context.WithCancelCause(c.s.ctx)
}

// enter records that the call is now in state, with callees on the other end (the numbers
// that are not users are left out of the parties when read).
func (c *call) enter(state string, callees ...string) {
	c.ctlMu.Lock()
	defer c.ctlMu.Unlock()
	c.state = state
	c.callees = slices.Clone(callees)
	if c.answered.IsZero() && state != StateRinging && state != StateScreening {
		// Every other state has the caller's leg answered, by a phone or by the switch.
		c.answered = time.Now()
	}
}

// hungUp reports whether HangUp ended the call (rather than a shutdown).
func (c *call) hungUp() bool { return errors.Is(context.Cause(c.ctx), errHungUp) }

// respondEnded answers a caller whose ringing ended because the call was stopped: 487 as if they
// had cancelled it when it was hung up, 503 when the switch shuts down.
func (c *call) respondEnded() {
	if c.hungUp() {
		c.respond(487, "Request Terminated", nil)
		return
	}
	c.respond(503, "Service Unavailable", nil)
}

// endedPlan is what follows for a caller whose call was stopped before they were connected: the
// same final response as respondEnded gives.
func (c *call) endedPlan() routing.Plan {
	if c.hungUp() {
		return routing.Plan{Action: routing.Reject, Code: 487, Reason: "Request Terminated"}
	}
	return routing.Plan{Action: routing.Reject, Code: 503, Reason: "Service Unavailable"}
}

// info is the call as CallInfo; false when the call is over (it is being removed).
func (c *call) info() (CallInfo, bool) {
	select {
	case <-c.done:
		return CallInfo{}, false
	default:
	}
	ci := CallInfo{ID: callIDOf(c.inv), From: c.callerID, To: c.inv.Recipient.User}
	c.mu.Lock()
	ci.Started = c.rec.started
	ci.Trace = slices.Clone(c.rec.trace)
	c.mu.Unlock()
	c.ctlMu.Lock()
	ci.State = cmp.Or(c.state, StateRinging)
	ci.Answered = c.answered
	callees := c.callees
	c.ctlMu.Unlock()
	if c.caller != "" {
		ci.Parties = append(ci.Parties, c.caller)
	}
	for _, ext := range callees {
		if _, user := c.s.opts.Users.Password(ext); user && !slices.Contains(ci.Parties, ext) {
			ci.Parties = append(ci.Parties, ext)
		}
	}
	return ci, true
}

// active is a snapshot of the calls in progress.
func (s *Server) active() []*call {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*call, 0, len(s.calls))
	for c := range s.calls {
		out = append(out, c)
	}
	return out
}

// Calls returns the calls in progress, newest first.
func (s *Server) Calls() []CallInfo {
	calls := s.active()
	out := make([]CallInfo, 0, len(calls))
	for _, c := range calls {
		if ci, ok := c.info(); ok {
			out = append(out, ci)
		}
	}
	slices.SortFunc(out, func(a, b CallInfo) int {
		return cmp.Or(b.Started.Compare(a.Started), cmp.Compare(a.ID, b.ID))
	})
	return out
}

// HangUp ends the call whose caller leg has Call-ID id: phones still ringing are cancelled and a
// caller not yet answered gets 487; answered legs get BYE; the switch's own media stops. The
// call's own goroutine does all of it; HangUp signals it and waits (at most hangUpWait) for the
// call to be over. It fails with ErrNoSuchCall when no call in progress has that id.
func (s *Server) HangUp(id string) error {
	var found *call
	for _, c := range s.active() {
		if callIDOf(c.inv) == id {
			found = c
			break
		}
	}
	if found == nil {
		return fmt.Errorf("hang up %q: %w", id, ErrNoSuchCall)
	}
	found.log.Info("call hung up by request")
	found.stop(errHungUp)
	t := time.NewTimer(hangUpWait)
	defer t.Stop()
	select {
	case <-found.done:
	case <-t.C:
		found.log.Warn("hung-up call still ending", zap.Duration("after", hangUpWait))
	}
	return nil
}
