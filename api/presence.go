package api

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/switchboard-voip/switchboard/presence"
)

// presenceState is a user's presence as the API shows it: the spec's
// fields, plus when the status last changed and the change's sequence
// number (also the id of its Server-Sent Event). It is its own type, not
// presence.State, so that a change in the presence package cannot change
// the API.
type presenceState struct {
	Ext        string    `json:"ext"`
	Name       string    `json:"name"`
	Status     string    `json:"status"` // available | busy | dnd
	DND        bool      `json:"dnd"`
	OnCall     bool      `json:"on_call"`
	Registered bool      `json:"registered"`
	Changed    time.Time `json:"changed"`
	Seq        uint64    `json:"seq"`
}

func toPresenceState(st presence.State) presenceState {
	return presenceState{
		Ext:        st.Ext,
		Name:       st.Name,
		Status:     string(st.Status),
		DND:        st.DND,
		OnCall:     st.OnCall,
		Registered: st.Registered,
		Changed:    st.Changed.UTC(),
		Seq:        st.Seq,
	}
}

// presenceList is the table's states as the API shows them, by extension;
// [] when there are none.
func presenceList(states []presence.State) []presenceState {
	out := make([]presenceState, 0, len(states))
	for _, st := range states {
		out = append(out, toPresenceState(st))
	}
	slices.SortFunc(out, func(a, b presenceState) int { return cmp.Compare(a.Ext, b.Ext) })
	return out
}

// listPresence answers GET /api/v1/presence: every user's presence, by
// extension. Any authenticated user may see the whole team.
func (s *Server) listPresence(w http.ResponseWriter, r *http.Request, _ principal) {
	writeJSON(w, http.StatusOK, presenceList(s.presence.List()))
}

// getPresence answers GET /api/v1/presence/{ext}: one user's presence, 404
// for an unknown extension.
func (s *Server) getPresence(w http.ResponseWriter, r *http.Request, _ principal) {
	st, ok := s.presence.Get(r.PathValue("ext"))
	if !ok {
		writeError(w, http.StatusNotFound, "no such extension")
		return
	}
	writeJSON(w, http.StatusOK, toPresenceState(st))
}

// statusRequest is the body of PUT /api/v1/presence/{ext}.
type statusRequest struct {
	Status *string `json:"status"`
}

// putPresence answers PUT /api/v1/presence/{ext} with body
// {"status":"available"} or {"status":"dnd"}: turns the user's DND off or
// on and returns the new presence. The table stores the change before
// SetDND returns, so a 200 means it survives a restart. "busy" follows
// calls and cannot be set; it, any other word (status words are lower
// case) and a body without "status" are 400.
func (s *Server) putPresence(w http.ResponseWriter, r *http.Request, ext string) {
	var req statusRequest
	if !decodeJSON(w, r, &req) {
		return
	}
	if req.Status == nil {
		writeError(w, http.StatusBadRequest, `body must set "status" to "available" or "dnd"`)
		return
	}
	dnd, err := presence.ParseSettable(*req.Status)
	if err != nil {
		msg := fmt.Sprintf(`status %q cannot be set; want "available" or "dnd"`, *req.Status)
		if *req.Status == string(presence.Busy) {
			msg = `status "busy" cannot be set: it follows calls; want "available" or "dnd"`
		}
		writeError(w, http.StatusBadRequest, msg)
		return
	}
	st, err := s.presence.SetDND(ext, dnd)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toPresenceState(st))
}
