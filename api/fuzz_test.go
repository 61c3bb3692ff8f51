package api

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
)

// fuzzRoutes are the API's requests that carry a body a client chose.
var fuzzRoutes = []struct{ method, path, ctype string }{
	{"PUT", "/api/v1/presence/1002", "application/json"},
	{"POST", "/api/v1/session", "application/json"},
	{"PATCH", "/api/v1/voicemail/1001/0000000000000001", "application/json"},
	{"POST", "/api/v1/calls/abc/transfer", "application/json"},
	{"PUT", "/api/v1/users/1001/greetings/dnd", "audio/wav"},
}

// FuzzAPIBodies sends arbitrary bodies to every API request that takes one, as the admin: the
// answer is never a 5xx and the server never panics (a panic would fail the fuzzer; the
// recorder shows what a client would have seen).
func FuzzAPIBodies(f *testing.F) {
	for i := range fuzzRoutes {
		for _, b := range []string{`{"dnd": true}`, `{"dnd": false}`, `{"ext":"1001","password":"alice-secret"}`,
			`{"read": true}`, `{"to": "1003"}`, `{"dnd": "yes"}`, `[]`, `null`, `{"dnd": true, "dnd": false}`, ""} {
			f.Add(uint8(i), []byte(b))
		}
	}
	f.Add(uint8(4), []byte("RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x40\x1f\x00\x00\x80\x3e\x00\x00\x02\x00\x10\x00data\x00\x00\x00\x00"))
	f.Add(uint8(4), []byte("RIFF\xff\xff\xff\xffWAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\xa0\x0f\x00\x00\xa0\x0f\x00\x00\x01\x00\x08\x00data\xff\xff\xff\x7f"))
	e := newEnv(f)
	h := e.api.Handler()
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		r := fuzzRoutes[int(route)%len(fuzzRoutes)]
		req := httptest.NewRequest(r.method, r.path, bytes.NewReader(body))
		req.SetBasicAuth("1001", "alice-secret")
		req.Header.Set("Content-Type", r.ctype)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 && rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("%s %s with %q: %d %s", r.method, r.path, body, rec.Code, rec.Body.String())
		}
	})
}
