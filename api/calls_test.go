package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeCalls implements Calls from a list; HangUp removes the call and remembers the id.
// Transfer checks the request as a call's owner does (By or Keep must be a party, the call must
// be talking) and remembers it; the call stays listed, as it does until the owner has acted.
type fakeCalls struct {
	mu          sync.Mutex
	calls       []Call
	hungUp      []string
	err         error // HangUp fails with this when set
	transfers   []fakeTransfer
	transferErr error // Transfer fails with this when set
}

// fakeTransfer is one request fakeCalls.Transfer took.
type fakeTransfer struct {
	ID string
	TransferRequest
}

func (f *fakeCalls) Transfer(id string, t TransferRequest) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.transferErr != nil {
		return f.transferErr
	}
	i := slices.IndexFunc(f.calls, func(c Call) bool { return c.ID == id })
	if i < 0 {
		return ErrNoSuchCall
	}
	c := f.calls[i]
	who := t.By
	if who == "" {
		who = t.Keep
	}
	if !slices.Contains(c.Parties, who) {
		return ErrNotParty
	}
	if c.State != CallTalking {
		return ErrNotTransferable
	}
	f.transfers = append(f.transfers, fakeTransfer{ID: id, TransferRequest: t})
	return nil
}

func (f *fakeCalls) transferred() []fakeTransfer {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.transfers)
}

func (f *fakeCalls) Active() []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func (f *fakeCalls) HangUp(id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	i := slices.IndexFunc(f.calls, func(c Call) bool { return c.ID == id })
	if i < 0 {
		return ErrNoSuchCall
	}
	f.calls = slices.Delete(f.calls, i, i+1)
	f.hungUp = append(f.hungUp, id)
	return nil
}

func (f *fakeCalls) hungUpIDs() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.hungUp)
}

var callsT0 = time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)

// sampleCalls: in no particular order, as a switch may keep them.
func sampleCalls() []Call {
	return []Call{
		{ID: "a@x", From: "1002", To: "1003", State: CallTalking, Started: callsT0,
			Answered: callsT0.Add(3 * time.Second), Parties: []string{"1002", "1003"},
			Trace: []string{"1003 is available: ring"}},
		{ID: "c@x", From: "15551234567", To: "700", State: CallQueued, Started: callsT0.Add(2 * time.Minute),
			Answered: callsT0.Add(2 * time.Minute), Trace: []string{"700 is a queue"}},
		{ID: "b@x", From: "1004", To: "1002", State: CallRinging, Started: callsT0.Add(time.Minute),
			Parties: []string{"1004", "1002"}},
	}
}

func newCallsEnv(t *testing.T) (*env, *fakeCalls) {
	t.Helper()
	f := &fakeCalls{calls: sampleCalls()}
	return newEnv(t, func(o *Options) { o.Calls = f }), f
}

// callIDs lists the ids GET /api/v1/calls shows ext.
func callIDs(t *testing.T, e *env, ext string) []string {
	t.Helper()
	return listedIDs(t, e, "/api/v1/calls", ext)
}

// listedIDs is the "id" of each entry of the JSON list at path, as ext sees it.
func listedIDs(t *testing.T, e *env, path, ext string) []string {
	t.Helper()
	res := e.call(t, request{path: path, ext: ext}, http.StatusOK)
	var list []struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(res.body, &list); err != nil {
		t.Fatalf("%s: %v", res.body, err)
	}
	ids := []string{}
	for _, c := range list {
		ids = append(ids, c.ID)
	}
	return ids
}

func TestCallsAdminSeesEveryCallNewestFirst(t *testing.T) {
	e, _ := newCallsEnv(t)
	if got, want := callIDs(t, e, "1001"), []string{"c@x", "b@x", "a@x"}; !slices.Equal(got, want) {
		t.Fatalf("admin sees %v, want %v", got, want)
	}
}

func TestCallsUserSeesOnlyCallsTheyArePartyTo(t *testing.T) {
	e, _ := newCallsEnv(t)
	for ext, want := range map[string][]string{
		"1002": {"b@x", "a@x"}, // caller of one, callee of the other
		"1003": {"a@x"},
		"1004": {"b@x"},
	} {
		if got := callIDs(t, e, ext); !slices.Equal(got, want) {
			t.Errorf("%s sees %v, want %v", ext, got, want)
		}
	}
}

