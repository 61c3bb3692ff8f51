package api

import (
	"encoding/json"
	"net/http"
	"slices"
	"unicode/utf8"

	"github.com/switchboard-voip/switchboard/config"
	"github.com/switchboard-voip/switchboard/directory"
)

// userView is a user as /api/v1/users shows it. It never holds the password or its hashes:
// a digest HA1 answers challenges as well as the password does.
type userView struct {
	Ext             string   `json:"ext"`
	Name            string   `json:"name"`
	Admin           bool     `json:"admin"`
	Voicemail       bool     `json:"voicemail"`
	Screening       bool     `json:"screening"`
	NoAnswerTimeout float64  `json:"no_answer_timeout"` // seconds
	SRTP            string   `json:"srtp"`              // "" (the switch's media.srtp), optional, required, off
	Groups          []string `json:"groups"`            // the ring groups the user is a member of
	Queues          []string `json:"queues"`            // the queues the user is a member of
}

// userBody is what POST and PUT /api/v1/users take: a user and, to set it, a new password.
type userBody struct {
	userView
	Password string `json:"password"`
}

// Limits of a password set through the API. Phones keep it too; 8 characters is the least
// that is not guessed at once, 128 more than any phone's field holds.
const (
	minPassword = 8
	maxPassword = 128
)

// toUserView shows u, with its memberships in d's groups and queues.
func toUserView(d *config.Directory, u *config.User) userView {
	groups, queues := directory.Memberships(d, u.Ext)
	return userView{Ext: u.Ext, Name: u.Name, Admin: u.Admin, Voicemail: u.VoicemailEnabled(),
		Screening: u.Screening, NoAnswerTimeout: seconds(u.NoAnswerTimeout), SRTP: u.SRTP,
		Groups: groups, Queues: queues}
}

// userIn shows user ext of cfg; ok is false when there is none.
func userIn(cfg *config.Config, ext string) (userView, bool) {
	u, ok := cfg.User(ext)
	if !ok {
		return userView{}, false
	}
	// Memberships only reads: the config's own slices are not copied.
	return toUserView(&config.Directory{Groups: cfg.Groups, Queues: cfg.Queues}, u), true
}

// userKind is how the handlers every kind shares (entryKind) make, change and show users. An
// edit takes a userBody: the user and, to set it, a new password.
var userKind = &entryKind[config.User, userBody]{
	noun:    "user",
	path:    "users[%d]",
	entries: func(d *config.Directory) *[]config.User { return &d.Users },
	key:     func(u *config.User) string { return u.Ext },
	fresh:   config.NewUser,
	decode: func(d *config.Directory, u *config.User, raw json.RawMessage) (userBody, error) {
		return onto(userBody{userView: toUserView(d, u)}, raw) // a view of its own: decoding reuses its slices
	},
	lookup: func(cfg *config.Config, ext string) (any, bool) { return userIn(cfg, ext) },
}

// listUsers answers GET /api/v1/users (admin): every user, in directory order.
func (s *Server) listUsers(w http.ResponseWriter, _ *http.Request, _ principal) {
	cfg := s.dir.Config()
	writeJSON(w, http.StatusOK, views(cfg.Users, func(u *config.User) userView {
		v, _ := userIn(cfg, u.Ext)
		return v
	}))
}

// ownOrAdmin finds user {ext} for a route the user or an admin may use: 404 for an unknown
// extension (before 403, as ownerOrAdmin), 403 for anyone else. ok is false once answered.
func (s *Server) ownOrAdmin(w http.ResponseWriter, r *http.Request, p principal) (ext string, ok bool) {
	ext = r.PathValue("ext")
	if _, found := s.dir.Config().User(ext); !found {
		writeError(w, http.StatusNotFound, "no such user")
		return "", false
	}
	if ext != p.ext && !p.admin {
		writeError(w, http.StatusForbidden, "only the user or an admin may do this")
		return "", false
	}
	return ext, true
}

