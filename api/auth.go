package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"time"
)

// basicChallenge is the WWW-Authenticate value of every 401.
const basicChallenge = `Basic realm="switchboard"`

// principal is the authenticated caller of a request.
type principal struct {
	ext   string
	admin bool
	stamp string // a session's credentialStamp, from its cookie
}

// PasswordsEqual reports whether got equals want in time that depends on
// neither their contents nor their lengths (both are hashed first), for
// implementations of Users.Check.
func PasswordsEqual(want, got string) bool {
	w, g := sha256.Sum256([]byte(want)), sha256.Sum256([]byte(got))
	return subtle.ConstantTimeCompare(w[:], g[:]) == 1
}

// authed wraps h so it runs only for requests whose caller authenticate
// recognises; others get 401 (see unauthorized), or 429 while their
// address has to wait after repeated wrong passwords.
func (s *Server) authed(h func(http.ResponseWriter, *http.Request, principal)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, wait, reason := s.authenticate(r)
		switch {
		case wait > 0:
			tooManyFailures(w, wait)
			return
		case reason != "":
			s.unauthorized(w, r, reason)
			return
		}
		if s.dir != nil {
			// Roles change while the switch runs: a session's admin flag is the one it was
			// signed in with, the directory's is the one that counts.
			u, ok := s.dir.Config().User(p.ext)
			if !ok {
				s.unauthorized(w, r, "no such user any more; sign in again")
				return
			}
			p.admin = u.Admin
		}
		setLoggedExt(r, p.ext)
		h(w, r, p)
	})
}

// authenticate finds the request's caller. It is the one place that knows
// how callers prove who they are: a session cookie (see session.go), tried
// first, then HTTP Basic with the extension and SIP password. On failure it
// returns the reason for the 401 instead, or how long the client's address
// must wait before it may try a password again (failureLimiter).
func (s *Server) authenticate(r *http.Request) (p principal, wait time.Duration, reason string) {
	if c, err := r.Cookie(sessionCookie); err == nil && c.Value != "" {
		if p, ok := s.sessions.verify(c.Value); ok && s.users.Exists(p.ext) && p.stamp == s.credentialStamp(p.ext) {
			return p, 0, ""
		}
		if r.Header.Get("Authorization") == "" {
			return principal{}, 0, "session expired; sign in again"
		}
	}
	ext, password, ok := r.BasicAuth()
	if !ok {
		return principal{}, 0, "credentials required"
	}
	addr := clientAddr(r)
	if wait := s.failures.wait(addr); wait > 0 {
		return principal{}, wait, ""
	}
	ok, admin := s.users.Check(ext, password)
	if !ok {
		s.failures.fail(addr)
		return principal{}, 0, "wrong extension or password"
	}
	return principal{ext: ext, admin: admin}, 0, ""
}

// unauthorized answers 401 with msg. The Basic challenge goes with it for
// clients that may answer it (scripts, a browser opening an API address),
// but not for a browser page's own requests (fetch, EventSource, <audio>:
// Sec-Fetch-Dest other than "document") or requests carrying a session
// cookie: a browser would show its own password dialog over the page's
// sign-in form.
func (s *Server) unauthorized(w http.ResponseWriter, r *http.Request, msg string) {
	_, cookieErr := r.Cookie(sessionCookie)
	if dest := r.Header.Get("Sec-Fetch-Dest"); cookieErr != nil && (dest == "" || dest == "document") {
		w.Header().Set("WWW-Authenticate", basicChallenge)
	}
	writeError(w, http.StatusUnauthorized, msg)
}

// ownerOrAdmin wraps h for routes on one user's resources, named by the
// {ext} wildcard: after authentication, an unknown extension gets 404 and a
// caller who is neither that user nor an admin 403. h gets the extension.
//
// 404 comes before 403: which extensions exist is no secret from a logged-in
// user (presence lists them all), and it tells an admin's typo from a
// permission problem.
func (s *Server) ownerOrAdmin(h func(w http.ResponseWriter, r *http.Request, ext string)) http.Handler {
	return s.ownerOrAdminAs(func(w http.ResponseWriter, r *http.Request, ext string, _ principal) { h(w, r, ext) })
}

// ownerOrAdminAs is ownerOrAdmin for handlers that need to know who asks
// (to record who made a change).
func (s *Server) ownerOrAdminAs(h func(w http.ResponseWriter, r *http.Request, ext string, p principal)) http.Handler {
	return s.authed(func(w http.ResponseWriter, r *http.Request, p principal) {
		ext := r.PathValue("ext")
		if !s.users.Exists(ext) {
			writeError(w, http.StatusNotFound, "no such extension")
			return
		}
		if ext != p.ext && !p.admin {
			writeError(w, http.StatusForbidden, "only the owner or an admin may do this")
			return
		}
		h(w, r, ext, p)
	})
}
