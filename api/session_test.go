package api

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// signIn posts credentials to /api/v1/session and returns the response
// (body read) with its cookies.
func (e *env) signIn(t *testing.T, ext, password string) (*http.Response, []byte) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"ext": ext, "password": password})
	resp, err := e.srv.Client().Post(e.srv.URL+"/api/v1/session", "application/json", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// sessionCookieOf signs in as ext and returns the session cookie.
func (e *env) sessionCookieOf(t *testing.T, ext string) *http.Cookie {
	t.Helper()
	resp, body := e.signIn(t, ext, users[ext].password)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("sign in as %s: %d %s", ext, resp.StatusCode, body)
	}
	for _, c := range resp.Cookies() {
		if c.Name == sessionCookie {
			return c
		}
	}
	t.Fatalf("sign in as %s: no %s cookie", ext, sessionCookie)
	return nil
}

// withCookie sends a request authenticated by the session cookie only.
func (e *env) withCookie(t *testing.T, c *http.Cookie, method, path, body string, header map[string]string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if c != nil {
		req.AddCookie(c)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

func TestSignInSetsASafeSessionCookie(t *testing.T) {
	e := newEnv(t)
	resp, body := e.signIn(t, "1001", "alice-secret")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	var me map[string]any
	if err := json.Unmarshal(body, &me); err != nil {
		t.Fatal(err)
	}
	if me["ext"] != "1001" || me["name"] != "Alice" || me["admin"] != true || len(me) != 3 {
		t.Errorf("sign-in body = %s, want {ext:1001, name:Alice, admin:true}", body)
	}
	raw := resp.Header.Get("Set-Cookie")
	for _, want := range []string{sessionCookie + "=", "Path=/", "HttpOnly", "SameSite=Strict", "Max-Age=43200"} {
		if !strings.Contains(raw, want) {
			t.Errorf("Set-Cookie %q lacks %q", raw, want)
		}
	}
	if strings.Contains(raw, "Secure") {
		t.Errorf("Set-Cookie %q is Secure over plain HTTP: the browser would never send it back", raw)
	}
}

func TestSessionCookieAuthenticatesTheAPI(t *testing.T) {
	e := newEnv(t)
	bob := e.sessionCookieOf(t, "1002")

	got := e.withCookie(t, bob, http.MethodGet, "/api/v1/me", "", nil)
	if got.status != http.StatusOK || strings.TrimSpace(string(got.body)) != `{"ext":"1002","name":"Bob","admin":false}` {
		t.Errorf("GET /api/v1/me with the cookie: %d %s", got.status, got.body)
	}
	// A state change with the cookie from the page's own origin works.
	got = e.withCookie(t, bob, http.MethodPut, "/api/v1/presence/1002", `{"status":"dnd"}`,
		map[string]string{"Sec-Fetch-Site": "same-origin", "Content-Type": "application/json"})
	if got.status != http.StatusOK {
		t.Errorf("PUT own presence with the cookie: %d %s", got.status, got.body)
	}
	// Permissions are the user's: not someone else's presence.
	got = e.withCookie(t, bob, http.MethodPut, "/api/v1/presence/1003", `{"status":"dnd"}`, nil)
	if got.status != http.StatusForbidden {
		t.Errorf("non-admin PUT other's presence with the cookie: %d, want 403", got.status)
	}
	// The event stream, which EventSource opens with cookies only.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.srv.URL+"/api/v1/presence/events", nil)
	req.AddCookie(bob)
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	line := make([]byte, 15)
	_, err = io.ReadFull(resp.Body, line)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || err != nil || string(line) != "event: snapshot" {
		t.Errorf("events with the cookie: %d, first bytes %q, %v", resp.StatusCode, line, err)
	}
}

func TestBadSessionCookiesAreRefused(t *testing.T) {
	e := newEnv(t)
	good := e.sessionCookieOf(t, "1002")
	parts := strings.Split(good.Value, ".")
	expired := e.api.sessions
	expired.now = func() time.Time { return time.Now().Add(-sessionTTL - time.Minute) }
	for name, value := range map[string]string{
		"garbage":            "nonsense",
		"admin flag flipped": parts[0] + ".1." + parts[2] + "." + parts[3] + "." + parts[4],
		"expiry extended":    parts[0] + "." + parts[1] + "." + strconv.FormatInt(time.Now().Add(48*time.Hour).Unix(), 10) + "." + parts[3] + "." + parts[4],
		"stamp changed":      parts[0] + "." + parts[1] + "." + parts[2] + ".x." + parts[4],
		"no stamp":           parts[0] + "." + parts[1] + "." + parts[2] + "." + parts[4],
		"other key":          newSessions().value(principal{ext: "1002"}, time.Now().Add(time.Hour)),
		"expired":            expired.value(principal{ext: "1002"}, expired.now().Add(sessionTTL)),
		"unknown user":       e.api.sessions.value(principal{ext: "1999"}, time.Now().Add(time.Hour)),
	} {
		got := e.withCookie(t, &http.Cookie{Name: sessionCookie, Value: value}, http.MethodGet, "/api/v1/me", "", nil)
		if got.status != http.StatusUnauthorized {
			t.Errorf("%s: status %d, want 401", name, got.status)
		}
		// The page must not get a Basic challenge (the browser's own
		// password dialog would pop up over it).
		if c := got.header.Get("WWW-Authenticate"); c != "" {
			t.Errorf("%s: 401 with a cookie carries WWW-Authenticate %q", name, c)
		}
	}
}

func TestSignOutClearsTheCookie(t *testing.T) {
	e := newEnv(t)
	got := e.withCookie(t, e.sessionCookieOf(t, "1002"), http.MethodDelete, "/api/v1/session", "", nil)
	if got.status != http.StatusNoContent {
		t.Fatalf("sign out: %d %s", got.status, got.body)
	}
	raw := got.header.Get("Set-Cookie")
	if !strings.Contains(raw, sessionCookie+"=;") || !strings.Contains(raw, "Max-Age=0") {
		t.Errorf("sign out Set-Cookie %q does not remove the cookie", raw)
	}
}

func TestSignInErrors(t *testing.T) {
	e := newEnv(t)
	for _, c := range []struct {
		body string
		want int
	}{
		{`{"ext":"1002","password":"wrong"}`, http.StatusUnauthorized},
		{`{"ext":"1999","password":"x"}`, http.StatusUnauthorized},
		{`{"ext":"1002"}`, http.StatusBadRequest},
		{`{"ext":"1002","password":"bob-secret","extra":1}`, http.StatusBadRequest},
		{`not json`, http.StatusBadRequest},
	} {
		r := request{method: http.MethodPost, path: "/api/v1/session", body: c.body, noAuth: true}
		got := e.call(t, r, c.want)
		if c.want == http.StatusUnauthorized && !strings.Contains(string(got.body), "wrong extension or password") {
			t.Errorf("%s: body %s, want a clear message", c.body, got.body)
		}
		if got.header.Get("Set-Cookie") != "" {
			t.Errorf("%s: a failed sign-in set a cookie", c.body)
		}
	}
	// Each wrong password is one line naming the address and the user, for fail2ban.
	if n := e.logs.FilterMessage("http sign-in failed").FilterField(zapString("user", "1999")).Len(); n != 1 {
		t.Errorf("%d log lines for the failed sign-in as 1999, want 1", n)
	}
}

// TestPageRequestsGetNoBasicChallenge: fetch, EventSource and <audio> from
// the page (Sec-Fetch-Dest other than document) get a 401 without the
// challenge; scripts and the address bar still get it.
func TestPageRequestsGetNoBasicChallenge(t *testing.T) {
	e := newEnv(t)
	for dest, want := range map[string]string{"": basicChallenge, "document": basicChallenge, "empty": "", "audio": ""} {
		h := map[string]string{}
		if dest != "" {
			h["Sec-Fetch-Dest"] = dest
		}
		got := e.withCookie(t, nil, http.MethodGet, "/api/v1/me", "", h)
		if got.status != http.StatusUnauthorized || got.header.Get("WWW-Authenticate") != want {
			t.Errorf("Sec-Fetch-Dest %q: %d with WWW-Authenticate %q, want 401 with %q",
				dest, got.status, got.header.Get("WWW-Authenticate"), want)
		}
	}
}

// TestCrossSiteRequestsWithTheCookieRefused: every state-changing method
// is refused from another site, even with a valid session cookie.
func TestCrossSiteRequestsWithTheCookieRefused(t *testing.T) {
	e := newEnv(t)
	m, _ := e.leave(t, "1002", "1003", "", 800)
	bob := e.sessionCookieOf(t, "1002")
	for _, c := range []struct{ method, path, body string }{
		{http.MethodPut, "/api/v1/presence/1002", `{"status":"dnd"}`},
		{http.MethodPatch, "/api/v1/voicemail/1002/" + m.ID, `{"heard":true}`},
		{http.MethodDelete, "/api/v1/voicemail/1002/" + m.ID, ""},
		{http.MethodPost, "/api/v1/session", `{"ext":"1002","password":"bob-secret"}`},
		{http.MethodDelete, "/api/v1/session", ""},
	} {
		for _, h := range []map[string]string{
			{"Sec-Fetch-Site": "cross-site"},
			{"Origin": "https://evil.example"},
		} {
			got := e.withCookie(t, bob, c.method, c.path, c.body, h)
			if got.status != http.StatusForbidden {
				t.Errorf("%s %s with %v: %d, want 403", c.method, c.path, h, got.status)
			}
		}
	}
	if st, _ := e.table.Get("1002"); st.DND {
		t.Error("a cross-site PUT changed the status")
	}
	if got, err := e.store.Get("1002", m.ID); err != nil || got.Heard {
		t.Errorf("a cross-site request changed the message: %+v %v", got, err)
	}
}

// TestRepeatedFailuresSlowedDown: after freeFailures wrong passwords from
// one address, attempts are refused with 429 and Retry-After, whether by
// the sign-in form or by Basic auth, and even with the right password.
func TestRepeatedFailuresSlowedDown(t *testing.T) {
	e := newEnv(t)
	// The limiter's clock runs ahead by later, so the test waits out the back-off without
	// sleeping through it.
	var later atomic.Int64
	e.api.failures.now = func() time.Time { return time.Now().Add(time.Duration(later.Load())) }
	for i := range freeFailures {
		resp, body := e.signIn(t, "1002", "guess-"+strconv.Itoa(i))
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d %s, want 401", i+1, resp.StatusCode, body)
		}
	}
	// The 21st failure makes the address wait.
	e.signIn(t, "1002", "one-more")
	resp, body := e.signIn(t, "1002", "bob-secret")
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("right password while waiting: %d %s, want 429", resp.StatusCode, body)
	}
	if ra, _ := strconv.Atoi(resp.Header.Get("Retry-After")); ra < 1 || ra > 2 {
		t.Errorf("Retry-After %q, want 1 or 2 s", resp.Header.Get("Retry-After"))
	}
	if !strings.Contains(string(body), "too many failed sign-ins") {
		t.Errorf("429 body %s", body)
	}
	e.call(t, request{path: "/api/v1/presence", ext: "1002"}, http.StatusTooManyRequests)

	// After the wait, the right password works again.
	later.Store(int64(1100 * time.Millisecond))
	e.call(t, request{path: "/api/v1/presence", ext: "1002"}, http.StatusOK)
}

