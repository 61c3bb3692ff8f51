package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
)

// basicChallenge is the WWW-Authenticate value of every 401.
const basicChallenge = `Basic realm="switchboard"`

// principal is the authenticated caller of a request.
type principal struct {
	ext   string
	admin bool
}

// PasswordsEqual reports whether got equals want in time that depends on
// neither their contents nor their lengths (both are hashed first), for
// implementations of Users.Check.
func PasswordsEqual(want, got string) bool {
	w, g := sha256.Sum256([]byte(want)), sha256.Sum256([]byte(got))
	return subtle.ConstantTimeCompare(w[:], g[:]) == 1
}

// authed wraps h so it runs only for requests whose caller authenticate
// recognises; others get 401 with a Basic challenge.
func (s *Server) authed(h func(http.ResponseWriter, *http.Request, principal)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, reason := s.authenticate(r)
		if reason != "" {
			w.Header().Set("WWW-Authenticate", basicChallenge)
			writeError(w, http.StatusUnauthorized, reason)
			return
		}
		setLoggedExt(r, p.ext)
		h(w, r, p)
	})
}

// authenticate finds the request's caller. On failure it returns the reason
// for the 401 instead. It is the one place that knows how callers prove who
// they are: today HTTP Basic only. (A session cookie, which browsers'
// EventSource sends where it cannot send Basic, goes here as a second
// method tried before Basic.)
func (s *Server) authenticate(r *http.Request) (p principal, reason string) {
	ext, password, ok := r.BasicAuth()
	if !ok {
		return principal{}, "credentials required"
	}
	ok, admin := s.users.Check(ext, password)
	if !ok {
		return principal{}, "wrong extension or password"
	}
	return principal{ext: ext, admin: admin}, ""
}

// ownerOrAdmin wraps h for routes on one user's resources, named by the
// {ext} wildcard: after authentication, an unknown extension gets 404 and a
// caller who is neither that user nor an admin 403. h gets the extension.
//
// 404 comes before 403: which extensions exist is no secret from a logged-in
// user (presence lists them all), and it tells an admin's typo from a
// permission problem.
func (s *Server) ownerOrAdmin(h func(w http.ResponseWriter, r *http.Request, ext string)) http.Handler {
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
		h(w, r, ext)
	})
}
