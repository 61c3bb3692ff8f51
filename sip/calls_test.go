package sip_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	sbsip "github.com/switchboard-voip/switchboard/sip"
)

// waitCallState polls the switch's calls until the call with id is in state, and returns it.
func waitCallState(t *testing.T, sw *testSwitch, id, state string) sbsip.CallInfo {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	var last []sbsip.CallInfo
	for time.Now().Before(deadline) {
		last = sw.srv.Calls()
		for _, c := range last {
			if c.ID == id && c.State == state {
				return c
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("call %s never %s; calls: %+v", id, state, last)
	return sbsip.CallInfo{}
}

// waitNoCalls polls until the switch lists no call.
func waitNoCalls(t *testing.T, sw *testSwitch) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for len(sw.srv.Calls()) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("calls still listed: %+v", sw.srv.Calls())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// wantBye waits for p to get a BYE.
func wantBye(t *testing.T, p *phone, why string) {
	t.Helper()
	select {
	case <-p.byes:
	case <-time.After(5 * time.Second):
		t.Fatalf("%s got no BYE: %s", p.ext, why)
	}
}

func TestCallsShowRingingCallAndHangUpCancelsIt(t *testing.T) {
	sw := startSwitch(t)
	bob := newPhone(t, sw, "1002", "udp").mustRegister()
	alice := newPhone(t, sw, "1001", "udp").mustRegister()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	before := time.Now()
	ic, dialled, errc := ringing(t, ctx, alice, bob, "1002", sipgoAuth(alice))
	d := <-dialled
	if d == nil {
		t.Fatal(<-errc)
	}

	id := callID(d.InviteRequest)
	c := waitCallState(t, sw, id, sbsip.StateRinging)
	if c.From != "1001" || c.To != "1002" || !slices.Equal(c.Parties, []string{"1001", "1002"}) {
		t.Errorf("ringing call = %+v, want from 1001 to 1002, parties [1001 1002]", c)
	}
	if c.Started.Before(before.Add(-time.Second)) || c.Started.After(time.Now()) || !c.Answered.IsZero() {
		t.Errorf("ringing call started %v, answered %v", c.Started, c.Answered)
	}
	if len(c.Trace) == 0 {
		t.Error("ringing call has no routing trace")
	}

	if err := sw.srv.HangUp(id); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; statusOf(err) != 487 {
		t.Fatalf("caller's answer after hang-up: %v, want 487", err)
	}
	gotCancel(t, bob, ic, 3*time.Second)
	waitNoCalls(t, sw)
	sw.waitIdle(t)
}

func TestCallsShowTalkingCallAndHangUpByesBothLegs(t *testing.T) {
	sw := startSwitch(t)
	bob := newPhone(t, sw, "1002", "udp").mustRegister()
	alice := newPhone(t, sw, "1001", "udp").mustRegister()
	_, _, d := bridged(t, alice, bob)
	id := callID(d.InviteRequest)
	c := waitCallState(t, sw, id, sbsip.StateTalking)
	if c.Answered.IsZero() || c.Answered.Before(c.Started) {
		t.Errorf("talking call started %v, answered %v", c.Started, c.Answered)
	}
	if !slices.Equal(c.Parties, []string{"1001", "1002"}) {
		t.Errorf("parties %v", c.Parties)
	}
	if err := sw.srv.HangUp(id); err != nil {
		t.Fatal(err)
	}
	wantBye(t, alice, "caller of a hung-up call")
	wantBye(t, bob, "callee of a hung-up call")
	// HangUp returns once the call is over.
	if calls := sw.srv.Calls(); len(calls) != 0 {
		t.Fatalf("calls after HangUp returned: %+v", calls)
	}
	sw.waitIdle(t)
}

// A caller held for a busy user, then sent to voicemail, is listed as such; hanging up ends only
// that call.
func TestCallsShowHeldThenVoicemailAndHangUpByesCaller(t *testing.T) {
	sw, table, _ := heldSwitch(t, time.Minute)
	alice := newPhone(t, sw, "1001", "udp").mustRegister()
	table.CallStarted("1003", "c1") // Carol is busy
	defer table.CallEnded("1003", "c1")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	d, err := alice.call(ctx, "1003")
	if err != nil {
		t.Fatalf("call to busy Carol: %v", err)
	}
	id := callID(d.InviteRequest)
	c := waitCallState(t, sw, id, sbsip.StateHeld)
	if c.Answered.IsZero() || !slices.Equal(c.Parties, []string{"1001", "1003"}) {
		t.Errorf("held call = %+v, want answered, parties [1001 1003]", c)
	}
	peer := newRTPPeer(t, alice, d.InviteResponse.Body())
	peer.waitHeard(300 * time.Millisecond)
	peer.digit('1')
	c2 := waitCallState(t, sw, id, sbsip.StateVoicemail)
	if !c2.Answered.Equal(c.Answered) {
		t.Errorf("answered moved from %v to %v going to voicemail", c.Answered, c2.Answered)
	}
	if err := sw.srv.HangUp(id); err != nil {
		t.Fatal(err)
	}
	wantBye(t, alice, "caller in voicemail hung up")
	waitNoCalls(t, sw)
	sw.waitIdle(t)
}

func TestCallsNewestFirst(t *testing.T) {
	sw := startSwitch(t)
	bob := newPhone(t, sw, "1002", "udp").mustRegister()
	alice := newPhone(t, sw, "1001", "udp").mustRegister()
	carol := newPhone(t, sw, "1003", "udp").mustRegister()
	dave := newPhone(t, sw, "1004", "udp").mustRegister()
	_, hang1, d1 := bridged(t, alice, bob)
	waitCallState(t, sw, callID(d1.InviteRequest), sbsip.StateTalking)
	_, hang2, d2 := bridged(t, carol, dave)
	waitCallState(t, sw, callID(d2.InviteRequest), sbsip.StateTalking)
	calls := sw.srv.Calls()
	if len(calls) != 2 || calls[0].ID != callID(d2.InviteRequest) || calls[1].ID != callID(d1.InviteRequest) {
		t.Fatalf("calls %+v, want Carol's then Alice's", calls)
	}
	if err := hang1(); err != nil {
		t.Fatal(err)
	}
	if err := hang2(); err != nil {
		t.Fatal(err)
	}
	waitNoCalls(t, sw)
	sw.waitIdle(t)
}

func TestHangUpUnknownCallIsErrNoSuchCall(t *testing.T) {
	sw := startSwitch(t)
	if err := sw.srv.HangUp("no-such-call@example"); !errors.Is(err, sbsip.ErrNoSuchCall) {
		t.Fatalf("HangUp of an unknown call: %v, want ErrNoSuchCall", err)
	}
	if calls := sw.srv.Calls(); calls == nil || len(calls) != 0 {
		t.Fatalf("idle switch lists %#v, want an empty list", calls)
	}
}