func TestFailureLimiterBacksOffAndForgets(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	l := newFailureLimiter()
	l.now = func() time.Time { return now }
	for range freeFailures {
		l.fail("10.0.0.1")
	}
	if w := l.wait("10.0.0.1"); w != 0 {
		t.Fatalf("after %d failures wait %v, want 0", freeFailures, w)
	}
	var waits []time.Duration
	for range 12 {
		l.fail("10.0.0.1")
		w := l.wait("10.0.0.1")
		waits = append(waits, w)
		now = now.Add(w) // the client waits as told, then fails again
	}
	want := []time.Duration{1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300}
	for i := range want {
		if waits[i] != want[i]*time.Second {
			t.Errorf("waits = %v, want %v seconds", waits, want)
			break
		}
	}
	if w := l.wait("10.0.0.2"); w != 0 {
		t.Errorf("another address waits %v", w)
	}
	// Quiet for forgetAfter: the count starts again.
	now = now.Add(forgetAfter + time.Second)
	l.fail("10.0.0.1")
	if w := l.wait("10.0.0.1"); w != 0 {
		t.Errorf("after a quiet spell one failure costs %v", w)
	}
}

func TestFailureLimiterIsBounded(t *testing.T) {
	l := newFailureLimiter()
	for i := range maxTracked + 500 {
		l.fail("10.1." + strconv.Itoa(i/256) + "." + strconv.Itoa(i%256))
	}
	if n := l.tracked(); n > maxTracked {
		t.Errorf("tracking %d addresses, want at most %d", n, maxTracked)
	}
}