// getUser answers GET /api/v1/users/{ext}: the user (own, or admin).
func (s *Server) getUser(w http.ResponseWriter, r *http.Request, p principal) {
	ext, ok := s.ownOrAdmin(w, r, p)
	if !ok {
		return
	}
	userKind.get(s, w, ext) // 404 when removed in between
}

// createUser answers POST /api/v1/users (admin) with a user and its "password": 201 with the
// user. Keys left out take a config file's defaults. A problem is 400 naming the field: a
// taken extension ("ext"), no password, an unknown group ("groups[0]"), and so on.
func (s *Server) createUser(w http.ResponseWriter, r *http.Request, p principal) {
	userKind.create(s, w, r, p, applyNewUser)
}

// applyNewUser is createUser's apply: a new user needs a password and a free extension, and
// becomes a member of the groups and queues b names (which needs only its extension: it is
// added to the directory after).
func applyNewUser(d *config.Directory, u *config.User, b userBody, _ string) error {
	if b.Password == "" {
		return refuse("password", "required: the phone signs in with it, and the user on this page")
	}
	if err := directory.ExtFree(d, b.Ext, ""); err != nil {
		return own(err)
	}
	if err := applyUser(u, b); err != nil {
		return err
	}
	return own(directory.SetMemberships(d, u.Ext, b.Groups, b.Queues))
}

// applyUser sets u's fields from b, checking what the directory's checks do not: names,
// durations and the password's length. Ext is set as is (RenameUser does the rest).
func applyUser(u *config.User, b userBody) error {
	name, err := named(b.Name)
	if err != nil {
		return err
	}
	timeout, err := duration("no_answer_timeout", b.NoAnswerTimeout, false)
	if err != nil {
		return err
	}
	if b.Password != "" {
		if err := checkPassword("password", b.Password); err != nil {
			return err
		}
		// Update replaces it with its hashes, for the new extension if it changes.
		u.Password, u.HA1MD5, u.HA1SHA256 = b.Password, "", ""
	}
	voicemail := b.Voicemail
	u.Ext, u.Name, u.Admin, u.Voicemail, u.Screening, u.NoAnswerTimeout, u.SRTP =
		b.Ext, name, b.Admin, &voicemail, b.Screening, timeout, b.SRTP
	return nil
}

// checkPassword refuses a new password that is too short or too long.
func checkPassword(field, pw string) error {
	switch n := utf8.RuneCountInString(pw); {
	case n < minPassword:
		return refuse(field, "at least %d characters", minPassword)
	case n > maxPassword:
		return refuse(field, "at most %d characters", maxPassword)
	}
	return nil
}

// adminOnlyField is the first field a user who is not an admin may not change that b changes
// from was, or "". A user may set their own voicemail, screening and no-answer timeout; their
// extension, name, role and memberships are the admins'.
func adminOnlyField(was userView, b userBody) string {
	now := b.userView
	switch {
	case now.Ext != was.Ext:
		return "ext"
	case now.Name != was.Name:
		return "name"
	case now.Admin != was.Admin:
		return "admin"
	case now.SRTP != was.SRTP:
		return "srtp"
	case !slices.Equal(now.Groups, was.Groups):
		return "groups"
	case !slices.Equal(now.Queues, was.Queues):
		return "queues"
	case b.Password != "":
		return "password" // with the current one, through PUT /api/v1/users/{ext}/password
	}
	return ""
}

// hasAdmin reports whether d keeps an admin: without one, nobody could change the directory
// from the page again.
func hasAdmin(d *config.Directory) bool {
	return slices.ContainsFunc(d.Users, func(u config.User) bool { return u.Admin })
}

