package sip

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/switchboard-voip/switchboard/flow"
)

// ErrNoSuchCall: no call in progress has that id.
var ErrNoSuchCall = errors.New("sip: no such call")

// The states a call is listed in (flow.State as words).
const (
	StateRinging   = string(flow.Ringing)
	StateTalking   = string(flow.Talking)
	StateHeld      = string(flow.Held)
	StateQueued    = string(flow.Queued)
	StateVoicemail = string(flow.Voicemail)
	StateScreening = string(flow.Screening)
)

// CallInfo is an active call as the API shows it.
type CallInfo struct {
	ID       string    // the caller leg's Call-ID
	From     string    // caller ID (extension or outside number)
	To       string    // what was dialled
	State    string    // one of the State words
	Started  time.Time //
	Answered time.Time // zero until a phone (or the switch) answered the caller
	Parties  []string  // the caller (if a user), then who they are with: users rung, held for, answering
	Trace    []string  // the routing trace so far
}

// hangUpWait bounds how long HangUp waits for the call to be over (a BYE waits at most 4 s).
const hangUpWait = 8 * time.Second

// Calls returns the calls in progress, newest first.
func (s *Server) Calls() []CallInfo {
	s.mu.Lock()
	calls := make([]*call, 0, len(s.calls))
	for c := range s.calls {
		calls = append(calls, c)
	}
	s.mu.Unlock()
	out := make([]CallInfo, 0, len(calls))
	for _, c := range calls {
		out = append(out, c.info())
	}
	slices.SortFunc(out, func(a, b CallInfo) int { return b.Started.Compare(a.Started) })
	return out
}

// HangUp ends call id and returns once it is over: a ringing caller is refused (487) and the
// phones cancelled, an answered call gets BYE on both legs. The call's owner does it; HangUp
// only asks and waits.
func (s *Server) HangUp(id string) error {
	target := s.callByID(id)
	if target == nil {
		return ErrNoSuchCall
	}
	target.mail.post(hangupRequest{})
	select {
	case <-target.done:
		return nil
	case <-time.After(hangUpWait):
		return fmt.Errorf("hang up %s: still ending after %s", id, hangUpWait)
	}
}

// info is the call's state for the API; it may be called from any goroutine.
func (c *call) info() CallInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	ci := CallInfo{
		ID: c.ID(), From: c.callerID, To: c.dialled, State: string(c.state),
		Started: c.rec.started, Answered: c.rec.answeredAt, Trace: slices.Clone(c.rec.trace),
		Parties: []string{},
	}
	if ci.State == "" {
		ci.State = StateRinging
	}
	add := func(ext string) {
		if _, user := c.s.opts.Users.Secret(ext); user && !slices.Contains(ci.Parties, ext) {
			ci.Parties = append(ci.Parties, ext)
		}
	}
	add(c.caller)
	for _, ext := range c.with {
		add(ext)
	}
	if !slices.Contains(c.left, c.rec.answeredBy) {
		add(c.rec.answeredBy) // who answered first, unless they transferred the call away
	}
	return ci
}

// EndCallsOf hangs up every call user ext is on: calling, being rung, held for or talking.
// It is for a user removed from the directory, so it does not ask the directory who is a
// user. It returns how many calls it asked to end; each call's owner ends it.
func (s *Server) EndCallsOf(ext, why string) int {
	s.mu.Lock()
	calls := make([]*call, 0, len(s.calls))
	for c := range s.calls {
		calls = append(calls, c)
	}
	s.mu.Unlock()
	n := 0
	for _, c := range calls {
		if c.involves(ext) {
			c.mail.post(hangupRequest{why: why})
			n++
		}
	}
	return n
}

// involves reports whether ext is a party to the call; it may be called from any goroutine.
func (c *call) involves(ext string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.caller == ext || slices.Contains(c.with, ext) ||
		c.rec.answeredBy == ext && !slices.Contains(c.left, ext)
}