// A new password ends the sessions opened with the old one: an admin's reset signs the user
// out everywhere (whoever knew the old password too); the user signs in with the new one.
func TestPasswordResetEndsTheUsersSessions(t *testing.T) {
	e, _ := newDirEnv(t)
	bob := e.sessionCookieOf(t, "1002")
	alice := e.sessionCookieOf(t, "1001")
	if got := e.withCookie(t, bob, http.MethodGet, "/api/v1/me", "", nil); got.status != http.StatusOK {
		t.Fatalf("Bob's session before the reset: %d", got.status)
	}
	if got := e.withCookie(t, alice, http.MethodPut, "/api/v1/users/1002/password", `{"password": "bob-new-secret"}`,
		map[string]string{"Content-Type": "application/json"}); got.status != http.StatusNoContent {
		t.Fatalf("Alice resetting Bob's password: %d %s", got.status, got.body)
	}
	if got := e.withCookie(t, bob, http.MethodGet, "/api/v1/me", "", nil); got.status != http.StatusUnauthorized {
		t.Errorf("Bob's session after the reset: %d, want 401", got.status)
	}
	if got := e.withCookie(t, alice, http.MethodGet, "/api/v1/me", "", nil); got.status != http.StatusOK {
		t.Errorf("Alice's own session after resetting Bob's password: %d", got.status)
	}
	if resp, body := e.signIn(t, "1002", "bob-new-secret"); resp.StatusCode != http.StatusOK {
		t.Errorf("Bob signing in with the new password: %d %s", resp.StatusCode, body)
	}
}

