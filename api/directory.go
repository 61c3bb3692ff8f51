package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
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

// entryKind describes one kind of directory entry — E as the directory holds it, V as an
// edit takes it from a request body — for what the API does alike with every kind: create an
// entry, change one, show one. What differs stays with each kind: the checks and settings of
// the apply its handlers pass (applyGroup, putUser's rules of who may change what), and what
// they do around it (a queue refusing changes while callers wait).
type entryKind[E, V any] struct {
	noun    string                       // the kind in messages: "no such group"
	path    string                       // where entry i stands in the directory: "groups[%d]"
	entries func(*config.Directory) *[]E // the kind's entries in a directory
	key     func(*E) string              // what the routes name an entry by: its ext, a trunk's name
	fresh   func() E                     // a new entry with a file's defaults
	// decode is e's values as the API takes them, with the request body raw decoded onto
	// them: fields it leaves out keep e's (decodeOnto).
	decode func(d *config.Directory, e *E, raw json.RawMessage) (V, error)
	// lookup shows cfg's entry keyed key as the API answers it; ok is false when there is none.
	lookup func(cfg *config.Config, key string) (shown any, ok bool)
}

// applyFunc checks v and sets e from it on the directory's copy d; self is e's key, "" when e
// is new. What it refuses is answered by answerEdit.
type applyFunc[E, V any] func(d *config.Directory, e *E, v V, self string) error

// onto is v with raw decoded onto it (decodeOnto): an entryKind's decode for views that
// decode as they are.
func onto[V any](v V, raw json.RawMessage) (V, error) {
	err := decodeOnto(raw, &v)
	return v, err
}

// lookupBy makes an entryKind's lookup from how a config finds an entry (by the index it
// keeps, unlike a scan of the directory) and how the API shows it.
func lookupBy[E, S any](find func(*config.Config, string) (*E, bool), show func(*E) S) func(*config.Config, string) (any, bool) {
	return func(cfg *config.Config, key string) (any, bool) {
		e, ok := find(cfg, key)
		if !ok {
			return nil, false
		}
		return show(e), true
	}
}

// views shows each entry of list, for the routes that list a kind: [] when there are none.
func views[E, S any](list []E, show func(*E) S) []S {
	out := make([]S, 0, len(list))
	for i := range list {
		out = append(out, show(&list[i]))
	}
	return out
}

// get answers GET of entry key: 200 with it, or 404.
func (k *entryKind[E, V]) get(s *Server, w http.ResponseWriter, key string) {
	shown, ok := k.lookup(s.dir.Config(), key)
	if !ok {
		writeError(w, http.StatusNotFound, "no such "+k.noun)
		return
	}
	writeJSON(w, http.StatusOK, shown)
}

// create answers POST of a new entry: the request body decoded onto a fresh entry's values
// (keys left out take a file's defaults), checked and set by apply and added last; 201 with
// the entry. Problems are 400 naming the field.
func (k *entryKind[E, V]) create(s *Server, w http.ResponseWriter, r *http.Request, p principal, apply applyFunc[E, V]) {
	raw, ok := readBody(w, r)
	if !ok {
		return
	}
	var at, key string
	cfg, err := s.dir.Update(p.ext, func(d *config.Directory) error {
		e := k.fresh()
		v, err := k.decode(d, &e, raw)
		if err != nil {
			return err
		}
		if err := apply(d, &e, v, ""); err != nil {
			return err
		}
		list := k.entries(d)
		*list = append(*list, e)
		key, at = k.key(&e), fmt.Sprintf(k.path, len(*list)-1)
		return nil
	})
	k.answer(s, w, r, http.StatusCreated, cfg, err, at, key)
}

// put answers PUT of entry key with the fields to change, decoded onto its current values
// and checked and set by apply: 200 with the entry, under its new key if it has one.
func (k *entryKind[E, V]) put(s *Server, w http.ResponseWriter, r *http.Request, p principal, key string, apply applyFunc[E, V]) {
	raw, ok := readBody(w, r)
	if !ok {
		return
	}
	var at, now string
	cfg, err := s.dir.Update(p.ext, func(d *config.Directory) error {
		e, where, err := k.find(d, key)
		if err != nil {
			return err
		}
		at = where
		v, err := k.decode(d, e, raw)
		if err != nil {
			return err
		}
		if err := apply(d, e, v, key); err != nil {
			return err
		}
		now = k.key(e)
		return nil
	})
	k.answer(s, w, r, http.StatusOK, cfg, err, at, now)
}

// find is entry key of d and where it stands there ("groups[3]"), or directory.ErrNotFound.
func (k *entryKind[E, V]) find(d *config.Directory, key string) (e *E, at string, err error) {
	list := *k.entries(d)
	i := slices.IndexFunc(list, func(e E) bool { return k.key(&e) == key })
	if i < 0 {
		return nil, "", directory.ErrNotFound
	}
	return &list[i], fmt.Sprintf(k.path, i), nil
}

// answer answers an edit of entry key, at where it stands in the directory: its refusal, or
// status with the entry as cfg, the directory after it, has it.
func (k *entryKind[E, V]) answer(s *Server, w http.ResponseWriter, r *http.Request, status int, cfg *config.Config, err error, at, key string) {
	if err != nil {
		s.answerEdit(w, r, err, at, k.noun)
		return
	}
	shown, _ := k.lookup(cfg, key)
	writeJSON(w, status, shown)
}

// removeEntry answers DELETE of an entry of the kind what names: 204 once remove, an edit of the
// directory's copy, has taken it out; its refusal as answerEdit says.
func (s *Server) removeEntry(w http.ResponseWriter, r *http.Request, p principal, what string, remove func(*config.Directory) error) {
	if _, err := s.dir.Update(p.ext, remove); err != nil {
		s.answerEdit(w, r, err, "", what)
		return
	}
	noContent(w)
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

// nameAndRing reads a ring group's or queue's name (named) and ring timeout, in seconds.
func nameAndRing(name string, ring float64) (string, time.Duration, error) {
	name, err := named(name)
	if err != nil {
		return "", 0, err
	}
	timeout, err := duration("ring_timeout", ring, false)
	return name, timeout, err
}

// extAndMembers checks a ring group's or queue's extension, free but for self's, and its
// members, at the entry's own fields ("ext", "members[1]"); a new extension gets what led to
// the old one (directory.Redirect).
func extAndMembers(d *config.Directory, ext, self string, members []string) error {
	if err := directory.ExtFree(d, ext, self); err != nil {
		return own(err)
	}
	if err := directory.Members(d, members); err != nil {
		return own(err)
	}
	if self != "" && ext != self {
		directory.Redirect(d, self, ext) // fallbacks and trunks' numbers follow a new extension
	}
	return nil
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
