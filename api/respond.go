package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"go.uber.org/zap"

	"github.com/switchboard-voip/switchboard/media/mailbox"
	"github.com/switchboard-voip/switchboard/presence"
)

// maxJSONBody caps request bodies read as JSON.
const maxJSONBody = 64 << 10

// errorBody is the body of every error response.
type errorBody struct {
	Error string `json:"error"`
	// Field names the request field at fault ("until", "week.mon[1]"), so a
	// page can show the problem beside it.
	Field string `json:"field,omitempty"`
}

// writeFieldError answers 400 for a bad field: the message names it.
func writeFieldError(w http.ResponseWriter, field, msg string) {
	writeJSON(w, http.StatusBadRequest, errorBody{Error: field + ": " + msg, Field: field})
}

// writeJSON writes v as the JSON body of a response with the given status.
// API answers are per user and current, so nothing may cache them.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		// Only our own response types get here; they always encode.
		panic(fmt.Sprintf("api: encoding %T: %v", v, err))
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// writeError is the one way errors are answered: {"error": msg}.
func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, errorBody{Error: msg})
}

// fail answers an error returned by a lower layer: a missing message or
// extension is 404 (see errorStatus), anything else is the server's fault,
// 500, logged with its detail (which the client does not see).
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	if status, msg, ok := errorStatus(err); ok {
		writeError(w, status, msg)
		return
	}
	s.log.Error("http request failed",
		zap.String("method", r.Method), zap.String("path", r.URL.Path), zap.Error(err))
	writeError(w, http.StatusInternalServerError, "internal error")
}

// errorStatus maps the lower layers' errors that are the client's doing to
// a status and message; ok is false for everything else (the server's
// fault).
func errorStatus(err error) (status int, msg string, ok bool) {
	switch {
	case errors.Is(err, mailbox.ErrNotFound):
		return http.StatusNotFound, "no such message", true
	case errors.Is(err, presence.ErrUnknownUser):
		return http.StatusNotFound, "no such extension", true
	case errors.Is(err, presence.ErrUnavailable):
		return http.StatusServiceUnavailable, "the status could not be saved now (the cluster's store is unreachable): try again", true
	}
	return 0, "", false
}

// decodeJSON reads the request body, at most maxJSONBody bytes, into v: one
// JSON value whose fields v knows, and nothing after it. On failure it has
// answered 400 and returns false.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxJSONBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		// One value only: anything but the end of the body is an error.
		if _, err = dec.Token(); err == io.EOF {
			err = nil
		} else if err == nil {
			err = errors.New("data after the JSON value")
		}
	}
	if err == nil {
		return true
	}
	writeError(w, http.StatusBadRequest, jsonErrorText(err))
	return false
}

// jsonErrorText says what is wrong with a request body that did not decode, in the words a
// client can act on ("bad JSON body: unknown field \"x\"").
func jsonErrorText(err error) string {
	var (
		maxErr  *http.MaxBytesError
		typeErr *json.UnmarshalTypeError
		msg     string
	)
	switch {
	case errors.As(err, &maxErr):
		msg = fmt.Sprintf("request body too large (limit %d bytes)", maxErr.Limit)
	case errors.Is(err, io.EOF):
		msg = "request body is empty; want JSON"
	case errors.As(err, &typeErr) && typeErr.Field != "":
		msg = fmt.Sprintf("bad JSON body: wrong type for %q", typeErr.Field)
	case errors.As(err, &typeErr):
		msg = "bad JSON body: unexpected " + typeErr.Value
	default:
		msg = "bad JSON body: " + strings.TrimPrefix(err.Error(), "json: ")
	}
	return msg
}

// jsonMuxErrors turns the plain-text 404 and 405 that ServeMux writes
// itself, when no pattern matches, into JSON errors (keeping the Allow
// header of a 405). Responses of matched routes pass through untouched: the
// mux sets r.Pattern on the request before calling any handler.
func jsonMuxErrors(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pw := &plainErrors{ResponseWriter: w, intercept: func(int) bool { return r.Pattern == "" }}
		mux.ServeHTTP(pw, r)
		pw.finish(false)
	})
}

// plainErrors stands between net/http code that answers errors with
// http.Error (text/plain) and the client: an error status that intercept
// accepts is held back with its text, and finish writes it as a JSON error
// instead. Anything else passes through.
type plainErrors struct {
	http.ResponseWriter
	intercept func(status int) bool

	status  int             // held-back error status, or 0
	text    strings.Builder // its text, bounded
	started bool            // a status has gone through
}

func (p *plainErrors) WriteHeader(status int) {
	if !p.started && p.status == 0 && status >= 400 && p.intercept(status) {
		p.status = status
		return
	}
	p.started = true
	p.ResponseWriter.WriteHeader(status)
}

func (p *plainErrors) Write(b []byte) (int, error) {
	if p.status != 0 {
		if room := 200 - p.text.Len(); room > 0 {
			p.text.Write(b[:min(len(b), room)])
		}
		return len(b), nil
	}
	p.started = true
	return p.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (p *plainErrors) Unwrap() http.ResponseWriter { return p.ResponseWriter }

// finish writes the held-back error, if any: with the text that came with
// it when useText is set, else with the status's standard text.
func (p *plainErrors) finish(useText bool) {
	if p.status == 0 {
		return
	}
	msg := strings.TrimSpace(p.text.String())
	if !useText || msg == "" {
		msg = strings.ToLower(http.StatusText(p.status))
	}
	p.Header().Del("Content-Disposition") // the error replaces the content
	writeError(p.ResponseWriter, p.status, msg)
}
