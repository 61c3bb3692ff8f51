package api

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
)

// Browser sessions. The web page signs in with POST /api/v1/session and
// then authenticates with a cookie, which browsers send on their own, also
// on an EventSource, which cannot send HTTP Basic credentials.
//
// The cookie is stateless: extension, admin flag, expiry and a credential
// stamp, signed with HMAC-SHA256 under a key drawn at random when the Server
// is created, so a restart signs everybody out (the page notices: its event
// stream is refused, and it shows the sign-in form again). Users, passwords
// and roles change while the switch runs (Options.Directory): the
// directory's role counts, not the cookie's (see authed), and the stamp is a
// digest of the user's password hashes when the cookie was issued
// (credentialStamp), so a new password, set by the user or reset by an
// admin, ends every session opened with the old one. Without a directory
// they come from the config, read only at start: the stamp is empty.
const (
	sessionCookie = "switchboard_session"
	sessionTTL    = 12 * time.Hour
	sessionDomain = "switchboard session v1" // separates these MACs from any other use of the key
)

// sessions issues and verifies session cookies.
type sessions struct {
	key []byte
	now func() time.Time
}

func newSessions() sessions {
	key := make([]byte, 32)
	_, _ = rand.Read(key) // crypto/rand.Read never fails (it panics rather)
	return sessions{key: key, now: time.Now}
}

func (s sessions) mac(ext, admin, expires, stamp string) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(sessionDomain + "\x00" + ext + "\x00" + admin + "\x00" + expires + "\x00" + stamp))
	return m.Sum(nil)
}

// value is the cookie value for p, valid until expires:
// base64url(ext) "." admin "." unix-expiry "." stamp "." base64url(mac).
func (s sessions) value(p principal, expires time.Time) string {
	b64 := base64.RawURLEncoding
	ext, admin, exp := b64.EncodeToString([]byte(p.ext)), "0", strconv.FormatInt(expires.Unix(), 10)
	if p.admin {
		admin = "1"
	}
	return ext + "." + admin + "." + exp + "." + p.stamp + "." + b64.EncodeToString(s.mac(ext, admin, exp, p.stamp))
}

// verify returns the caller a cookie value names, if its signature is
// right and it has not expired.
func (s sessions) verify(v string) (principal, bool) {
	parts := strings.Split(v, ".")
	if len(parts) != 5 {
		return principal{}, false
	}
	b64 := base64.RawURLEncoding
	sig, err := b64.DecodeString(parts[4])
	if err != nil || !hmac.Equal(sig, s.mac(parts[0], parts[1], parts[2], parts[3])) {
		return principal{}, false
	}
	exp, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil || !s.now().Before(time.Unix(exp, 0)) {
		return principal{}, false
	}
	ext, err := b64.DecodeString(parts[0])
	if err != nil || (parts[1] != "0" && parts[1] != "1") {
		return principal{}, false
	}
	return principal{ext: string(ext), admin: parts[1] == "1", stamp: parts[3]}, true
}

// credentialStamp is a short digest of ext's password hashes in the live directory, which a
// session cookie carries: a changed password changes it. Without a directory passwords only
// change with a restart, which signs everybody out anyway: "". It is a hash of hashes, cut
// short, so the cookie tells nothing about the password.
func (s *Server) credentialStamp(ext string) string {
	if s.dir == nil {
		return ""
	}
	u, ok := s.dir.Config().User(ext)
	if !ok {
		return ""
	}
	sum := sha256.Sum256([]byte(sessionDomain + "\x00" + u.HA1MD5 + "\x00" + u.HA1SHA256))
	return base64.RawURLEncoding.EncodeToString(sum[:9])
}

// cookie is the session cookie for p. Secure only over TLS: Switchboard
// serves plain HTTP by default, where a Secure cookie would never come back.
func (s sessions) cookie(r *http.Request, p principal) *http.Cookie {
	expires := s.now().Add(sessionTTL).Truncate(time.Second)
	return &http.Cookie{
		Name: sessionCookie, Value: s.value(p, expires), Path: "/",
		Expires: expires, MaxAge: int(sessionTTL / time.Second),
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil,
	}
}

// clearCookie is a cookie that removes the session cookie.
func clearCookie(r *http.Request) *http.Cookie {
	return &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil}
}

// signInRequest is the body of POST /api/v1/session.
type signInRequest struct {
	Ext      string `json:"ext"`
	Password string `json:"password"`
}

// me is the body of GET /api/v1/me and of a successful sign-in.
type me struct {
	Ext   string `json:"ext"`
	Name  string `json:"name"`
	Admin bool   `json:"admin"`
}

func (s *Server) me(p principal) me {
	m := me{Ext: p.ext, Admin: p.admin}
	if s.dir != nil {
		// A user just added may not be in the presence table yet; the directory has them.
		if u, ok := s.dir.Config().User(p.ext); ok {
			m.Name = u.Name
			return m
		}
	}
	if s.presence != nil {
		if st, ok := s.presence.Get(p.ext); ok {
			m.Name = st.Name
		}
	}
	return m
}

// signIn answers POST /api/v1/session with body {"ext","password"} (the
// SIP password): 200 with the caller as GET /api/v1/me shows them and a
// session cookie; 401 for a wrong extension or password; 429 while the
// client's address has to wait after repeated failures.
func (s *Server) signIn(w http.ResponseWriter, r *http.Request) {
	var req signInRequest
	if !decodeJSON(w, r, &req) {
		return
	}
	if req.Ext == "" || req.Password == "" {
		writeError(w, http.StatusBadRequest, "enter your extension and password")
		return
	}
	addr := clientAddr(r)
	if wait := s.failures.wait(addr); wait > 0 {
		tooManyFailures(w, wait)
		return
	}
	ok, admin := s.users.Check(req.Ext, req.Password)
	if !ok {
		s.failures.fail(addr)
		// One line per failure, in the form the SIP side uses, for fail2ban.
		s.log.Warn("http sign-in failed", zap.String("source_ip", addr), zap.String("user", req.Ext))
		s.unauthorized(w, r, "wrong extension or password")
		return
	}
	p := principal{ext: req.Ext, admin: admin, stamp: s.credentialStamp(req.Ext)}
	setLoggedExt(r, p.ext)
	http.SetCookie(w, s.sessions.cookie(r, p))
	writeJSON(w, http.StatusOK, s.me(p))
}

// signOut answers DELETE /api/v1/session: 204, and the session cookie is
// removed. It needs no credentials (an expired session can sign out too).
func (s *Server) signOut(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, clearCookie(r))
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

// getMe answers GET /api/v1/me: {"ext","name","admin"} of the caller.
func (s *Server) getMe(w http.ResponseWriter, r *http.Request, p principal) {
	writeJSON(w, http.StatusOK, s.me(p))
}

// tooManyFailures answers 429 with Retry-After in whole seconds.
func tooManyFailures(w http.ResponseWriter, wait time.Duration) {
	secs := int((wait + time.Second - 1) / time.Second)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	writeError(w, http.StatusTooManyRequests,
		"too many failed sign-ins from your address; try again in "+strconv.Itoa(secs)+" s")
}
