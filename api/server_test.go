package api

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"go.uber.org/zap/zapcore"

	"github.com/switchboard-voip/switchboard/media/mailbox"
)

func TestHealthz(t *testing.T) {
	e := newEnv(t)
	got := e.call(t, request{path: "/healthz", noAuth: true}, http.StatusOK)
	if s := strings.TrimSpace(string(got.body)); s != `{"status":"ok"}` {
		t.Errorf("body %s", s)
	}
	if ct := got.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	// Credentials, even wrong ones, do not matter there.
	e.call(t, request{path: "/healthz", ext: "1002", password: "wrong"}, http.StatusOK)
	e.call(t, request{method: http.MethodHead, path: "/healthz", noAuth: true}, http.StatusOK)
}

// TestRoutingErrorsAreJSON: ServeMux's own 404 and 405 come as JSON.
func TestRoutingErrorsAreJSON(t *testing.T) {
	e := newEnv(t)
	for _, c := range []struct {
		method, path string
		want         int
		allow        string
	}{
		{http.MethodPost, "/healthz", http.StatusMethodNotAllowed, "GET, HEAD"},
		{http.MethodPut, "/api/v1/voicemail/1002", http.StatusMethodNotAllowed, "GET, HEAD"},
		{http.MethodPost, "/api/v1/voicemail/1002/20260101T000000000Z-deadbeef", http.StatusMethodNotAllowed, "DELETE, GET, HEAD, PATCH"},
		{http.MethodGet, "/api/v1/nothing", http.StatusNotFound, ""},
		{http.MethodGet, "/api/v1/voicemail", http.StatusNotFound, ""},
		{http.MethodGet, "/api/v1/voicemail/1002/a/b", http.StatusNotFound, ""},
		{http.MethodGet, "/nothing-here", http.StatusNotFound, ""}, // GET / is the team page
	} {
		r := request{method: c.method, path: c.path, ext: "1002"}
		got := e.call(t, r, c.want)
		if got.header.Get("Allow") != c.allow {
			t.Errorf("%s %s: Allow %q, want %q", c.method, c.path, got.header.Get("Allow"), c.allow)
		}
	}
}

func TestNoVoicemailNoRoutes(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.Voicemail = nil })
	e.call(t, request{path: "/api/v1/voicemail/1002", ext: "1002"}, http.StatusNotFound)
	e.call(t, request{path: "/healthz", noAuth: true}, http.StatusOK)
}

func TestNewWithoutUsersPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("New without Users did not panic")
		}
	}()
	New(Options{})
}

// panickyVoicemail panics when box 1003 is listed.
type panickyVoicemail struct{ Voicemail }

func (p panickyVoicemail) List(box string) ([]mailbox.Message, error) {
	if box == "1003" {
		panic("boom")
	}
	return p.Voicemail.List(box)
}

func TestPanicIs500AndServerKeepsServing(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.Voicemail = panickyVoicemail{o.Voicemail} })
	for range 3 {
		got := e.call(t, request{path: "/api/v1/voicemail/1003", ext: "1003"}, http.StatusInternalServerError)
		if strings.Contains(string(got.body), "boom") {
			t.Errorf("the panic value leaked to the client: %s", got.body)
		}
		e.call(t, request{path: "/api/v1/voicemail/1002", ext: "1002"}, http.StatusOK)
	}
	panics := e.logs.FilterMessage("panic serving http request").All()
	if len(panics) != 3 {
		t.Fatalf("%d panics logged, want 3", len(panics))
	}
	p := panics[0]
	if p.Level != zapcore.ErrorLevel || p.ContextMap()["panic"] != "boom" || p.ContextMap()["ext"] != "1003" {
		t.Errorf("panic logged as %v %v", p.Level, p.ContextMap())
	}
}

func TestRequestsLoggedAtDebug(t *testing.T) {
	e := newEnv(t)
	e.call(t, request{path: "/api/v1/voicemail/1002", ext: "1001"}, http.StatusOK)
	e.call(t, request{path: "/api/v1/voicemail/1002", noAuth: true}, http.StatusUnauthorized)

	entries := e.logs.FilterMessage("http request").All()
	if len(entries) != 2 {
		t.Fatalf("%d request lines logged, want 2", len(entries))
	}
	for i, want := range []struct {
		ext    string
		status int64
	}{{"1001", 200}, {"", 401}} {
		got := entries[i]
		f := got.ContextMap()
		if got.Level != zapcore.DebugLevel || f["method"] != "GET" || f["path"] != "/api/v1/voicemail/1002" ||
			f["status"] != want.status || f["ext"] != want.ext || f["pattern"] != "GET /api/v1/voicemail/{ext}" {
			t.Errorf("request line %d: %v %v", i, got.Level, f)
		}
		if _, ok := f["duration"]; !ok {
			t.Errorf("request line %d has no duration: %v", i, f)
		}
	}
}

// TestCrossSiteWritesRefused: a page on another site cannot use the
// browser's cached Basic credentials to change anything.
func TestCrossSiteWritesRefused(t *testing.T) {
	e := newEnv(t)
	m, _ := e.leave(t, "1002", "2001", "", 800)
	path := "/api/v1/voicemail/1002/" + m.ID
	crossSite := map[string]string{"Sec-Fetch-Site": "cross-site"}
	e.call(t, request{method: http.MethodPatch, path: path, ext: "1002", body: `{"heard":true}`, header: crossSite}, http.StatusForbidden)
	e.call(t, request{method: http.MethodDelete, path: path, ext: "1002", header: map[string]string{"Origin": "https://evil.example"}}, http.StatusForbidden)
	// Reads (an <audio> element on our own page, say) and same-origin writes pass.
	e.call(t, request{path: path, ext: "1002", header: crossSite}, http.StatusOK)
	e.call(t, request{method: http.MethodPatch, path: path, ext: "1002", body: `{"heard":true}`, header: map[string]string{"Sec-Fetch-Site": "same-origin"}}, http.StatusOK)
}

// failingVoicemail fails List with a storage error, and reports an error
// from Delete after deleting (as when the record went but the file stayed).
type failingVoicemail struct{ Voicemail }

func (f failingVoicemail) List(string) ([]mailbox.Message, error) {
	return nil, errors.New("disk on fire at /secret/path")
}

func (f failingVoicemail) Delete(box, id string) error {
	if err := f.Voicemail.Delete(box, id); err != nil {
		return err
	}
	return errors.New("mailbox: deleted message but not its audio: permission denied")
}

func TestStoreErrors(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.Voicemail = failingVoicemail{o.Voicemail} })
	got := e.call(t, request{path: "/api/v1/voicemail/1002", ext: "1002"}, http.StatusInternalServerError)
	if strings.Contains(string(got.body), "secret") {
		t.Errorf("internal detail leaked to the client: %s", got.body)
	}
	if logged := e.logs.FilterMessage("http request failed").FilterLevelExact(zapcore.ErrorLevel).Len(); logged != 1 {
		t.Errorf("%d failures logged at error level, want 1", logged)
	}

	// The message is gone even though Delete complained: 204, then 404.
	m, _ := e.leave(t, "1002", "2001", "", 800)
	path := "/api/v1/voicemail/1002/" + m.ID
	e.call(t, request{method: http.MethodDelete, path: path, ext: "1002"}, http.StatusNoContent)
	e.call(t, request{method: http.MethodDelete, path: path, ext: "1002"}, http.StatusNotFound)
}
