package api

import (
	"errors"
	"net/http"

	"github.com/switchboard-voip/switchboard/presence"
)

// getHours answers GET /api/v1/users/{ext}/hours: the user's working hours
// (own, or admin); 404 when they have none.
func (s *Server) getHours(w http.ResponseWriter, r *http.Request, ext string) {
	h, ok := s.presence.Hours(ext)
	if !ok {
		writeError(w, http.StatusNotFound, "no working hours set")
		return
	}
	writeJSON(w, http.StatusOK, h)
}

// putHours answers PUT /api/v1/users/{ext}/hours with
// {"time_zone":"Europe/Berlin","week":{"mon":["09:00-17:00"],…},"holidays":["2026-12-25"]}:
// outside those hours the user is on DND "outside working hours". They apply
// at once; the user's presence is returned. Malformed hours are 400 naming
// the field ("week.mon[1]").
func (s *Server) putHours(w http.ResponseWriter, r *http.Request, ext string) {
	var h presence.Hours
	if !decodeJSON(w, r, &h) {
		return
	}
	st, err := s.presence.SetHours(ext, &h)
	var fe *presence.FieldError
	if errors.As(err, &fe) {
		writeFieldError(w, fe.Field, fe.Problem)
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toPresenceState(st))
}

// deleteHours answers DELETE /api/v1/users/{ext}/hours: the user has no
// working hours any more; their status stays as it is until they change it.
func (s *Server) deleteHours(w http.ResponseWriter, r *http.Request, ext string) {
	if _, err := s.presence.SetHours(ext, nil); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
