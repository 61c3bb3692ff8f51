package api

import (
	"errors"
	"net/http"
	"slices"
	"time"
)

// ErrNoSuchCallback is what Callbacks.Cancel returns for an id that names no pending callback
// (it may have just been made or given up); the API answers it with 404.
var ErrNoSuchCallback = errors.New("no such callback")

// Callback is a caller's pending request to be called back (they pressed 2 while held for a
// busy user or queued).
type Callback struct {
	ID        string    // the request's id
	Number    string    // the number called back: an extension, or an outside number
	Name      string    // the caller's name, if known
	Trunk     string    // the trunk an outside caller is called back through
	For       string    // the user (held for) or queue (waited in) who calls back
	Queue     bool      // For is a queue
	Requested time.Time // when the caller asked
	CallID    string    // the call on which they asked
	Attempts  int       // callback calls that failed so far
	NotBefore time.Time // no attempt before this (after a failed one); zero: as soon as For is free
	Dialling  bool      // a callback call is in progress
	// Parties are the users who see it: the caller, if a user, and who calls back (the user,
	// or the queue's members).
	Parties []string
}

// Callbacks is the switch's pending callbacks; cmd adapts the flows to it. Its methods must be
// safe for concurrent use.
type Callbacks interface {
	// Pending returns the pending callbacks, oldest first.
	Pending() []Callback
	// Cancel forgets a pending callback (no further attempt; a queue's leaves the line); it
	// fails with ErrNoSuchCallback when id names none.
	Cancel(id string) error
}

// callbackView is a Callback as JSON.
type callbackView struct {
	ID          string     `json:"id"`
	Number      string     `json:"number"`
	Name        string     `json:"name,omitempty"`
	Trunk       string     `json:"trunk,omitempty"`
	For         string     `json:"for"`
	Queue       bool       `json:"queue"`
	Requested   time.Time  `json:"requested"`
	CallID      string     `json:"call_id"`
	Attempts    int        `json:"attempts"`
	NextAttempt *time.Time `json:"next_attempt"` // null: as soon as "for" is free
	Dialling    bool       `json:"dialling"`
}

// listCallbacks answers GET /api/v1/callbacks: the pending callbacks, oldest first ([] when
// none). An admin sees all; a user those they asked for or are to make (theirs, their
// queues').
func (s *Server) listCallbacks(w http.ResponseWriter, _ *http.Request, p principal) {
	out := []callbackView{}
	for _, cb := range s.callbacks.Pending() {
		if !p.admin && !slices.Contains(cb.Parties, p.ext) {
			continue
		}
		v := callbackView{ID: cb.ID, Number: cb.Number, Name: cb.Name, Trunk: cb.Trunk, For: cb.For, Queue: cb.Queue,
			Requested: cb.Requested.UTC(), CallID: cb.CallID, Attempts: cb.Attempts, Dialling: cb.Dialling}
		if !cb.NotBefore.IsZero() {
			next := cb.NotBefore.UTC()
			v.NextAttempt = &next
		}
		out = append(out, v)
	}
	writeJSON(w, http.StatusOK, out)
}

// cancelCallback answers DELETE /api/v1/callbacks/{id}: 204 once forgotten. Only an admin may
// (403 otherwise, whether or not it exists); 404 for an id that names no pending callback.
func (s *Server) cancelCallback(w http.ResponseWriter, r *http.Request, p principal) {
	s.adminRemove(w, r, p, "only an admin may cancel callbacks", s.callbacks.Cancel, ErrNoSuchCallback, "no such callback")
}
