package api

import (
	"encoding/json"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"
)

// fakeCallbacks implements Callbacks from a list; Cancel removes one.
type fakeCallbacks struct {
	mu   sync.Mutex
	list []Callback
}

func (f *fakeCallbacks) Pending() []Callback {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.list)
}

func (f *fakeCallbacks) Cancel(id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := slices.IndexFunc(f.list, func(c Callback) bool { return c.ID == id })
	if i < 0 {
		return ErrNoSuchCallback
	}
	f.list = slices.Delete(f.list, i, i+1)
	return nil
}

func newCallbacksEnv(t *testing.T) (*env, *fakeCallbacks) {
	t.Helper()
	t0 := time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)
	f := &fakeCallbacks{list: []Callback{
		{ID: "cb1", Number: "1003", Name: "Carol", For: "1002", Requested: t0, CallID: "x@y",
			Parties: []string{"1003", "1002"}},
		{ID: "cb2", Number: "15551234567", Trunk: "carrier", For: "700", Queue: true, Requested: t0.Add(time.Minute),
			CallID: "z@y", Attempts: 1, NotBefore: t0.Add(3 * time.Minute), Parties: []string{"1002", "1004"}},
		{ID: "cb3", Number: "1001", For: "1004", Requested: t0.Add(2 * time.Minute), Parties: []string{"1001", "1004"}},
	}}
	return newEnv(t, func(o *Options) { o.Callbacks = f }), f
}

// callbackIDs lists the ids GET /api/v1/callbacks shows ext.
func callbackIDs(t *testing.T, e *env, ext string) []string {
	t.Helper()
	return listedIDs(t, e, "/api/v1/callbacks", ext)
}

func TestCallbacksAreShownToTheirPartiesAndAdmins(t *testing.T) {
	e, _ := newCallbacksEnv(t)
	for ext, want := range map[string][]string{
		"1001": {"cb1", "cb2", "cb3"}, // admin
		"1002": {"cb1", "cb2"},        // calls back, and a member of the queue
		"1003": {"cb1"},               // the caller, and not a party to the others
		"1004": {"cb2", "cb3"},
	} {
		if got := callbackIDs(t, e, ext); !slices.Equal(got, want) {
			t.Errorf("%s sees %v, want %v", ext, got, want)
		}
	}
	res := e.call(t, request{path: "/api/v1/callbacks", ext: "1001"}, http.StatusOK)
	var list []map[string]any
	if err := json.Unmarshal(res.body, &list); err != nil {
		t.Fatal(err)
	}
	if list[0]["next_attempt"] != nil || list[1]["next_attempt"] != "2026-03-04T10:03:00Z" ||
		list[1]["queue"] != true || list[1]["trunk"] != "carrier" || list[0]["for"] != "1002" {
		t.Fatalf("callbacks JSON: %s", res.body)
	}
}

func TestCallbackCancelIsAdminOnly(t *testing.T) {
	e, f := newCallbacksEnv(t)
	e.call(t, request{method: http.MethodDelete, path: "/api/v1/callbacks/cb1", ext: "1002"}, http.StatusForbidden)
	e.call(t, request{method: http.MethodDelete, path: "/api/v1/callbacks/nope", ext: "1001"}, http.StatusNotFound)
	e.call(t, request{method: http.MethodDelete, path: "/api/v1/callbacks/cb1", ext: "1001"}, http.StatusNoContent)
	if got := f.Pending(); len(got) != 2 || got[0].ID != "cb2" {
		t.Fatalf("after cancelling cb1: %+v", got)
	}
}