// putUser answers PUT /api/v1/users/{ext} with the fields to change (the rest keep their
// values): 200 with the user. An admin may change every field, the extension too (with a new
// "password": a digest hash is bound to the extension); the user only their voicemail,
// screening and no_answer_timeout (403 naming any other field changed). Taking away the last
// admin's role is refused (400, field "admin").
func (s *Server) putUser(w http.ResponseWriter, r *http.Request, p principal) {
	ext, ok := s.ownOrAdmin(w, r, p)
	if !ok {
		return
	}
	userKind.put(s, w, r, p, ext, func(d *config.Directory, u *config.User, b userBody, _ string) error {
		was := toUserView(d, u) // as it was: the body is decoded onto a copy, b
		if field := adminOnlyField(was, b); field != "" && !p.admin {
			return &editError{status: http.StatusForbidden, field: field,
				msg: "only an admin may change this; you may change your voicemail, screening and no-answer timeout"}
		}
		if b.Ext != ext {
			if b.Password == "" {
				return refuse("password", "a new extension needs a new password: the phone's digest password is bound to the extension")
			}
			if err := directory.ExtFree(d, b.Ext, ext); err != nil {
				return own(err)
			}
			directory.RenameUser(d, ext, b.Ext)
		}
		if err := applyUser(u, b); err != nil {
			return err
		}
		if !hasAdmin(d) {
			return refuse("admin", "%s is the last admin: make another user an admin first", ext)
		}
		return own(directory.SetMemberships(d, b.Ext, b.Groups, b.Queues))
	})
}

// deleteUser answers DELETE /api/v1/users/{ext} (admin): 204 once the user is gone from the
// directory and its groups and queues. 409 when something leads to the user (a fallback, a
// trunk's number, a group or queue it is the only member of), or it is the last admin.
func (s *Server) deleteUser(w http.ResponseWriter, r *http.Request, p principal) {
	ext := r.PathValue("ext")
	s.removeEntry(w, r, p, "user", func(d *config.Directory) error {
		if err := directory.RemoveUser(d, ext); err != nil {
			return err
		}
		if !hasAdmin(d) {
			return &editError{status: http.StatusConflict,
				msg: "user " + ext + " is the last admin: make another user an admin first"}
		}
		return nil
	})
}

// passwordBody is the body of PUT /api/v1/users/{ext}/password.
type passwordBody struct {
	Current  string `json:"current"`  // the user's own, when they change it themself
	Password string `json:"password"` // the new one
}

// putPassword answers PUT /api/v1/users/{ext}/password: 204 once the new password is the
// user's (on their phones too). The user gives their "current" one (400 naming "current"
// when it is wrong, counted as a failed sign-in); an admin resets another user's without it.
func (s *Server) putPassword(w http.ResponseWriter, r *http.Request, p principal) {
	ext, ok := s.ownOrAdmin(w, r, p)
	if !ok {
		return
	}
	var b passwordBody
	if !decodeJSON(w, r, &b) {
		return
	}
	if ext == p.ext {
		// Even an admin's own: a session left open must not be enough to take the account.
		if b.Current == "" {
			writeFieldError(w, "current", "enter your current password")
			return
		}
		addr := clientAddr(r)
		if wait := s.failures.wait(addr); wait > 0 {
			tooManyFailures(w, wait)
			return
		}
		if ok, _ := s.users.Check(ext, b.Current); !ok {
			s.failures.fail(addr)
			writeFieldError(w, "current", "this is not your current password")
			return
		}
	}
	if err := checkPassword("password", b.Password); err != nil {
		s.answerEdit(w, r, err, "", "user")
		return
	}
	var at string
	_, err := s.dir.Update(p.ext, func(d *config.Directory) error {
		u, where, err := userKind.find(d, ext)
		if err != nil {
			return err
		}
		at = where
		u.Password, u.HA1MD5, u.HA1SHA256 = b.Password, "", ""
		return nil
	})
	if err != nil {
		s.answerEdit(w, r, err, at, "user")
		return
	}
	if c, err := r.Cookie(sessionCookie); ext == p.ext && err == nil && c.Value != "" {
		// The new password ended every session opened with the old one (credentialStamp):
		// this one, where it was changed, goes on under the new.
		p.stamp = s.credentialStamp(ext)
		http.SetCookie(w, s.sessions.cookie(r, p))
	}
	noContent(w)
}
