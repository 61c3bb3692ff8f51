package api

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// Ring groups: created with defaults, listed, changed, refused with the field, removed.
func TestGroupsCRUD(t *testing.T) {
	e, d := newDirEnv(t)
	var g groupView
	res := e.call(t, request{method: http.MethodPost, path: "/api/v1/groups",
		body: `{"ext":"601","name":"Support line","members":["1003","1002"]}`, ext: "1001"}, http.StatusCreated)
	if err := json.Unmarshal(res.body, &g); err != nil || g.Strategy != "ringall" || g.RingTimeout != 20 || g.Fallback != "hangup" ||
		!slices.Equal(g.Members, []string{"1003", "1002"}) {
		t.Fatalf("created %s (%v)", res.body, err)
	}
	var list []groupView
	if err := json.Unmarshal(e.call(t, request{path: "/api/v1/groups", ext: "1004"}, http.StatusOK).body, &list); err != nil || len(list) != 2 {
		t.Fatalf("listed %+v (%v)", list, err)
	}
	res = e.call(t, request{method: http.MethodPut, path: "/api/v1/groups/601",
		body: `{"strategy":"sequential","ring_timeout":8,"fallback":"voicemail:1003","members":["1004"]}`, ext: "1001"}, http.StatusOK)
	if err := json.Unmarshal(res.body, &g); err != nil || g.Name != "Support line" || g.Strategy != "sequential" || g.RingTimeout != 8 ||
		!slices.Equal(g.Members, []string{"1004"}) {
		t.Fatalf("changed %s", res.body)
	}
	for body, field := range map[string]string{
		`{"ext":"1002"}`:                "ext",
		`{"ext":"700"}`:                 "ext",
		`{"members":["1002","1999"]}`:   "members[1]",
		`{"members":["1002","1002"]}`:   "members[1]",
		`{"members":["600"]}`:           "members[0]",
		`{"members":[]}`:                "members",
		`{"strategy":"random"}`:         "strategy",
		`{"fallback":"voicemail:1004"}`: "fallback", // 1004 has no voicemail
		`{"fallback":"1999"}`:           "fallback",
		`{"ring_timeout":0}`:            "ring_timeout",
		`{"name":"  "}`:                 "name",
		`{"fallback":"601"}`:            "fallback",
		`{"ring_timeout":100000}`:       "ring_timeout",
	} {
		res := e.call(t, request{method: http.MethodPut, path: "/api/v1/groups/601", body: body, ext: "1001"}, http.StatusBadRequest)
		if f := fieldOf(t, res.body); f != field {
			t.Errorf("%s: field %q, want %q (%s)", body, f, field, res.body)
		}
	}
	// A free extension is fine.
	e.call(t, request{method: http.MethodPut, path: "/api/v1/groups/601", body: `{"ext":"602","fallback":"hangup"}`, ext: "1001"}, http.StatusOK)
	// Group 600 is the trunk's number: in use.
	res = e.call(t, request{method: http.MethodDelete, path: "/api/v1/groups/600", ext: "1001"}, http.StatusConflict)
	if !strings.Contains(string(res.body), "trunk carrier") {
		t.Errorf("in use: %s", res.body)
	}
	e.call(t, request{method: http.MethodDelete, path: "/api/v1/groups/602", ext: "1001"}, http.StatusNoContent)
	if _, ok := d.Config().Group("602"); ok {
		t.Error("602 still there")
	}
	// Its extension is free again, for a user.
	e.call(t, request{method: http.MethodPost, path: "/api/v1/users", body: `{"ext":"602","name":"Gus","password":"gus-secret"}`, ext: "1001"}, http.StatusCreated)
}

