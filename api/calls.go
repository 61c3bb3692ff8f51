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

// Errors of Calls. The API maps each to a status (see transferCall); cmd translates the SIP
// layer's own errors into these, so this package needs nothing from sip.
var (
	// ErrNoSuchCall is what Calls.HangUp and Calls.Transfer return for an id that names no
	// active call (it may have just ended); the API answers it with 404.
	ErrNoSuchCall = errors.New("no such call")
	// ErrNotParty is what Calls.Transfer returns when TransferRequest.By is not a party to the
	// call, or Keep names nobody on it.
	ErrNotParty = errors.New("not a party to the call")
	// ErrNotTransferable is what Calls.Transfer returns when the call is not connected to a
	// phone now (ringing, on hold, queued, in voicemail), so there is nobody to send on; 409.
	ErrNotTransferable = errors.New("the call cannot be transferred now")
)

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
	// Transfer sends one party of call id to t.To through the same status routing as a new
	// call and ends the other party's leg, as a phone's blind transfer does. It returns once
	// the call has taken the request (the party is on its way), or fails with ErrNoSuchCall,
	// ErrNotParty or ErrNotTransferable. The call itself decides who its parties are: the
	// API does not check t.By against Active, whose snapshot may be out of date.
	Transfer(id string, t TransferRequest) error
}

// TransferRequest is what POST /api/v1/calls/{id}/transfer asks of Calls.Transfer.
type TransferRequest struct {
	// By is the user asking, who must be a party to the call: the other party is sent on and
	// By's leg ends. "" is an administrator acting on a call they may not be part of, who
	// names the party sent on in Keep.
	By string
	// Keep is the party that stays on the call and is sent to To (only when By is "").
	Keep string
	// To is where the party goes: an extension (user, group, queue) or an outside number
	// (the trunk's outbound prefix and the number), digits only.
	To string
	// Voicemail sends the party straight to To's mailbox instead of ringing To.
	Voicemail bool
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
	s.adminRemove(w, r, p, "only an admin may hang up calls", s.calls.HangUp, ErrNoSuchCall, "no such call")
}

// adminRemove is an admin-only DELETE of the thing named by the path's {id}: 403 for anyone
// else (whether or not it exists), 404 when remove says missing, 204 once remove is done.
func (s *Server) adminRemove(w http.ResponseWriter, r *http.Request, p principal, forbidden string,
	remove func(id string) error, missing error, notFound string) {
	if !p.admin {
		writeError(w, http.StatusForbidden, forbidden)
		return
	}
	err := remove(r.PathValue("id"))
	if errors.Is(err, missing) {
		writeError(w, http.StatusNotFound, notFound)
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

// maxDialled bounds "to" and "party": an outbound prefix and an E.164 number (15 digits) fit
// easily; anything longer is not a number anyone dials.
const maxDialled = 32

// dialable reports whether s is something the switch routes: one or more ASCII digits. That
// is every extension, group and queue, and an outside number with its outbound prefix (the
// spec's Refer-To targets). Feature codes (*78, *97, *8…) and '+' are not transfer targets.
func dialable(s string) bool {
	if s == "" || len(s) > maxDialled {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// transferBody is the JSON body of POST /api/v1/calls/{id}/transfer.
type transferBody struct {
	To        string `json:"to"`        // where the party goes
	Party     string `json:"party"`     // admin only: the party that stays on the call
	Voicemail bool   `json:"voicemail"` // straight to To's mailbox
}

// transferView is the 202 answer: what the switch was asked to do.
type transferView struct {
	ID        string `json:"id"`
	To        string `json:"to"`
	Voicemail bool   `json:"voicemail"`
}

// transferCall answers POST /api/v1/calls/{id}/transfer with {"to":"EXT"} (and optionally
// "party" and "voicemail"): 202 once the call has taken the request. A party to the call sends
// the other party on and leaves; an admin names the party sent on with "party", or, being a
// party and naming none, acts as one. 400 for a bad body or target, 403 for a user who is not
// a party (or a non-admin naming a party), 404 for no such call, 409 when the call cannot be
// transferred now (not connected to a phone).
func (s *Server) transferCall(w http.ResponseWriter, r *http.Request, p principal) {
	var b transferBody
	if !decodeJSON(w, r, &b) {
		return
	}
	if !dialable(b.To) {
		writeError(w, http.StatusBadRequest, `"to" must be an extension or number: 1 to 32 digits`)
		return
	}
	if b.Party != "" && !p.admin {
		writeError(w, http.StatusForbidden, `only an admin may name the "party" to transfer`)
		return
	}
	if b.Party != "" && !dialable(b.Party) {
		writeError(w, http.StatusBadRequest, `"party" must be an extension: 1 to 32 digits`)
		return
	}
	t := TransferRequest{By: p.ext, To: b.To, Voicemail: b.Voicemail}
	if b.Party != "" {
		// The admin speaks for the switch, not as a party: whichever party is named stays.
		t.By, t.Keep = "", b.Party
	}
	id := r.PathValue("id")
	err := s.calls.Transfer(id, t)
	switch {
	case err == nil:
		writeJSON(w, http.StatusAccepted, transferView{ID: id, To: b.To, Voicemail: b.Voicemail})
	case errors.Is(err, ErrNoSuchCall):
		writeError(w, http.StatusNotFound, "no such call")
	case errors.Is(err, ErrNotParty) && b.Party != "":
		// The admin may act on any call; the name they gave is what is wrong.
		writeError(w, http.StatusBadRequest, `"party" `+b.Party+" is not on the call")
	case errors.Is(err, ErrNotParty) && p.admin:
		// Allowed, but not a party: the switch cannot tell which side to send on.
		writeError(w, http.StatusBadRequest, `you are not on the call: name the "party" that stays on it`)
	case errors.Is(err, ErrNotParty):
		writeError(w, http.StatusForbidden, "only a party to the call or an admin may transfer it")
	case errors.Is(err, ErrNotTransferable):
		writeError(w, http.StatusConflict, "the call cannot be transferred now: it is not connected to a phone")
	default:
		s.fail(w, r, err)
	}
}
