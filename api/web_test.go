package api

import (
	"net/http"
	"strings"
	"testing"
)

func TestTeamPageServed(t *testing.T) {
	e := newEnv(t)
	for _, c := range []struct{ path, ctype, contains string }{
		{"/", "text/html; charset=utf-8", `<script src="/web/app.js"`},
		{"/web/app.js", "text/javascript; charset=utf-8", "EventSource"},
		{"/web/app.css", "text/css; charset=utf-8", "--available"},
	} {
		// No credentials needed: the page signs in itself.
		got := e.call(t, request{path: c.path, noAuth: true}, http.StatusOK)
		if ct := got.header.Get("Content-Type"); ct != c.ctype {
			t.Errorf("%s: Content-Type %q, want %q", c.path, ct, c.ctype)
		}
		if !strings.Contains(string(got.body), c.contains) {
			t.Errorf("%s: body lacks %q", c.path, c.contains)
		}
		csp := got.header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("%s: Content-Security-Policy %q", c.path, csp)
		}
		if got.header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: no nosniff", c.path)
		}
		// Revalidated with the ETag: unchanged files cost a 304.
		etag := got.header.Get("ETag")
		if etag == "" || got.header.Get("Cache-Control") != "no-cache" {
			t.Errorf("%s: ETag %q, Cache-Control %q", c.path, etag, got.header.Get("Cache-Control"))
		}
		e.call(t, request{path: c.path, noAuth: true, header: map[string]string{"If-None-Match": etag}}, http.StatusNotModified)
	}
	e.call(t, request{path: "/web/nothing.js", noAuth: true}, http.StatusNotFound)
	e.call(t, request{path: "/web/index.html", noAuth: true}, http.StatusNotFound) // only at /
	e.call(t, request{method: http.MethodPost, path: "/", noAuth: true}, http.StatusMethodNotAllowed)
}

func TestMeNeedsCredentials(t *testing.T) {
	e := newEnv(t)
	e.call(t, request{path: "/api/v1/me", noAuth: true}, http.StatusUnauthorized)
	got := e.call(t, request{path: "/api/v1/me", ext: "1001"}, http.StatusOK)
	if strings.TrimSpace(string(got.body)) != `{"ext":"1001","name":"Alice","admin":true}` {
		t.Errorf("GET /api/v1/me = %s", got.body)
	}
}
