package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-voip/switchboard/presence"
)

// fieldOf decodes an error body and returns the field it names.
func fieldOf(t *testing.T, b []byte) string {
	t.Helper()
	var e struct{ Error, Field string }
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	if e.Field == "" || !strings.HasPrefix(e.Error, e.Field+": ") {
		t.Errorf("error %q does not start with its field %q", e.Error, e.Field)
	}
	return e.Field
}

// TestPresencePutReasonAndUntil: DND with a reason and an end, as a duration or a time, is
// shown with who made it; an admin's change says so; Available clears the reason and end.
func TestPresencePutReasonAndUntil(t *testing.T) {
	e := newEnv(t)
	before := time.Now()
	p := decodePresence(t, e.call(t, request{method: http.MethodPut, path: "/api/v1/presence/1002",
		body: `{"status":"dnd","reason":"  in a meeting ","until":"45m"}`, ext: "1002"}, http.StatusOK).body)
	if p.Reason != "in a meeting" || p.Source != "user" || p.By != "1002" || p.SetAt.IsZero() {
		t.Errorf("after the PUT: %+v", p)
	}
	if d := p.Until.Sub(before); d < 45*time.Minute || d > 46*time.Minute {
		t.Errorf("until %v is %v after the request, want 45m", p.Until, d)
	}
	end := time.Now().Add(2 * time.Hour).UTC().Truncate(time.Second)
	p = decodePresence(t, e.call(t, request{method: http.MethodPut, path: "/api/v1/presence/1002",
		body: `{"status":"dnd","reason":"at lunch","until":"` + end.Format(time.RFC3339) + `"}`, ext: "1001"}, http.StatusOK).body)
	if !p.Until.Equal(end) || p.Source != "admin" || p.By != "1001" || p.Reason != "at lunch" {
		t.Errorf("after the admin's PUT: %+v", p)
	}
	// The same in the list, and to another user.
	var list []presenceState
	if err := json.Unmarshal(e.call(t, request{path: "/api/v1/presence", ext: "1003"}, http.StatusOK).body, &list); err != nil {
		t.Fatal(err)
	}
	if list[1].Reason != "at lunch" || !list[1].Until.Equal(end) {
		t.Errorf("listed %+v", list[1])
	}
	p = decodePresence(t, e.call(t, request{method: http.MethodPut, path: "/api/v1/presence/1002",
		body: `{"status":"available"}`, ext: "1002"}, http.StatusOK).body)
	if p.Reason != "" || !p.Until.IsZero() || p.Status != "available" {
		t.Errorf("after available: %+v", p)
	}
}

// TestPresencePutBadReasonOrUntil: each bad reason or end is 400 naming the field, and
// changes nothing.
func TestPresencePutBadReasonOrUntil(t *testing.T) {
	e := newEnv(t)
	cases := map[string]struct{ body, field string }{
		"reason too long":     {`{"status":"dnd","reason":"` + strings.Repeat("x", 81) + `"}`, "reason"},
		"until in the past":   {`{"status":"dnd","until":"2020-01-01T00:00:00Z"}`, "until"},
		"until absurdly far":  {`{"status":"dnd","until":"9000h"}`, "until"},
		"negative duration":   {`{"status":"dnd","until":"-5m"}`, "until"},
		"until is words":      {`{"status":"dnd","until":"tomorrow"}`, "until"},
		"until on available":  {`{"status":"available","until":"45m"}`, "reason"},
		"reason on available": {`{"status":"available","reason":"back"}`, "reason"},
	}
	for name, c := range cases {
		got := e.call(t, request{method: http.MethodPut, path: "/api/v1/presence/1002", body: c.body, ext: "1002"}, http.StatusBadRequest)
		if f := fieldOf(t, got.body); f != c.field {
			t.Errorf("%s: field %q, want %q (%s)", name, f, c.field, got.body)
		}
	}
	if e.pstore.Saves() != 0 {
		t.Errorf("%d saves after bad requests", e.pstore.Saves())
	}
	// 80 characters is fine.
	e.call(t, request{method: http.MethodPut, path: "/api/v1/presence/1002",
		body: `{"status":"dnd","reason":"` + strings.Repeat("é", 80) + `"}`, ext: "1002"}, http.StatusOK)
}

