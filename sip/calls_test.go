package sip_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	sbsip "github.com/switchboard-voip/switchboard/sip"
)

// The switch lists its calls with their state and parties, and an administrator's hang-up ends
// a call as a BYE on both legs.
func TestCallsListedAndHungUp(t *testing.T) {
	sw := startSwitch(t)
	bob := newPhone(t, sw, "1002", "udp").mustRegister()
	alice := newPhone(t, sw, "1001", "udp").mustRegister()
	if calls := sw.srv.Calls(); len(calls) != 0 {
		t.Fatalf("calls before any call: %+v", calls)
	}
	_, _, d := bridged(t, alice, bob)
	var got sbsip.CallInfo
	eventually(t, "the call listed as talking", func() bool {
		calls := sw.srv.Calls()
		if len(calls) != 1 {
			return false
		}
		got = calls[0]
		return got.State == "talking"
	})
	if got.ID != callID(d.InviteRequest) || got.From != "1001" || got.To != "1002" ||
		!slices.Equal(got.Parties, []string{"1001", "1002"}) || got.Answered.Before(got.Started) || len(got.Trace) == 0 {
		t.Fatalf("listed call %+v", got)
	}
	if err := sw.srv.HangUp("no-such-call"); !errors.Is(err, sbsip.ErrNoSuchCall) {
		t.Fatalf("HangUp of an unknown call: %v", err)
	}
	if err := sw.srv.HangUp(got.ID); err != nil {
		t.Fatal(err)
	}
	for _, p := range []*phone{alice, bob} {
		select {
		case <-p.byes:
		case <-time.After(5 * time.Second):
			t.Fatalf("%s got no BYE after the hang-up", p.ext)
		}
	}
	sw.waitIdle(t)
	if calls := sw.srv.Calls(); len(calls) != 0 {
		t.Fatalf("calls after the hang-up: %+v", calls)
	}
}

// A ringing call hung up by an administrator is refused, and the phones stop ringing.
func TestRingingCallHungUp(t *testing.T) {
	sw := startSwitch(t)
	bob := newPhone(t, sw, "1002", "udp").mustRegister()
	alice := newPhone(t, sw, "1001", "udp").mustRegister()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		_, err := alice.call(ctx, "1002")
		errc <- err
	}()
	ic := bob.nextIncoming(5 * time.Second)
	var id string
	eventually(t, "the call listed as ringing", func() bool {
		calls := sw.srv.Calls()
		if len(calls) == 1 && calls[0].State == "ringing" {
			id = calls[0].ID
			return true
		}
		return false
	})
	if err := sw.srv.HangUp(id); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; statusOf(err) != 480 {
		t.Fatalf("caller's answer after the hang-up: %v, want 480", err)
	}
	gotCancel(t, bob, ic, 5*time.Second)
	sw.waitIdle(t)
}
