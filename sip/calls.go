package sip

import (
	"errors"
	"slices"
	"time"

	"github.com/switchboard-voip/switchboard/flow"
)

// ErrNoSuchCall: no call in progress has that id.
var ErrNoSuchCall = errors.New("sip: no such call")

// CallInfo is an active call as the API shows it.
type CallInfo struct {
	ID       string    // the caller leg's Call-ID
	From     string    // caller ID (extension or outside number)
	To       string    // what was dialled
	State    string    // ringing | talking | held | queued | voicemail | screening | menu
	Started  time.Time //
	Answered time.Time // zero until a phone (or the switch) answered the caller
	Parties  []string  // extensions taking part: the caller (if a user), callees once known
	Trace    []string  // the routing trace so far
}

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

// HangUp ends call id: a ringing caller is refused (480), an answered call gets BYE on both legs.
// The call's owner does it; HangUp only asks.
func (s *Server) HangUp(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.calls {
		if c.ID() == id {
			c.mail.post(hangupRequest{})
			return nil
		}
	}
	return ErrNoSuchCall
}

// info is the call's state for the API; it may be called from any goroutine.
func (c *call) info() CallInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.state
	if st == "" {
		st = flow.Ringing
	}
	ci := CallInfo{
		ID: c.ID(), From: c.callerID, To: c.inv.Recipient.User, State: string(st),
		Started: c.rec.started, Answered: c.rec.answeredAt, Trace: slices.Clone(c.rec.trace),
	}
	if c.caller != "" {
		ci.Parties = append(ci.Parties, c.caller)
	}
	for ext := range c.tracked {
		if ext != c.caller && !slices.Contains(ci.Parties, ext) {
			ci.Parties = append(ci.Parties, ext)
		}
	}
	if c.rec.answeredBy != "" && !slices.Contains(ci.Parties, c.rec.answeredBy) {
		ci.Parties = append(ci.Parties, c.rec.answeredBy)
	}
	slices.Sort(ci.Parties[min(1, len(ci.Parties)):])
	return ci
}
