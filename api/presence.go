package api

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
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
	// The DND setting: its reason and end while on; who changed it last, how
	// (a presence.Source word) and when.
	Reason string    `json:"reason,omitempty"`
	Until  time.Time `json:"until,omitzero"`
	Source string    `json:"source,omitempty"`
	By     string    `json:"by,omitempty"`
	SetAt  time.Time `json:"set_at,omitzero"`
	// Removed marks the last event of a user taken out of the directory: a
	// page drops the row. Absent otherwise.
	Removed bool `json:"removed,omitempty"`
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
		Reason:     st.Reason,
		Until:      utc(st.Until),
		Source:     string(st.Source),
		By:         st.By,
		SetAt:      utc(st.SetAt),
		Removed:    st.Removed,
	}
}

// utc is t in UTC, the zero time left zero.
func utc(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC()
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
	Reason string  `json:"reason"`
	// Until is when DND ends: an RFC 3339 time, or a duration from now ("45m", "1h30m").
	Until string `json:"until"`
}

// putPresence answers PUT /api/v1/presence/{ext} with body
// {"status":"available"} or {"status":"dnd"}, DND with an optional "reason"
// (at most 80 characters) and "until": turns the user's DND off or on and
// returns the new presence. The table stores the change, with who made it,
// before Set returns, so a 200 means it survives a restart. "busy" follows
// calls and cannot be set; it, any other word (status words are lower case),
// a body without "status", a reason too long, an end in the past, more than
// a year ahead or on "available" are 400.
func (s *Server) putPresence(w http.ResponseWriter, r *http.Request, ext string, p principal) {
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
	c := presence.Change{DND: dnd, Reason: strings.TrimSpace(req.Reason), Source: presence.SourceUser, By: p.ext}
	if p.ext != ext {
		c.Source = presence.SourceAdmin
	}
	if !dnd && (c.Reason != "" || req.Until != "") {
		writeFieldError(w, "reason", `a reason and an end time go with "dnd" only`)
		return
	}
	if req.Until != "" {
		if c.Until, err = parseUntil(req.Until, s.now()); err != nil {
			writeFieldError(w, "until", err.Error())
			return
		}
	}
	st, err := s.presence.Set(ext, c)
	if errors.Is(err, presence.ErrBadChange) {
		field := "until"
		if strings.Contains(err.Error(), "reason") {
			field = "reason"
		}
		writeFieldError(w, field, strings.TrimPrefix(err.Error(), presence.ErrBadChange.Error()+": "))
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toPresenceState(st))
}

// parseUntil reads an end time: RFC 3339, or a positive Go duration from now.
func parseUntil(text string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, text); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(text)
	if err != nil {
		return time.Time{}, fmt.Errorf(`%q is neither an RFC 3339 time nor a duration like "45m"`, text)
	}
	if d <= 0 {
		return time.Time{}, fmt.Errorf("%q is not in the future", text)
	}
	return now.Add(d), nil
}

// change is one DND change as GET /api/v1/presence/{ext}/history shows it.
type change struct {
	Status string    `json:"status"` // dnd | available
	Reason string    `json:"reason,omitempty"`
	Until  time.Time `json:"until,omitzero"`
	Source string    `json:"source,omitempty"`
	By     string    `json:"by,omitempty"`
	ByName string    `json:"by_name,omitempty"`
	At     time.Time `json:"at,omitzero"`
}

// maxChanges is the most changes one request lists.
const maxChanges = 200

// listChanges answers GET /api/v1/presence/{ext}/history?limit=N: the user's
// latest DND changes, newest first, each with who or what made it (own, or
// admin). Calls (Busy) are not there: call history has them.
func (s *Server) listChanges(w http.ResponseWriter, r *http.Request, ext string) {
	limit := 50
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxChanges {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("limit must be 1 to %d", maxChanges))
			return
		}
		limit = n
	}
	settings, err := s.presence.Changes(ext, limit)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := make([]change, 0, len(settings))
	for _, c := range settings {
		status := presence.Available
		if c.DND {
			status = presence.DND
		}
		ch := change{Status: string(status), Reason: c.Reason, Until: utc(c.Until), Source: string(c.Source), By: c.By, At: utc(c.At)}
		if st, ok := s.presence.Get(c.By); ok {
			ch.ByName = st.Name
		}
		out = append(out, ch)
	}
	writeJSON(w, http.StatusOK, out)
}
