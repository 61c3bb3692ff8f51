package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/switchboard-voip/switchboard/api"
	"github.com/switchboard-voip/switchboard/internal/sipphone"
	sbsip "github.com/switchboard-voip/switchboard/sip"
)

// apiCall is one entry of GET /api/v1/calls.
type apiCall struct {
	ID       string     `json:"id"`
	From     string     `json:"from"`
	To       string     `json:"to"`
	State    string     `json:"state"`
	Started  time.Time  `json:"started"`
	Answered *time.Time `json:"answered"`
	Parties  []string   `json:"parties"`
	Trace    []string   `json:"trace"`
}

// activeCalls is GET /api/v1/calls as ext.
func (sw *webSwitch) activeCalls(t *testing.T, ext string) []apiCall {
	t.Helper()
	code, body := sw.api(t, http.MethodGet, "/api/v1/calls", ext)
	if code != http.StatusOK {
		t.Fatalf("GET /api/v1/calls as %s: %d %s", ext, code, body)
	}
	var calls []apiCall
	if err := json.Unmarshal(body, &calls); err != nil {
		t.Fatalf("GET /api/v1/calls: %v in %s", err, body)
	}
	return calls
}

// waitCalls polls GET /api/v1/calls as the admin until ok accepts the list, and returns it.
func (sw *webSwitch) waitCalls(t *testing.T, what string, ok func([]apiCall) bool) []apiCall {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		calls := sw.activeCalls(t, "1001")
		if ok(calls) {
			return calls
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET /api/v1/calls never showed %s; last: %+v", what, calls)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitCall waits until the call with id is listed in state, and returns it.
func (sw *webSwitch) waitCall(t *testing.T, id, state string) apiCall {
	t.Helper()
	var found apiCall
	sw.waitCalls(t, "call "+id+" "+state, func(calls []apiCall) bool {
		for _, c := range calls {
			if c.ID == id && c.State == state {
				found = c
				return true
			}
		}
		return false
	})
	return found
}

// hangUp is DELETE /api/v1/calls/{id} as ext; it returns the status.
func (sw *webSwitch) hangUp(t *testing.T, id, ext string) int {
	t.Helper()
	code, body := sw.api(t, http.MethodDelete, "/api/v1/calls/"+id, ext)
	if code != http.StatusNoContent && code != http.StatusForbidden && code != http.StatusNotFound {
		t.Fatalf("DELETE /api/v1/calls/%s as %s: %d %s", id, ext, code, body)
	}
	return code
}

// wantDialogEnded waits for the switch's BYE to end a phone's dialog.
func wantDialogEnded(t *testing.T, d *sipgo.DialogClientSession, who string) {
	t.Helper()
	select {
	case <-d.Context().Done():
		if d.LoadState() != sip.DialogStateEnded {
			t.Fatalf("%s's dialog ended in state %v", who, d.LoadState())
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("%s got no BYE after the hang-up", who)
	}
}

// An admin sees every call in progress with its state and parties, and hangs calls up from the
// API: a call to an available user (talking), to a busy one (held), to one on DND (voicemail)
// and one still ringing. Each caller notices: BYE, or 487 while ringing.
func TestAdminSeesCallsAndHangsThemUp(t *testing.T) {
	sw := startWebSwitch(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	phones := map[string]*sipphone.Phone{}
	for _, ext := range []string{"1002", "1003", "1004", "1005"} {
		phones[ext] = newWebPhone(t, sw.cfg.SIPPort, ext)
		phones[ext].Register(ctx)
	}
	bob, carol, dave, erin := phones["1002"], phones["1003"], phones["1004"], phones["1005"]

	// Available: Dave calls Bob, whose phone answers.
	toBob, _ := dave.Call(ctx, "1002")
	talking := sw.waitCall(t, toBob.InviteRequest.CallID().Value(), "talking")
	if talking.From != "1004" || talking.To != "1002" || !slices.Equal(talking.Parties, []string{"1004", "1002"}) ||
		talking.Answered == nil || len(talking.Trace) == 0 {
		t.Fatalf("Dave's call to Bob: %+v", talking)
	}
	// A user sees the calls they take part in, and nobody else's.
	if calls := sw.activeCalls(t, "1002"); len(calls) != 1 || calls[0].ID != talking.ID {
		t.Fatalf("Bob sees %+v, want his call", calls)
	}
	if calls := sw.activeCalls(t, "1003"); len(calls) != 0 {
		t.Fatalf("Carol sees %+v, want none", calls)
	}
	if code := sw.hangUp(t, talking.ID, "1002"); code != http.StatusForbidden {
		t.Fatalf("Bob hanging up through the API: %d, want 403", code)
	}

	// Busy: Erin calls Bob, who is talking to Dave; she is held.
	erinToBob, _ := erin.Call(ctx, "1002")
	held := sw.waitCall(t, erinToBob.InviteRequest.CallID().Value(), "held")
	if !slices.Equal(held.Parties, []string{"1005", "1002"}) || held.Answered == nil {
		t.Fatalf("Erin held for Bob: %+v", held)
	}
	if calls := sw.activeCalls(t, "1001"); len(calls) != 2 || calls[0].ID != held.ID || calls[1].ID != talking.ID {
		t.Fatalf("admin sees %+v, want Erin's call, then Dave's (newest first)", calls)
	}
	if code := sw.hangUp(t, held.ID, "1001"); code != http.StatusNoContent {
		t.Fatalf("admin hanging up Erin's call: %d", code)
	}
	wantDialogEnded(t, erinToBob, "Erin (held)")
	sw.waitCalls(t, "only Dave's call", func(c []apiCall) bool { return len(c) == 1 && c[0].ID == talking.ID })

	// The talking call: both phones get BYE.
	if code := sw.hangUp(t, talking.ID, "1001"); code != http.StatusNoContent {
		t.Fatalf("admin hanging up Dave's call: %d", code)
	}
	wantDialogEnded(t, toBob, "Dave (talking)")
	select {
	case ds := <-bob.Answered():
		select {
		case <-ds.Context().Done():
		case <-time.After(5 * time.Second):
			t.Fatal("Bob's phone got no BYE after the hang-up")
		}
	default:
		t.Fatal("Bob's phone never answered")
	}
	sw.waitCalls(t, "no calls", func(c []apiCall) bool { return len(c) == 0 })
	if code := sw.hangUp(t, talking.ID, "1001"); code != http.StatusNotFound {
		t.Fatalf("hanging up an ended call: %d, want 404", code)
	}

	// DND: Carol turns DND on; Dave's call goes to her voicemail.
	if code, body := apiSend(t, http.MethodPut, sw.cfg.HTTPPort, "/api/v1/presence/1003", "1003", webPassword("1003"),
		"application/json", []byte(`{"status":"dnd"}`)); code != http.StatusOK {
		t.Fatalf("Carol's DND: %d %s", code, body)
	}
	toCarol, _ := dave.Call(ctx, "1003")
	vm := sw.waitCall(t, toCarol.InviteRequest.CallID().Value(), "voicemail")
	if !slices.Equal(vm.Parties, []string{"1004", "1003"}) {
		t.Fatalf("Dave in Carol's voicemail: %+v", vm)
	}
	if calls := sw.activeCalls(t, "1003"); len(calls) != 1 || calls[0].ID != vm.ID {
		t.Fatalf("Carol sees %+v, want the call to her voicemail", calls)
	}
	if code := sw.hangUp(t, vm.ID, "1001"); code != http.StatusNoContent {
		t.Fatalf("admin hanging up the voicemail call: %d", code)
	}
	wantDialogEnded(t, toCarol, "Dave (voicemail)")
	sw.waitCalls(t, "no calls", func(c []apiCall) bool { return len(c) == 0 })
	select {
	case <-carol.Answered():
		t.Fatal("Carol's phone answered while on DND")
	default:
	}

	// Ringing: Alice's phone rings and never answers; hanging up cancels it and Erin gets 487.
	alice := sipphone.NewRinging(t, sw.cfg.SIPPort, "1001", webPassword("1001"))
	alice.Register(ctx)
	cancels := alice.Cancels()
	d, err := erin.Dial(ctx, "1001")
	if err != nil {
		t.Fatal(err)
	}
	answer := make(chan error, 1)
	go func() { answer <- d.WaitAnswer(ctx, erin.Auth()) }()
	ringing := sw.waitCall(t, d.InviteRequest.CallID().Value(), "ringing")
	if ringing.Answered != nil || !slices.Equal(ringing.Parties, []string{"1005", "1001"}) {
		t.Fatalf("Erin ringing Alice: %+v", ringing)
	}
	if code := sw.hangUp(t, ringing.ID, "1001"); code != http.StatusNoContent {
		t.Fatalf("admin hanging up a ringing call: %d", code)
	}
	var de *sipgo.ErrDialogResponse
	if err := <-answer; !errors.As(err, &de) || de.Res.StatusCode != 487 {
		t.Fatalf("Erin's ringing call after the hang-up: %v, want 487", err)
	}
	select {
	case <-cancels:
	case <-time.After(5 * time.Second):
		t.Fatal("Alice's ringing phone got no CANCEL")
	}
	sw.waitCalls(t, "no calls", func(c []apiCall) bool { return len(c) == 0 })
}

// The SIP server's refusals of a call request become the API's errors (which the API answers
// 404, 403 or 400, and 409), wrapped or not; anything else passes through for a logged 500.
func TestCallsViewMapsSIPErrors(t *testing.T) {
	other := errors.New("owner gone quiet")
	for _, c := range []struct {
		in, want error
	}{
		{nil, nil},
		{sbsip.ErrNoSuchCall, api.ErrNoSuchCall},
		{sbsip.ErrNotParty, api.ErrNotParty},
		{sbsip.ErrNotTransferable, api.ErrNotTransferable},
		{fmt.Errorf("transfer x: %w", sbsip.ErrNotParty), api.ErrNotParty},
		{other, other},
	} {
		if got := apiCallError(c.in); got != c.want {
			t.Errorf("apiCallError(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

// The real switch serves POST /api/v1/calls/{id}/transfer: a call that is not in progress is
// 404 through the SIP server's own answer, and a body that is not JSON is 400.
func TestTransferAPIOnTheSwitch(t *testing.T) {
	sw := startWebSwitch(t)
	for _, c := range []struct {
		ext, body string
		want      int
	}{
		{"1002", `{"to":"1003"}`, http.StatusNotFound},
		{"1001", `{"to":"1003","party":"1002"}`, http.StatusNotFound},
		{"1002", `{"to":"nobody"}`, http.StatusBadRequest},
		{"1002", `to=1003`, http.StatusBadRequest},
		{"1002", `{"to":"1003","party":"1004"}`, http.StatusForbidden},
	} {
		code, body := apiSend(t, http.MethodPost, sw.cfg.HTTPPort, "/api/v1/calls/no-such-call@x/transfer", c.ext,
			webPassword(c.ext), "application/json", []byte(c.body))
		if code != c.want || !strings.Contains(string(body), `"error"`) {
			t.Errorf("%s as %s: %d %s, want %d with an error", c.body, c.ext, code, body, c.want)
		}
	}
}
