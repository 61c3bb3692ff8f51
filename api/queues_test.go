package api

import (
	"encoding/json"
	"net/http"
	"testing"
)

type fakeQueues []QueueView

func (f fakeQueues) Queues() []QueueView { return f }

func TestQueuesListsWaitingAndMembers(t *testing.T) {
	e := newEnv(t, func(o *Options) {
		o.Queues = fakeQueues{{Ext: "700", Name: "Support", Waiting: 2, LongestWaitMS: 4200,
			Members: []QueueMember{{Ext: "1002", Name: "Bob", State: "busy", Registered: true},
				{Ext: "1003", Name: "Carol", State: "wrapup", Registered: true}}}}
	})
	res := e.call(t, request{path: "/api/v1/queues", ext: "1002"}, http.StatusOK)
	var got []map[string]any
	if err := json.Unmarshal(res.body, &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0]["waiting"] != float64(2) || got[0]["longest_wait_ms"] != float64(4200) {
		t.Fatalf("queues = %s", res.body)
	}
	members := got[0]["members"].([]any)
	if m := members[1].(map[string]any); m["state"] != "wrapup" || m["ext"] != "1003" {
		t.Fatalf("members = %v", members)
	}
	e.call(t, request{path: "/api/v1/queues", noAuth: true}, http.StatusUnauthorized)
}

func TestQueuesRouteAbsentWithoutQueues(t *testing.T) {
	e := newEnv(t)
	e.call(t, request{path: "/api/v1/queues", ext: "1002"}, http.StatusNotFound)
}
