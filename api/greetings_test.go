package api

import (
	"bytes"
	"encoding/binary"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchboard-voip/switchboard/media"
	"github.com/switchboard-voip/switchboard/media/greeting"
)

// newGreetingEnv is newEnv with a greeting store; Bob (1002) has a
// configured no_answer greeting of 0.25 s at 16 kHz.
func newGreetingEnv(t *testing.T) (*env, *greeting.Store) {
	t.Helper()
	cfgFile := filepath.Join(t.TempDir(), "bob-na.wav")
	if err := os.WriteFile(cfgFile, toneWAV(16000, 1, 0.25), 0o600); err != nil {
		t.Fatal(err)
	}
	store, err := greeting.Open(filepath.Join(t.TempDir(), "greetings"), func(ext, kind string) string {
		if ext == "1002" && kind == greeting.NoAnswer {
			return cfgFile
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	return newEnv(t, func(o *Options) { o.Greetings = store }), store
}

func TestGreetingUploadListenReset(t *testing.T) {
	e, store := newGreetingEnv(t)
	const path = "/api/v1/users/1002/greetings/dnd"

	e.call(t, request{path: path, ext: "1002"}, http.StatusNotFound) // built-in: nothing to play
	got := e.call(t, request{path: "/api/v1/users/1002/greetings", ext: "1002"}, http.StatusOK)
	want := `[{"kind":"dnd","source":"builtin"},{"kind":"busy","source":"builtin"},{"kind":"no_answer","source":"configured"}]`
	if strings.TrimSpace(string(got.body)) != want {
		t.Errorf("list = %s, want %s", got.body, want)
	}

	// Upload 44.1 kHz stereo: stored as 8 kHz mono.
	got = e.call(t, request{method: http.MethodPut, path: path, ext: "1002", body: string(toneWAV(44100, 2, 0.5)),
		header: map[string]string{"Content-Type": "audio/wav"}}, http.StatusOK)
	if strings.TrimSpace(string(got.body)) != `{"kind":"dnd","source":"uploaded"}` {
		t.Errorf("PUT answered %s", got.body)
	}
	got = e.call(t, request{path: path, ext: "1002"}, http.StatusOK)
	if ct := got.header.Get("Content-Type"); ct != "audio/wav" {
		t.Errorf("GET Content-Type %q", ct)
	}
	if rate := binary.LittleEndian.Uint32(got.body[24:]); rate != media.SampleRate {
		t.Errorf("served rate %d", rate)
	}
	samples, err := media.ReadWAV(bytes.NewReader(got.body))
	if err != nil || len(samples) < 3900 || len(samples) > 4100 {
		t.Errorf("served greeting: %d samples, %v", len(samples), err)
	}
	if g := store.Greeting("1002", greeting.DND); len(g) != len(samples) {
		t.Errorf("callers hear %d samples, want %d", len(g), len(samples))
	}
	// Range works for an <audio> element.
	got = e.call(t, request{path: path, ext: "1002", header: map[string]string{"Range": "bytes=0-3"}}, http.StatusPartialContent)
	if string(got.body) != "RIFF" {
		t.Errorf("ranged GET = %q", got.body)
	}

	// The configured greeting is served converted too.
	got = e.call(t, request{path: "/api/v1/users/1002/greetings/no_answer", ext: "1002"}, http.StatusOK)
	if s, err := media.ReadWAV(bytes.NewReader(got.body)); err != nil || len(s) != 2000 {
		t.Errorf("configured greeting served as %d samples, %v; want 2000", len(s), err)
	}

	got = e.call(t, request{method: http.MethodDelete, path: path, ext: "1002"}, http.StatusOK)
	if strings.TrimSpace(string(got.body)) != `{"kind":"dnd","source":"builtin"}` {
		t.Errorf("DELETE answered %s", got.body)
	}
	e.call(t, request{path: path, ext: "1002"}, http.StatusNotFound)
	if g := store.Greeting("1002", greeting.DND); g != nil {
		t.Errorf("after DELETE callers hear %d samples", len(g))
	}
}

func TestGreetingUploadRefusals(t *testing.T) {
	e, store := newGreetingEnv(t)
	wav := string(toneWAV(8000, 1, 0.1))
	cases := map[string]struct {
		r    request
		want int
		msg  string
	}{
		"not audio":       {request{method: http.MethodPut, path: "/api/v1/users/1002/greetings/busy", ext: "1002", body: "hello, not a wav"}, 400, "no RIFF/WAVE header"},
		"empty body":      {request{method: http.MethodPut, path: "/api/v1/users/1002/greetings/busy", ext: "1002"}, 400, "empty"},
		"too large":       {request{method: http.MethodPut, path: "/api/v1/users/1002/greetings/busy", ext: "1002", body: "RIFF" + strings.Repeat("x", maxGreetingBody)}, 413, "too large"},
		"unknown kind":    {request{method: http.MethodPut, path: "/api/v1/users/1002/greetings/lunch", ext: "1002", body: wav}, 404, "no such greeting"},
		"someone else's":  {request{method: http.MethodPut, path: "/api/v1/users/1003/greetings/busy", ext: "1002", body: wav}, 403, ""},
		"reset other's":   {request{method: http.MethodDelete, path: "/api/v1/users/1003/greetings/busy", ext: "1002"}, 403, ""},
		"listen to other": {request{path: "/api/v1/users/1003/greetings/busy", ext: "1002"}, 403, ""},
		"unknown user":    {request{method: http.MethodPut, path: "/api/v1/users/1999/greetings/busy", ext: "1001", body: wav}, 404, ""},
		"no credentials":  {request{method: http.MethodPut, path: "/api/v1/users/1002/greetings/busy", noAuth: true, body: wav}, 401, ""},
	}
	for name, c := range cases {
		got := e.call(t, c.r, c.want)
		if !strings.Contains(string(got.body), c.msg) {
			t.Errorf("%s: body %s, want it to mention %q", name, got.body, c.msg)
		}
	}
	if g := store.Greeting("1002", greeting.Busy); g != nil {
		t.Error("a refused upload was stored")
	}
	// An admin may set anyone's.
	e.call(t, request{method: http.MethodPut, path: "/api/v1/users/1003/greetings/busy", ext: "1001", body: wav}, http.StatusOK)
	if g := store.Greeting("1003", greeting.Busy); len(g) != 800 {
		t.Errorf("admin's upload: callers hear %d samples, want 800", len(g))
	}
}

func TestNoGreetingStoreNoRoutes(t *testing.T) {
	e := newEnv(t)
	e.call(t, request{path: "/api/v1/users/1002/greetings", ext: "1002"}, http.StatusNotFound)
}
