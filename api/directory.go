package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/switchboard-voip/switchboard/config"
	"github.com/switchboard-voip/switchboard/directory"
)

// Directory is the live directory of users, ring groups, queues and trunks that admins change
// through the API (users.go, groups.go, queueconfig.go, trunks.go); *directory.Directory
// satisfies it. Its methods must be safe for concurrent use.
type Directory interface {
	// Config is the current directory, immutable.
	Config() *config.Config
	// Update applies edit to a copy of the directory, checks the result as a config file is
	// checked (config.Problems with whole-directory paths such as "users[3].ext"), saves it
	// and makes it current; by is the extension of the admin or user making the change.
	Update(by string, edit func(*config.Directory) error) (*config.Config, error)
}

var _ Directory = (*directory.Directory)(nil)

// Edits are made on the directory's copy inside Update, so that a request's read of an entry
// and its change of it are one step: two admins editing at once cannot undo each other's
// change to another field. The errors an edit returns say how the API answers (answerEdit).

// editError is a refusal an edit makes itself: a status, the field at fault (or "") and why.
type editError struct {
	status     int
	field, msg string
}

func (e *editError) Error() string {
	if e.field == "" {
		return e.msg
	}
	return e.field + ": " + e.msg
}

// refuse is a 400 naming field.
func refuse(field, format string, args ...any) error {
	return &editError{status: http.StatusBadRequest, field: field, msg: fmt.Sprintf(format, args...)}
}

// bodyError is a request body that does not decode onto the entry (unknown field, wrong type).
type bodyError struct{ err error }

func (e *bodyError) Error() string { return jsonErrorText(e.err) }

// entryProblems are the config.Problems of an edit helper of package directory, whose paths
// are the entry's own keys ("ext", "members[1]", "groups[0]"), unlike Update's checks.
type entryProblems struct{ probs config.Problems }

func (e *entryProblems) Error() string { return e.probs.Error() }

// own marks err's config.Problems, if any, as the entry's own (entryProblems).
func own(err error) error {
	var probs config.Problems
	if errors.As(err, &probs) && len(probs) > 0 {
		return &entryProblems{probs}
	}
	return err
}

// readBody reads a JSON object body for an edit, which decodes it later onto the entry as the
// directory's copy has it (decodeOnto). On failure it has answered 400.
func readBody(w http.ResponseWriter, r *http.Request) (json.RawMessage, bool) {
	var raw json.RawMessage
	if !decodeJSON(w, r, &raw) {
		return nil, false
	}
	if t := bytes.TrimSpace(raw); len(t) == 0 || t[0] != '{' {
		writeError(w, http.StatusBadRequest, "bad JSON body: want an object")
		return nil, false
	}
	return raw, true
}

// decodeOnto decodes raw onto v, which holds the entry's current values: fields the body
// leaves out keep them. A field v does not have is an error, as in decodeJSON.
func decodeOnto(raw json.RawMessage, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return &bodyError{err}
	}
	return nil
}

// answerEdit answers a refused edit. entry is where the entry edited stands in the directory
// ("users[3]"), so that the checks' problems are shown beside its own fields ("ext"); what
// names its kind for a 404 ("user").
func (s *Server) answerEdit(w http.ResponseWriter, r *http.Request, err error, entry, what string) {
	var (
		refused *editError
		body    *bodyError
		ownErr  *entryProblems
		inUse   *directory.InUseError
	)
	switch {
	case errors.As(err, &body):
		writeError(w, http.StatusBadRequest, body.Error())
	case errors.As(err, &refused):
		writeJSON(w, refused.status, errorBody{Error: refused.Error(), Field: refused.field})
	case errors.Is(err, directory.ErrNotFound):
		writeError(w, http.StatusNotFound, "no such "+what)
	case errors.As(err, &inUse):
		writeError(w, http.StatusConflict, inUse.Error())
	case errors.As(err, &ownErr):
		writeFieldError(w, ownErr.probs[0].Path, ownErr.probs[0].Message)
	default:
		field, msg, ok := directory.Blame(err, entry)
		if !ok {
			s.fail(w, r, err)
			return
		}
		writeFieldError(w, apiField(field), msg)
	}
}

// apiField is the request field a problem of the checks is about: the API's fields are the
// file's keys, but for the password, which the file may give as its hashes instead.
func apiField(key string) string {
	switch key {
	case "ha1_md5", "ha1_sha256":
		return "password"
	}
	return key
}

// seconds is a duration as the API shows it: a number of seconds.
func seconds(d time.Duration) float64 { return d.Seconds() }

// maxSetting bounds the durations set through the API: a day is longer than anyone should
// ring or wait, and far below what would overflow.
const maxSetting = 24 * time.Hour

// duration reads a number of seconds at field: more than 0 (or 0 when zeroOK) and at most a
// day.
func duration(field string, secs float64, zeroOK bool) (time.Duration, error) {
	switch {
	case math.IsNaN(secs) || secs < 0 || secs == 0 && !zeroOK:
		if zeroOK {
			return 0, refuse(field, "want 0 or more seconds, got %v", secs)
		}
		return 0, refuse(field, "want more than 0 seconds, got %v", secs)
	case secs > maxSetting.Seconds():
		return 0, refuse(field, "want at most %v seconds (a day), got %v", maxSetting.Seconds(), secs)
	}
	return time.Duration(math.Round(secs * float64(time.Second))), nil
}

// named refuses an empty name: the team page and the phones' displays show it.
func named(name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return "", refuse("name", "must not be empty")
	}
	if len(name) > 80 {
		return "", refuse("name", "at most 80 characters")
	}
	return name, nil
}

// adminOnly wraps h for the directory's admin routes: 403 for anyone else.
func (s *Server) adminOnly(h func(http.ResponseWriter, *http.Request, principal)) http.Handler {
	return s.authed(func(w http.ResponseWriter, r *http.Request, p principal) {
		if !p.admin {
			writeError(w, http.StatusForbidden, "only an admin may do this")
			return
		}
		h(w, r, p)
	})
}

// noContent answers 204.
func noContent(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}
