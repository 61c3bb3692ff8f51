package api

import (
	"errors"
	"net/http"
	"testing"

	"github.com/switchboard-voip/switchboard/media/mailbox"
)

// TestVoicemailAccessMatrix runs every voicemail endpoint under each kind of
// caller: own box, someone else's box, admin, bad credentials, unknown box.
func TestVoicemailAccessMatrix(t *testing.T) {
	e := newEnv(t)
	endpoints := []struct {
		name, method, body string
		onMessage          bool
		ok                 int
	}{
		{"list", http.MethodGet, "", false, http.StatusOK},
		{"fetch", http.MethodGet, "", true, http.StatusOK},
		{"mark heard", http.MethodPatch, `{"heard":true}`, true, http.StatusOK},
		{"delete", http.MethodDelete, "", true, http.StatusNoContent},
	}
	cases := map[string]struct {
		box, ext, password string
		noAuth             bool
		want               int // 0 means the endpoint's success status
	}{
		"own box":                    {box: "1002", ext: "1002"},
		"other's box as non-admin":   {box: "1003", ext: "1002", want: http.StatusForbidden},
		"admin on other's box":       {box: "1002", ext: "1001"},
		"admin on own box":           {box: "1001", ext: "1001"},
		"wrong password":             {box: "1002", ext: "1002", password: "bob-secreT", want: http.StatusUnauthorized},
		"admin's wrong password":     {box: "1002", ext: "1001", password: "nope", want: http.StatusUnauthorized},
		"unknown user":               {box: "1002", ext: "9999", password: "x", want: http.StatusUnauthorized},
		"no auth":                    {box: "1002", noAuth: true, want: http.StatusUnauthorized},
		"unknown ext as admin":       {box: "1999", ext: "1001", want: http.StatusNotFound},
		"unknown ext as non-admin":   {box: "1999", ext: "1002", want: http.StatusNotFound},
		"another user's credentials": {box: "1002", ext: "1003", password: "bob-secret", want: http.StatusUnauthorized},
	}
	for name, c := range cases {
		for _, ep := range endpoints {
			t.Run(name+"/"+ep.name, func(t *testing.T) {
				path := "/api/v1/voicemail/" + c.box
				var id string
				if ep.onMessage {
					id = "20260101T000000000Z-00000000" // valid, absent: the box is unknown
					if users.Exists(c.box) {
						m, _ := e.leave(t, c.box, "2001", "", 800)
						id = m.ID
					}
					path += "/" + id
				}
				want := c.want
				if want == 0 {
					want = ep.ok
				}
				r := request{method: ep.method, path: path, body: ep.body, ext: c.ext, password: c.password, noAuth: c.noAuth}
				e.call(t, r, want)

				// A refused request changed nothing.
				if ep.onMessage && want >= 400 && users.Exists(c.box) {
					m, err := e.store.Get(c.box, id)
					if err != nil {
						t.Fatalf("after a refused %s the message is gone: %v", ep.method, err)
					}
					if m.Heard {
						t.Errorf("a refused %s marked the message heard", ep.method)
					}
				}
				if ep.method == http.MethodDelete && want == http.StatusNoContent {
					if _, err := e.store.Get(c.box, id); !errors.Is(err, mailbox.ErrNotFound) {
						t.Errorf("after DELETE, Get = %v, want ErrNotFound", err)
					}
				}
			})
		}
	}
}

// TestEmptyPasswordRefused: credentials with an empty password are wrong
// credentials, not missing ones.
func TestEmptyPasswordRefused(t *testing.T) {
	e := newEnv(t)
	req, err := http.NewRequest(http.MethodGet, e.srv.URL+"/api/v1/voicemail/1002", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth("1002", "")
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("status %d, want 401", resp.StatusCode)
	}
}

func TestMalformedAuthorization(t *testing.T) {
	e := newEnv(t)
	for _, h := range []string{"Bearer abc", "Basic !!!notbase64", "Basic " /* empty */, "Digest username=\"1002\""} {
		e.call(t, request{path: "/api/v1/voicemail/1002", noAuth: true, header: map[string]string{"Authorization": h}}, http.StatusUnauthorized)
	}
}

func TestPasswordsEqual(t *testing.T) {
	for _, c := range []struct {
		want, got string
		equal     bool
	}{
		{"alice-secret", "alice-secret", true},
		{"", "", true},
		{"alice-secret", "alice-secreT", false},
		{"alice-secret", "alice-secret ", false},
		{"alice-secret", "", false},
		{"", "x", false},
	} {
		if got := PasswordsEqual(c.want, c.got); got != c.equal {
			t.Errorf("PasswordsEqual(%q, %q) = %t", c.want, c.got, got)
		}
	}
}
