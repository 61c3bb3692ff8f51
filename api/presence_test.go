package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-voip/switchboard/presence"
)

// presenceFields are the keys every presence object has: the spec's six,
// plus changed and seq.
var presenceFields = []string{"changed", "dnd", "ext", "name", "on_call", "registered", "seq", "status"}

// settingFields are the keys a presence object has once a DND setting was
// made: who made it, how and when, and while DND is on its reason and end.
var settingFields = []string{"by", "reason", "set_at", "source", "until"}

// removedField is the key of a removed user's last event, and only of it.
const removedField = "removed"

// decodePresence parses one presence object and checks it has exactly
// presenceFields.
func decodePresence(t *testing.T, b []byte) presenceState {
	t.Helper()
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	for _, k := range presenceFields {
		if _, ok := raw[k]; !ok {
			t.Errorf("presence %s has no %q", b, k)
		}
	}
	for k := range raw {
		if !slices.Contains(presenceFields, k) && !slices.Contains(settingFields, k) && k != removedField {
			t.Errorf("presence has a field %q, not one of %v or %v", k, presenceFields, settingFields)
		}
	}
	var st presenceState
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return st
}

func TestPresenceListShowsEveryoneToAnyUser(t *testing.T) {
	e := newEnv(t)
	e.table.CallStarted("1002", "c1")
	e.table.SetRegistered("1002", true)
	if _, err := e.table.SetDND("1003", true); err != nil {
		t.Fatal(err)
	}

	for _, ext := range []string{"1004", "1001"} { // a plain user and the admin
		got := e.call(t, request{path: "/api/v1/presence", ext: ext}, http.StatusOK)
		if ct := got.header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type %q", ct)
		}
		var raw []json.RawMessage
		if err := json.Unmarshal(got.body, &raw); err != nil {
			t.Fatalf("%s: %v", got.body, err)
		}
		var list []presenceState
		for _, r := range raw {
			list = append(list, decodePresence(t, r))
		}
		want := []struct {
			ext, name, status string
			dnd, onCall, regd bool
		}{
			{"1001", "Alice", "available", false, false, false},
			{"1002", "Bob", "busy", false, true, true},
			{"1003", "Carol", "dnd", true, false, false},
			{"1004", "Dave", "available", false, false, false},
		}
		if len(list) != len(want) {
			t.Fatalf("listed %d users, want %d: %s", len(list), len(want), got.body)
		}
		for i, w := range want {
			p := list[i]
			if p.Ext != w.ext || p.Name != w.name || p.Status != w.status || p.DND != w.dnd ||
				p.OnCall != w.onCall || p.Registered != w.regd {
				t.Errorf("item %d = %+v, want %+v", i, p, w)
			}
		}
		if list[2].Seq == 0 || list[2].Changed.IsZero() {
			t.Errorf("changed user has seq %d, changed %v", list[2].Seq, list[2].Changed)
		}
	}
	e.call(t, request{path: "/api/v1/presence", noAuth: true}, http.StatusUnauthorized)
	e.call(t, request{path: "/api/v1/presence", ext: "1002", password: "nope"}, http.StatusUnauthorized)
}

func TestPresenceGetOne(t *testing.T) {
	e := newEnv(t)
	if _, err := e.table.SetDND("1001", true); err != nil {
		t.Fatal(err)
	}
	got := e.call(t, request{path: "/api/v1/presence/1001", ext: "1003"}, http.StatusOK)
	p := decodePresence(t, got.body)
	if p.Ext != "1001" || p.Name != "Alice" || p.Status != "dnd" || !p.DND {
		t.Errorf("got %+v", p)
	}
	e.call(t, request{path: "/api/v1/presence/1999", ext: "1003"}, http.StatusNotFound)
	e.call(t, request{path: "/api/v1/presence/1001", noAuth: true}, http.StatusUnauthorized)
	e.call(t, request{path: "/api/v1/presence/1001/x", ext: "1003"}, http.StatusNotFound)
	got = e.call(t, request{method: http.MethodPost, path: "/api/v1/presence/1001", ext: "1003"}, http.StatusMethodNotAllowed)
	if a := got.header.Get("Allow"); a != "GET, HEAD, PUT" {
		t.Errorf("Allow %q", a)
	}
}

// TestPresencePutAccessMatrix: own status, someone else's as a plain user
// and as an admin, bad credentials, unknown extension.
func TestPresencePutAccessMatrix(t *testing.T) {
	cases := map[string]struct {
		target, ext, password string
		noAuth                bool
		want                  int
	}{
		"self":                       {target: "1002", ext: "1002", want: http.StatusOK},
		"other as non-admin":         {target: "1003", ext: "1002", want: http.StatusForbidden},
		"admin on other":             {target: "1002", ext: "1001", want: http.StatusOK},
		"admin on self":              {target: "1001", ext: "1001", want: http.StatusOK},
		"wrong password":             {target: "1002", ext: "1002", password: "bob-secreT", want: http.StatusUnauthorized},
		"admin's wrong password":     {target: "1002", ext: "1001", password: "nope", want: http.StatusUnauthorized},
		"another user's credentials": {target: "1002", ext: "1003", password: "bob-secret", want: http.StatusUnauthorized},
		"no auth":                    {target: "1002", noAuth: true, want: http.StatusUnauthorized},
		"unknown ext as admin":       {target: "1999", ext: "1001", want: http.StatusNotFound},
		"unknown ext as non-admin":   {target: "1999", ext: "1002", want: http.StatusNotFound},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			r := request{method: http.MethodPut, path: "/api/v1/presence/" + c.target, body: `{"status":"dnd"}`,
				ext: c.ext, password: c.password, noAuth: c.noAuth}
			got := e.call(t, r, c.want)
			st, _ := e.table.Get(c.target)
			if c.want != http.StatusOK {
				if st.DND || e.pstore.Saves() != 0 {
					t.Errorf("a refused PUT changed something: %+v, %d saves", st, e.pstore.Saves())
				}
				return
			}
			p := decodePresence(t, got.body)
			if p.Ext != c.target || p.Status != "dnd" || !p.DND || p.Seq != st.Seq {
				t.Errorf("answered %+v; table has %+v", p, st)
			}
			if !st.DND || st.Status != "dnd" {
				t.Errorf("table has %+v after the PUT", st)
			}
			// Durable before the 200: the store has it.
			if dnd, err := e.pstore.LoadDND(); err != nil || !dnd[c.target].DND || e.pstore.Saves() != 1 {
				t.Errorf("store has %v (%v), %d saves", dnd, err, e.pstore.Saves())
			}

			// And back.
			r.body = `{"status":"available"}`
			p = decodePresence(t, e.call(t, r, http.StatusOK).body)
			if p.Status != "available" || p.DND {
				t.Errorf("after available: %+v", p)
			}
		})
	}
}