// Changing one's own password on the page keeps that session (a new cookie comes with the 204)
// and ends the others.
func TestOwnPasswordChangeKeepsThisSession(t *testing.T) {
	e, _ := newDirEnv(t)
	here := e.sessionCookieOf(t, "1002")
	elsewhere := e.sessionCookieOf(t, "1002")
	got := e.withCookie(t, here, http.MethodPut, "/api/v1/users/1002/password",
		`{"current": "bob-secret", "password": "bob-new-secret"}`, map[string]string{"Content-Type": "application/json"})
	if got.status != http.StatusNoContent {
		t.Fatalf("Bob changing his password: %d %s", got.status, got.body)
	}
	var renewed *http.Cookie
	for _, c := range (&http.Response{Header: got.header}).Cookies() {
		if c.Name == sessionCookie {
			renewed = c
		}
	}
	if renewed == nil {
		t.Fatal("no new session cookie with the 204")
	}
	if got := e.withCookie(t, renewed, http.MethodGet, "/api/v1/me", "", nil); got.status != http.StatusOK {
		t.Errorf("the renewed session: %d", got.status)
	}
	if got := e.withCookie(t, elsewhere, http.MethodGet, "/api/v1/me", "", nil); got.status != http.StatusUnauthorized {
		t.Errorf("Bob's other session: %d, want 401", got.status)
	}
}
