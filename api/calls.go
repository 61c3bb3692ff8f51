package api

import (
	"errors"
	"net/http"
	"slices"
	"time"
)

// Call states, as GET /api/v1/calls shows them.
const (
	CallRinging   = "ringing"   // phones ring; the caller hears ringing
	CallTalking   = "talking"   // caller and callee are connected
	CallHeld      = "held"      // a busy user's caller waits on hold
	CallQueued    = "queued"    // the caller waits in a call queue
	CallVoicemail = "voicemail" // the switch plays a greeting or records a message
	CallScreening = "screening" // the answering user hears who calls and chooses
)

// ErrNoSuchCall is what Calls.HangUp returns for an id that names no active call (it may
// have just ended); the API answers it with 404.
var ErrNoSuchCall = errors.New("no such call")

// Call is one active call.
type Call struct {
	ID       string    // the caller's Call-ID
	From     string    // caller ID: an extension or an outside number
	To       string    // what the caller dialled
	State    string    // one of the Call… states
	Started  time.Time // when the call arrived
	Answered time.Time // when the caller's call was answered (by a phone or the switch); zero before
	Parties  []string  // extensions taking part: the caller, if a user, and the callee once known
	Trace    []string  // the routing trace so far
}

// Calls is the switch's calls in progress; cmd adapts the SIP server to it. Its methods must
// be safe for concurrent use.
type Calls interface {
	// Active returns the calls in progress.
	Active() []Call
	// HangUp ends a call (both legs; a ringing call is cancelled) and returns once it has
	// ended or is ending. It fails with ErrNoSuchCall when id names no active call.
	HangUp(id string) error
}

// callView is a Call as JSON: answered is null until the call is answered.
type callView struct {
	ID       string     `json:"id"`
	From     string     `json:"from"`
	To       string     `json:"to"`
	State    string     `json:"state"`
	Started  time.Time  `json:"started"`
	Answered *time.Time `json:"answered"`
	Parties  []string   `json:"parties"`
	Trace    []string   `json:"trace"`
}

func toCallView(c Call) callView {
	v := callView{ID: c.ID, From: c.From, To: c.To, State: c.State, Started: c.Started.UTC(),
		Parties: c.Parties, Trace: c.Trace}
	if !c.Answered.IsZero() {
		a := c.Answered.UTC()
		v.Answered = &a
	}
	if v.Parties == nil {
		v.Parties = []string{}
	}
	if v.Trace == nil {
		v.Trace = []string{}
	}
	return v
}

// listCalls answers GET /api/v1/calls: the calls in progress, newest first, as a JSON array
// ([] when there are none). An admin sees every call; a user the calls they are a party to.
func (s *Server) listCalls(w http.ResponseWriter, _ *http.Request, p principal) {
	calls := slices.Clone(s.calls.Active())
	// Newest first whatever order the switch keeps them in; equal times keep its order.
	slices.SortStableFunc(calls, func(a, b Call) int { return b.Started.Compare(a.Started) })
	out := make([]callView, 0, len(calls))
	for _, c := range calls {
		if p.admin || slices.Contains(c.Parties, p.ext) {
			out = append(out, toCallView(c))
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// hangUpCall answers DELETE /api/v1/calls/{id}: 204 once the call is over. Only an admin may
// hang up calls (403 for anyone else, whether or not the call exists); an id that names no
// active call is 404.
func (s *Server) hangUpCall(w http.ResponseWriter, r *http.Request, p principal) {
	if !p.admin {
		writeError(w, http.StatusForbidden, "only an admin may hang up calls")
		return
	}
	err := s.calls.HangUp(r.PathValue("id"))
	if errors.Is(err, ErrNoSuchCall) {
		writeError(w, http.StatusNotFound, "no such call")
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}
