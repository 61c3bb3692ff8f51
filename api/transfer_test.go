package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
)

// transferAs is POST /api/v1/calls/{id}/transfer as ext with body; it requires status want.
func transferAs(t *testing.T, e *env, ext, id, body string, want int) response {
	t.Helper()
	return e.call(t, request{method: http.MethodPost, path: "/api/v1/calls/" + id + "/transfer", ext: ext, body: body}, want)
}

// wantTransfers fails unless the fake took exactly want, in order.
func wantTransfers(t *testing.T, f *fakeCalls, want ...fakeTransfer) {
	t.Helper()
	got := f.transferred()
	if len(got) != len(want) {
		t.Fatalf("the switch was asked %+v, want %+v", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("transfer %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}

// A party to a talking call sends the other party on: 202 with what was asked, and the switch
// is asked with By = the user (whose leg ends), the target, and whether it is voicemail.
func TestTransferByPartySendsTheOtherParty(t *testing.T) {
	e, f := newCallsEnv(t)
	res := transferAs(t, e, "1002", "a@x", `{"to":"1004"}`, http.StatusAccepted)
	if ct := res.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	var got map[string]any
	if err := json.Unmarshal(res.body, &got); err != nil {
		t.Fatalf("%s: %v", res.body, err)
	}
	if got["id"] != "a@x" || got["to"] != "1004" || got["voicemail"] != false || len(got) != 3 {
		t.Errorf("202 body %s, want {\"id\":\"a@x\",\"to\":\"1004\",\"voicemail\":false}", res.body)
	}
	// The callee may transfer too, here straight to a mailbox; and to an outside number
	// (outbound prefix and number, all digits).
	transferAs(t, e, "1003", "a@x", `{"to":"1004","voicemail":true}`, http.StatusAccepted)
	transferAs(t, e, "1003", "a@x", `{"to":"915551234567"}`, http.StatusAccepted)
	wantTransfers(t, f,
		fakeTransfer{ID: "a@x", TransferRequest: TransferRequest{By: "1002", To: "1004"}},
		fakeTransfer{ID: "a@x", TransferRequest: TransferRequest{By: "1003", To: "1004", Voicemail: true}},
		fakeTransfer{ID: "a@x", TransferRequest: TransferRequest{By: "1003", To: "915551234567"}})
}

// An admin names the party that stays on the call; the switch is asked with By "" and Keep.
func TestTransferByAdminNamingTheParty(t *testing.T) {
	e, f := newCallsEnv(t)
	transferAs(t, e, "1001", "a@x", `{"to":"1004","party":"1003"}`, http.StatusAccepted)
	transferAs(t, e, "1001", "a@x", `{"to":"600","party":"1002","voicemail":true}`, http.StatusAccepted)
	wantTransfers(t, f,
		fakeTransfer{ID: "a@x", TransferRequest: TransferRequest{Keep: "1003", To: "1004"}},
		fakeTransfer{ID: "a@x", TransferRequest: TransferRequest{Keep: "1002", To: "600", Voicemail: true}})

	// A party that is not on the call is the admin's mistake: 400, nothing asked.
	transferAs(t, e, "1001", "a@x", `{"to":"1004","party":"1004"}`, http.StatusBadRequest)
	if n := len(f.transferred()); n != 2 {
		t.Errorf("%d transfers after a wrong party, want 2", n)
	}
}

// An admin who is on the call and names no party acts as a party; one who is not on it must
// name the party (400: the switch cannot tell which side to send on).
func TestTransferByAdminWithoutParty(t *testing.T) {
	e, f := newCallsEnv(t)
	f.calls = append(f.calls, Call{ID: "d@x", From: "1004", To: "1001", State: CallTalking, Started: callsT0,
		Answered: callsT0, Parties: []string{"1004", "1001"}})
	transferAs(t, e, "1001", "d@x", `{"to":"1003"}`, http.StatusAccepted)
	wantTransfers(t, f, fakeTransfer{ID: "d@x", TransferRequest: TransferRequest{By: "1001", To: "1003"}})

	res := transferAs(t, e, "1001", "a@x", `{"to":"1004"}`, http.StatusBadRequest)
	if !strings.Contains(string(res.body), "party") {
		t.Errorf("400 for an admin off the call does not say to name the party: %s", res.body)
	}
}

// A user who is not a party to the call may not transfer it, nor may a user name the party.
func TestTransferByNonPartyIs403(t *testing.T) {
	e, f := newCallsEnv(t)
	transferAs(t, e, "1004", "a@x", `{"to":"1004"}`, http.StatusForbidden)
	transferAs(t, e, "1004", "c@x", `{"to":"1004"}`, http.StatusForbidden) // an outside caller in a queue
	// "party" is an admin's word, even from a party naming the call's other side.
	transferAs(t, e, "1002", "a@x", `{"to":"1004","party":"1003"}`, http.StatusForbidden)
	wantTransfers(t, f)
}

func TestTransferUnknownCallIs404(t *testing.T) {
	e, f := newCallsEnv(t)
	transferAs(t, e, "1002", "gone@x", `{"to":"1004"}`, http.StatusNotFound)
	transferAs(t, e, "1001", "gone@x", `{"to":"1004","party":"1002"}`, http.StatusNotFound)
	wantTransfers(t, f)
}

// A call that is not connected to a phone (ringing here) cannot be transferred: 409.
func TestTransferNotConnectedIs409(t *testing.T) {
	e, f := newCallsEnv(t)
	transferAs(t, e, "1002", "b@x", `{"to":"1003"}`, http.StatusConflict)
	f.transferErr = ErrNotTransferable
	transferAs(t, e, "1002", "a@x", `{"to":"1004"}`, http.StatusConflict)
	wantTransfers(t, f)
}

// Errors arriving wrapped are still recognised.
func TestTransferWrappedErrorsKeepTheirStatus(t *testing.T) {
	e, f := newCallsEnv(t)
	for err, want := range map[error]int{
		ErrNoSuchCall:      http.StatusNotFound,
		ErrNotParty:        http.StatusForbidden,
		ErrNotTransferable: http.StatusConflict,
	} {
		f.transferErr = errors.Join(errors.New("sip"), err)
		transferAs(t, e, "1002", "a@x", `{"to":"1004"}`, want)
	}
}

func TestTransferFailureIs500AndLogged(t *testing.T) {
	e, f := newCallsEnv(t)
	f.transferErr = errors.New("owner on fire")
	res := transferAs(t, e, "1002", "a@x", `{"to":"1004"}`, http.StatusInternalServerError)
	if strings.Contains(string(res.body), "fire") {
		t.Errorf("internal detail leaked: %s", res.body)
	}
	if e.logs.FilterMessage("http request failed").Len() == 0 {
		t.Error("failure not logged")
	}
}

// Bodies that are not {"to": digits, ...} are 400 and ask the switch nothing; the server keeps
// serving after them.
func TestTransferBadBodiesAre400(t *testing.T) {
	e, f := newCallsEnv(t)
	for _, c := range []struct{ ext, body string }{
		{"1002", ``},
		{"1002", `not json`},
		{"1002", `{"to":"1004"`},
		{"1002", `[]`},
		{"1002", `null`},
		{"1002", `{}`},
		{"1002", `{"to":""}`},
		{"1002", `{"to":1004}`},
		{"1002", `{"to":"10a4"}`},
		{"1002", `{"to":" 1004"}`},
		{"1002", `{"to":"+15551234567"}`}, // outside numbers are dialled with the outbound prefix
		{"1002", `{"to":"*97"}`},          // feature codes are not transfer targets
		{"1002", `{"to":"١٠٠٤"}`},         // digits, but not ASCII ones
		{"1002", `{"to":"` + strings.Repeat("1", 33) + `"}`},
		{"1002", `{"to":"1004","extra":true}`},
		{"1002", `{"to":"1004","voicemail":"yes"}`},
		{"1002", `{"to":"1004"}{"to":"1003"}`},
		{"1001", `{"to":"1004","party":"Bob"}`},
	} {
		res := transferAs(t, e, c.ext, "a@x", c.body, http.StatusBadRequest)
		t.Logf("%s → %s", c.body, strings.TrimSpace(string(res.body)))
	}
	wantTransfers(t, f)
	transferAs(t, e, "1002", "a@x", `{"to":"1004"}`, http.StatusAccepted)
	callIDs(t, e, "1001")
}

func TestTransferNeedsCredentials(t *testing.T) {
	e, f := newCallsEnv(t)
	e.call(t, request{method: http.MethodPost, path: "/api/v1/calls/a@x/transfer", noAuth: true, body: `{"to":"1004"}`},
		http.StatusUnauthorized)
	e.call(t, request{method: http.MethodPost, path: "/api/v1/calls/a@x/transfer", ext: "1002", password: "wrong",
		body: `{"to":"1004"}`}, http.StatusUnauthorized)
	wantTransfers(t, f)
}

// Another site's page cannot make a signed-in user's browser transfer their call.
func TestTransferCrossOriginRefused(t *testing.T) {
	e, f := newCallsEnv(t)
	e.call(t, request{method: http.MethodPost, path: "/api/v1/calls/a@x/transfer", ext: "1002", body: `{"to":"1004"}`,
		header: map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}}, http.StatusForbidden)
	wantTransfers(t, f)
}