// TestPresenceHistoryListsEachSource: the history of changes names who made each one, newest
// first; only the user and admins may read it.
func TestPresenceHistoryListsEachSource(t *testing.T) {
	e := newEnv(t)
	e.call(t, request{method: http.MethodPut, path: "/api/v1/presence/1002", body: `{"status":"dnd","reason":"focus"}`, ext: "1002"}, http.StatusOK)
	e.call(t, request{method: http.MethodPut, path: "/api/v1/presence/1002", body: `{"status":"available"}`, ext: "1001"}, http.StatusOK)
	if _, err := e.table.Set("1002", presence.Change{DND: true, Source: presence.SourceFeatureCode, By: "1002"}); err != nil {
		t.Fatal(err)
	}
	var got []change
	if err := json.Unmarshal(e.call(t, request{path: "/api/v1/presence/1002/history", ext: "1002"}, http.StatusOK).body, &got); err != nil {
		t.Fatal(err)
	}
	want := []change{
		{Status: "dnd", Source: "feature_code", By: "1002", ByName: "Bob"},
		{Status: "available", Source: "admin", By: "1001", ByName: "Alice"},
		{Status: "dnd", Reason: "focus", Source: "user", By: "1002", ByName: "Bob"},
	}
	if len(got) != len(want) {
		t.Fatalf("history %+v", got)
	}
	for i := range want {
		g := got[i]
		if g.At.IsZero() {
			t.Errorf("change %d has no time", i)
		}
		g.At = time.Time{}
		if g != want[i] {
			t.Errorf("change %d: %+v, want %+v", i, g, want[i])
		}
	}
	if err := json.Unmarshal(e.call(t, request{path: "/api/v1/presence/1002/history?limit=1", ext: "1001"}, http.StatusOK).body, &got); err != nil || len(got) != 1 {
		t.Errorf("limit 1 as admin: %+v, %v", got, err)
	}
	e.call(t, request{path: "/api/v1/presence/1002/history", ext: "1003"}, http.StatusForbidden)
	e.call(t, request{path: "/api/v1/presence/1002/history?limit=0", ext: "1002"}, http.StatusBadRequest)
	e.call(t, request{path: "/api/v1/presence/1999/history", ext: "1001"}, http.StatusNotFound)
}

// TestWorkingHoursAPI: hours set, read and removed by the user or an admin, applied at once;
// bad hours are 400 naming the field; others are refused.
func TestWorkingHoursAPI(t *testing.T) {
	e := newEnv(t)
	e.call(t, request{path: "/api/v1/users/1003/hours", ext: "1003"}, http.StatusNotFound)
	// Working hours that never include now: the user is outside them at once.
	now := time.Now().UTC()
	day := [...]string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}[(now.Weekday()+3)%7]
	body := `{"time_zone":"UTC","week":{"` + day + `":["09:00-17:00"]},"holidays":["2026-12-25"]}`
	p := decodePresence(t, e.call(t, request{method: http.MethodPut, path: "/api/v1/users/1003/hours", body: body, ext: "1001"}, http.StatusOK).body)
	if p.Status != "dnd" || p.Reason != presence.OutsideHours || p.Source != "schedule" {
		t.Errorf("after setting hours: %+v", p)
	}
	var h presence.Hours
	if err := json.Unmarshal(e.call(t, request{path: "/api/v1/users/1003/hours", ext: "1003"}, http.StatusOK).body, &h); err != nil || h.TimeZone != "UTC" || len(h.Week[day]) != 1 {
		t.Errorf("hours read back: %+v, %v", h, err)
	}
	bad := map[string]string{
		`{"week":{"mon":["09:00-17:00"]}}`:                                       "time_zone",
		`{"time_zone":"Nowhere/City","week":{"mon":["09:00-17:00"]}}`:            "time_zone",
		`{"time_zone":"UTC","week":{"mon":["09:00-13:00","12:30-17:00"]}}`:       "week.mon[1]",
		`{"time_zone":"UTC","week":{"mon":["9am-5pm"]}}`:                         "week.mon[0]",
		`{"time_zone":"UTC","week":{"someday":["09:00-17:00"]}}`:                 "week.someday",
		`{"time_zone":"UTC","week":{}}`:                                          "week",
		`{"time_zone":"UTC","week":{"mon":["09:00-17:00"]},"holidays":["soon"]}`: "holidays[0]",
	}
	for b, field := range bad {
		got := e.call(t, request{method: http.MethodPut, path: "/api/v1/users/1003/hours", body: b, ext: "1003"}, http.StatusBadRequest)
		if f := fieldOf(t, got.body); f != field {
			t.Errorf("%s: field %q, want %q", b, f, field)
		}
	}
	e.call(t, request{method: http.MethodPut, path: "/api/v1/users/1003/hours", body: body, ext: "1002"}, http.StatusForbidden)
	e.call(t, request{method: http.MethodDelete, path: "/api/v1/users/1003/hours", ext: "1002"}, http.StatusForbidden)
	e.call(t, request{method: http.MethodDelete, path: "/api/v1/users/1003/hours", ext: "1003"}, http.StatusNoContent)
	e.call(t, request{path: "/api/v1/users/1003/hours", ext: "1003"}, http.StatusNotFound)
}