// Queues: settings read by anyone, created and changed by admins (members too), music on hold
// left as the file has it; the live GET /api/v1/queues is unchanged.
func TestQueueSettings(t *testing.T) {
	e, d := newDirEnv(t, func(o *Options) {
		o.Queues = fakeQueues{{Ext: "700", Name: "Support", Waiting: 2}}
	})
	var q queueConfig
	res := e.call(t, request{path: "/api/v1/queues/700", ext: "1003"}, http.StatusOK)
	if err := json.Unmarshal(res.body, &q); err != nil || q.Strategy != "longest_idle" || q.MaxWait != 300 || q.Wrapup != 5 || q.AutoPause != 3 {
		t.Fatalf("queue 700: %s (%v)", res.body, err)
	}
	res = e.call(t, request{method: http.MethodPut, path: "/api/v1/queues/700",
		body: `{"members":["1002","1003","1004"],"wrapup":0,"announce_position":true,"auto_resume":600}`, ext: "1001"}, http.StatusOK)
	if err := json.Unmarshal(res.body, &q); err != nil || !slices.Equal(q.Members, []string{"1002", "1003", "1004"}) || q.Wrapup != 0 || !q.AnnouncePosition || q.AutoResume != 600 {
		t.Fatalf("changed: %s", res.body)
	}
	if got, _ := d.Config().Queue("700"); !slices.Equal(got.Members, []string{"1002", "1003", "1004"}) {
		t.Errorf("directory's members %v", got.Members)
	}
	res = e.call(t, request{method: http.MethodPut, path: "/api/v1/queues/700", body: `{"members":["1002","1999"]}`, ext: "1001"}, http.StatusBadRequest)
	if f := fieldOf(t, res.body); f != "members[1]" {
		t.Errorf("unknown member: field %q", f)
	}
	res = e.call(t, request{method: http.MethodPut, path: "/api/v1/queues/700", body: `{"auto_pause":101}`, ext: "1001"}, http.StatusBadRequest)
	if f := fieldOf(t, res.body); f != "auto_pause" {
		t.Errorf("auto_pause: field %q", f)
	}
	// The live state is as it was.
	var live []QueueView
	if err := json.Unmarshal(e.call(t, request{path: "/api/v1/queues", ext: "1002"}, http.StatusOK).body, &live); err != nil || len(live) != 1 || live[0].Waiting != 2 {
		t.Errorf("GET /api/v1/queues: %+v (%v)", live, err)
	}
	var settings []queueConfig
	if err := json.Unmarshal(e.call(t, request{path: "/api/v1/queues?settings", ext: "1002"}, http.StatusOK).body, &settings); err != nil || len(settings) != 1 || settings[0].Ext != "700" {
		t.Errorf("GET /api/v1/queues?settings: %+v (%v)", settings, err)
	}
	// Callers wait in 700: it stays.
	e.call(t, request{method: http.MethodDelete, path: "/api/v1/queues/700", ext: "1001"}, http.StatusConflict)
	res = e.call(t, request{method: http.MethodPost, path: "/api/v1/queues", body: `{"ext":"701","name":"Billing","members":["1003"],"strategy":"round_robin"}`, ext: "1001"}, http.StatusCreated)
	if err := json.Unmarshal(res.body, &q); err != nil || q.RingTimeout != 15 || q.Strategy != "round_robin" {
		t.Fatalf("created %s", res.body)
	}
	res = e.call(t, request{method: http.MethodPost, path: "/api/v1/queues", body: `{"ext":"701","name":"Again","members":["1003"]}`, ext: "1001"}, http.StatusBadRequest)
	if f := fieldOf(t, res.body); f != "ext" {
		t.Errorf("duplicate queue: field %q", f)
	}
	e.call(t, request{method: http.MethodDelete, path: "/api/v1/queues/701", ext: "1001"}, http.StatusNoContent)
}

// Trunks: admins only, also to read; numbers replaced as a whole; problems named.
func TestTrunksCRUD(t *testing.T) {
	e, d := newDirEnv(t)
	var tv trunkView
	res := e.call(t, request{method: http.MethodPost, path: "/api/v1/trunks",
		body: `{"name":"backup","allow":["198.51.100.7"],"dids":{"+15550199":"1002"},"outbound":"udp:198.51.100.7:5060","outbound_prefix":"9"}`, ext: "1001"}, http.StatusCreated)
	if err := json.Unmarshal(res.body, &tv); err != nil || tv.OutboundPrefix != "9" || tv.DIDs["+15550199"] != "1002" {
		t.Fatalf("created %s (%v)", res.body, err)
	}
	var list []trunkView
	if err := json.Unmarshal(e.call(t, request{path: "/api/v1/trunks", ext: "1001"}, http.StatusOK).body, &list); err != nil || len(list) != 2 {
		t.Fatalf("listed %+v (%v)", list, err)
	}
	res = e.call(t, request{method: http.MethodPut, path: "/api/v1/trunks/backup", body: `{"dids":{"+15550198":"700"}}`, ext: "1001"}, http.StatusOK)
	tv = trunkView{}
	if err := json.Unmarshal(res.body, &tv); err != nil || len(tv.DIDs) != 1 || tv.DIDs["+15550198"] != "700" || tv.Outbound == "" {
		t.Fatalf("changed %s", res.body)
	}
	for body, field := range map[string]string{
		`{"name":"carrier"}`:            "name",
		`{"allow":["192.0.2.9"]}`:       "allow[0]", // inside carrier's network
		`{"allow":["not an address"]}`:  "allow[0]",
		`{"dids":{"+15550198":"1999"}}`: "dids.+15550198",
		`{"outbound":"smtp:x"}`:         "outbound",
		`{"outbound_prefix":"x"}`:       "outbound_prefix",
	} {
		res := e.call(t, request{method: http.MethodPut, path: "/api/v1/trunks/backup", body: body, ext: "1001"}, http.StatusBadRequest)
		if f := fieldOf(t, res.body); f != field {
			t.Errorf("%s: field %q, want %q (%s)", body, f, field, res.body)
		}
	}
	e.call(t, request{method: http.MethodDelete, path: "/api/v1/trunks/backup", ext: "1001"}, http.StatusNoContent)
	if len(d.Config().Trunks) != 1 {
		t.Errorf("trunks %+v", d.Config().Trunks)
	}
}

// A group whose extension changes keeps its callers: the trunk's number and the fallbacks that
// led to the old extension lead to the new one.
func TestGroupExtensionChangeRedirectsWhatLedToIt(t *testing.T) {
	e, d := newDirEnv(t)
	e.call(t, request{method: http.MethodPut, path: "/api/v1/queues/700", body: `{"fallback":"600"}`, ext: "1001"}, http.StatusOK)
	e.call(t, request{method: http.MethodPut, path: "/api/v1/groups/600", body: `{"ext":"610"}`, ext: "1001"}, http.StatusOK)
	cfg := d.Config()
	if _, ok := cfg.Group("610"); !ok {
		t.Fatal("no group 610")
	}
	if q, _ := cfg.Queue("700"); q.Fallback != "610" {
		t.Errorf("queue 700 falls back to %q, want 610", q.Fallback)
	}
	if got := cfg.Trunks[0].DIDs["+15550100"]; got != "610" {
		t.Errorf("the trunk's number leads to %q, want 610", got)
	}
}