func TestCallsJSONShapeIsTheSpecs(t *testing.T) {
	e, _ := newCallsEnv(t)
	res := e.call(t, request{path: "/api/v1/calls", ext: "1001"}, http.StatusOK)
	if ct := res.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	var list []map[string]json.RawMessage
	if err := json.Unmarshal(res.body, &list); err != nil {
		t.Fatalf("%s: %v", res.body, err)
	}
	if len(list) != 3 {
		t.Fatalf("%d calls: %s", len(list), res.body)
	}
	wantKeys := []string{"answered", "from", "id", "parties", "started", "state", "to", "trace"}
	for _, c := range list {
		keys := make([]string, 0, len(c))
		for k := range c {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if !slices.Equal(keys, wantKeys) {
			t.Errorf("keys %v, want %v", keys, wantKeys)
		}
	}
	want := map[string]string{ // the talking call, whole
		"id": `"a@x"`, "from": `"1002"`, "to": `"1003"`, "state": `"talking"`,
		"started": `"2026-03-04T10:00:00Z"`, "answered": `"2026-03-04T10:00:03Z"`,
		"parties": `["1002","1003"]`, "trace": `["1003 is available: ring"]`,
	}
	for k, v := range want {
		if got := string(list[2][k]); got != v {
			t.Errorf("talking call %s = %s, want %s", k, got, v)
		}
	}
	// Unanswered: answered is null; no parties or trace: empty arrays, never null.
	if got := string(list[1]["answered"]); got != "null" {
		t.Errorf("ringing call answered = %s, want null", got)
	}
	if got := string(list[1]["trace"]); got != "[]" {
		t.Errorf("call without trace: trace = %s, want []", got)
	}
	if got := string(list[0]["parties"]); got != "[]" {
		t.Errorf("outside caller in a queue: parties = %s, want []", got)
	}
}

func TestCallsNoneIsAnEmptyArray(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.Calls = &fakeCalls{} })
	res := e.call(t, request{path: "/api/v1/calls", ext: "1001"}, http.StatusOK)
	if got := strings.TrimSpace(string(res.body)); got != "[]" {
		t.Fatalf("body %q, want []", got)
	}
	e2, _ := newCallsEnv(t)
	res = e2.call(t, request{path: "/api/v1/calls", ext: "1003"}, http.StatusOK)
	var list []any
	if err := json.Unmarshal(res.body, &list); err != nil || len(list) != 1 {
		t.Fatalf("1003's calls: %s", res.body)
	}
}

func TestCallsHangUpByAdmin(t *testing.T) {
	e, f := newCallsEnv(t)
	res := e.call(t, request{method: http.MethodDelete, path: "/api/v1/calls/b@x", ext: "1001"}, http.StatusNoContent)
	if len(res.body) != 0 {
		t.Errorf("204 with a body: %q", res.body)
	}
	if got := f.hungUpIDs(); !slices.Equal(got, []string{"b@x"}) {
		t.Fatalf("hung up %v, want [b@x]", got)
	}
	if got := callIDs(t, e, "1001"); !slices.Equal(got, []string{"c@x", "a@x"}) {
		t.Fatalf("after hang-up the admin sees %v", got)
	}
}

func TestCallsHangUpRefusedToNonAdmins(t *testing.T) {
	e, f := newCallsEnv(t)
	// Not even a party may hang up through the API, and the answer does not tell whether
	// the call exists.
	for _, id := range []string{"a@x", "nope"} {
		e.call(t, request{method: http.MethodDelete, path: "/api/v1/calls/" + id, ext: "1002"}, http.StatusForbidden)
	}
	e.call(t, request{method: http.MethodDelete, path: "/api/v1/calls/a@x", noAuth: true}, http.StatusUnauthorized)
	e.call(t, request{method: http.MethodDelete, path: "/api/v1/calls/a@x", ext: "1001", password: "wrong"},
		http.StatusUnauthorized)
	if got := f.hungUpIDs(); len(got) != 0 {
		t.Fatalf("hung up %v", got)
	}
}

func TestCallsHangUpUnknownCallIs404(t *testing.T) {
	e, _ := newCallsEnv(t)
	e.call(t, request{method: http.MethodDelete, path: "/api/v1/calls/gone@x", ext: "1001"}, http.StatusNotFound)
}

func TestCallsHangUpFailureIs500AndLogged(t *testing.T) {
	e, f := newCallsEnv(t)
	f.err = errors.New("switch on fire")
	res := e.call(t, request{method: http.MethodDelete, path: "/api/v1/calls/a@x", ext: "1001"},
		http.StatusInternalServerError)
	if strings.Contains(string(res.body), "fire") {
		t.Errorf("internal detail leaked: %s", res.body)
	}
	if e.logs.FilterMessage("http request failed").Len() == 0 {
		t.Error("failure not logged")
	}
}

func TestCallsListNeedsCredentials(t *testing.T) {
	e, _ := newCallsEnv(t)
	e.call(t, request{path: "/api/v1/calls", noAuth: true}, http.StatusUnauthorized)
}

func TestCallsWrongMethodIs405(t *testing.T) {
	e, _ := newCallsEnv(t)
	for _, r := range []request{
		{method: http.MethodPost, path: "/api/v1/calls", ext: "1001", body: "{}"},
		{method: http.MethodDelete, path: "/api/v1/calls", ext: "1001"},
		{method: http.MethodGet, path: "/api/v1/calls/a@x", ext: "1001"},
		{method: http.MethodPut, path: "/api/v1/calls/a@x", ext: "1001", body: "{}"},
		{method: http.MethodGet, path: "/api/v1/calls/a@x/transfer", ext: "1001"},
		{method: http.MethodDelete, path: "/api/v1/calls/a@x/transfer", ext: "1001"},
	} {
		got := e.do(t, r)
		wantStatus(t, r, got, http.StatusMethodNotAllowed)
		if got.header.Get("Allow") == "" {
			t.Errorf("%s %s: 405 without Allow", r.method, r.path)
		}
	}
}

func TestCallsRoutesAbsentWithoutCalls(t *testing.T) {
	e := newEnv(t)
	e.call(t, request{path: "/api/v1/calls", ext: "1001"}, http.StatusNotFound)
	e.call(t, request{method: http.MethodDelete, path: "/api/v1/calls/a@x", ext: "1001"}, http.StatusNotFound)
	e.call(t, request{method: http.MethodPost, path: "/api/v1/calls/a@x/transfer", ext: "1001", body: `{"to":"1004"}`},
		http.StatusNotFound)
}
