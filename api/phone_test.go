package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// fakeCreds issues credentials that say whom they are for.
type fakeCreds struct{}

func (fakeCreds) Issue(ext string, ttl time.Duration) (string, string, time.Time) {
	return ext + ".exp", "token-for-" + ext, time.Date(2026, 12, 3, 21, 0, 0, 0, time.UTC)
}

func TestPhoneSettings(t *testing.T) {
	e := newEnv(t, func(o *Options) {
		o.PhoneCredentials = fakeCreds{}
		o.PhoneWebSockets = []string{"wss://0.0.0.0:7443", "ws://127.0.0.1:5066"}
	})
	e.call(t, request{path: "/api/v1/phone", noAuth: true}, http.StatusUnauthorized)
	got := e.call(t, request{path: "/api/v1/phone", ext: "1002"}, http.StatusOK)
	var pc phoneConfig
	if err := json.Unmarshal(got.body, &pc); err != nil {
		t.Fatal(err)
	}
	if pc.Ext != "1002" || pc.DisplayName != "Bob" || pc.AuthorizationUser != "1002.exp" || pc.Password != "token-for-1002" {
		t.Fatalf("phone settings %+v", pc)
	}
	if strings.Contains(string(got.body), "bob-secret") {
		t.Fatalf("the user's password is in the phone settings: %s", got.body)
	}
	// A listener on every interface is named by the host the page came from.
	host := strings.TrimPrefix(e.srv.URL, "http://")
	if h, _, ok := strings.Cut(host, ":"); ok {
		host = h
	}
	want := []string{"wss://" + host + ":7443", "ws://127.0.0.1:5066"}
	if strings.Join(pc.WSServers, " ") != strings.Join(want, " ") || pc.Domain != host {
		t.Fatalf("servers %v domain %q, want %v and %q", pc.WSServers, pc.Domain, want, host)
	}
}

func TestPhoneSettingsNeedCredentialsConfigured(t *testing.T) {
	e := newEnv(t)
	e.call(t, request{path: "/api/v1/phone", ext: "1002"}, http.StatusNotFound)
}