func TestPresencePutBadBodies(t *testing.T) {
	e := newEnv(t)
	for _, body := range []string{
		`{"status":"busy"}`,
		`{"status":"Busy"}`,
		`{"status":"away"}`,
		`{"status":"DND"}`,
		`{"status":" dnd"}`,
		`{"status":""}`,
		`{"status":null}`,
		`{}`,
		`{"status":1}`,
		`{"status":"dnd","extra":true}`,
		`{"status":"dnd"} {"status":"dnd"}`,
		`{"status":`,
		`not json`,
		`["dnd"]`,
		``,
	} {
		r := request{method: http.MethodPut, path: "/api/v1/presence/1002", body: body, ext: "1002"}
		got := e.call(t, r, http.StatusBadRequest)
		if strings.Contains(body, "busy") && !strings.Contains(string(got.body), "follows calls") {
			t.Errorf("%s: answered %s, want a reason about busy", body, got.body)
		}
	}
	if st, _ := e.table.Get("1002"); st.DND || st.Seq != 0 || e.pstore.Saves() != 0 {
		t.Errorf("a bad PUT changed something: %+v, %d saves", st, e.pstore.Saves())
	}
	// Authorisation comes first: a bad body on someone else's status is 403.
	e.call(t, request{method: http.MethodPut, path: "/api/v1/presence/1003", body: `{"status":"busy"}`, ext: "1002"}, http.StatusForbidden)
}

func TestPresencePutStoreFailureIs500(t *testing.T) {
	e := newEnv(t)
	e.pstore.Fail(errors.New("disk on fire at /secret/path"))
	got := e.call(t, request{method: http.MethodPut, path: "/api/v1/presence/1002", body: `{"status":"dnd"}`, ext: "1002"}, http.StatusInternalServerError)
	if strings.Contains(string(got.body), "secret") {
		t.Errorf("internal detail leaked to the client: %s", got.body)
	}
	if st, _ := e.table.Get("1002"); st.DND {
		t.Errorf("DND applied though the store failed: %+v", st)
	}
	if n := e.logs.FilterMessage("http request failed").Len(); n != 1 {
		t.Errorf("%d failures logged, want 1", n)
	}
}

// TestPresencePutWhileTheClusterStoreIsAwayIs503: a status store that cannot be reached (a
// cluster's NATS) is 503, try again, and nothing changes.
func TestPresencePutWhileTheClusterStoreIsAwayIs503(t *testing.T) {
	e := newEnv(t)
	e.pstore.Fail(fmt.Errorf("cluster: save DND of 1002: %w: nats: timeout", presence.ErrUnavailable))
	got := e.call(t, request{method: http.MethodPut, path: "/api/v1/presence/1002", body: `{"status":"dnd"}`, ext: "1002"}, http.StatusServiceUnavailable)
	if !strings.Contains(string(got.body), "try again") {
		t.Errorf("503 body %s does not say to try again", got.body)
	}
	if st, _ := e.table.Get("1002"); st.DND {
		t.Errorf("DND applied though the store was away: %+v", st)
	}
}

func TestPresencePutCrossSiteRefused(t *testing.T) {
	e := newEnv(t)
	e.call(t, request{method: http.MethodPut, path: "/api/v1/presence/1002", body: `{"status":"dnd"}`, ext: "1002",
		header: map[string]string{"Sec-Fetch-Site": "cross-site"}}, http.StatusForbidden)
	if st, _ := e.table.Get("1002"); st.DND {
		t.Errorf("cross-site PUT applied: %+v", st)
	}
}

func TestPresenceChangedIsUTC(t *testing.T) {
	e := newEnv(t)
	p := decodePresence(t, e.call(t, request{path: "/api/v1/presence/1002", ext: "1002"}, http.StatusOK).body)
	if p.Changed.Location() != time.UTC || time.Since(p.Changed) > time.Minute {
		t.Errorf("changed %v", p.Changed)
	}
}

func TestNoPresenceNoRoutes(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.Presence = nil })
	e.call(t, request{path: "/api/v1/presence", ext: "1002"}, http.StatusNotFound)
	e.call(t, request{path: "/api/v1/presence/events", ext: "1002"}, http.StatusNotFound)
	e.call(t, request{method: http.MethodPut, path: "/api/v1/presence/1002", body: `{"status":"dnd"}`, ext: "1002"}, http.StatusNotFound)
}
