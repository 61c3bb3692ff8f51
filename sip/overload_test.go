package sip_test

import (
	"context"
	"testing"
	"time"

	sbsip "github.com/switchboard-voip/switchboard/sip"

	"github.com/switchboard-voip/switchboard/internal/clock"
)

// TestNewCallsPastTheLimitsGet503: past sip.max_calls a new call is refused at once with 503
// and Retry-After while the call already up goes on; past sip.max_call_rate likewise until
// the second has passed. The refusal comes before the digest challenge (a 407 would cost a
// round trip and a nonce for a call that will not be taken).
func TestNewCallsPastTheLimitsGet503(t *testing.T) {
	clk := clock.NewFake(time.Now())
	sw := startSwitch(t, func(o *switchOpts) {
		o.Clock = clk
		o.Overload = sbsip.Overload{MaxCalls: 1, MaxRate: 2, RetryAfter: 3 * time.Second}
	})
	bob := newPhone(t, sw, "1002", "udp").mustRegister()
	carol := newPhone(t, sw, "1003", "udp").mustRegister()
	alice := newPhone(t, sw, "1001", "udp").mustRegister()
	_, hangup, _ := bridged(t, alice, bob) // the first of the second's two calls

	wantRefused(t, carol, "1001", "3", "a second call while one is up (max_calls 1)")
	if sw.srv.ActiveCalls() != 1 {
		t.Fatalf("%d calls in progress, want the first one still up", sw.srv.ActiveCalls())
	}
	if err := hangup(); err != nil {
		t.Fatal(err)
	}
	sw.waitIdle(t)

	// The rate counts authenticated attempts (a phone's first INVITE only fetches the
	// challenge): the refused one took nothing, so the second of this second's two calls is
	// taken (1999 is nobody: 404), the third is refused, and a second later one is taken again.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := carol.call(ctx, "1999"); statusOf(err) != 404 {
		t.Fatalf("the second call of the second: %v, want 404 (taken)", err)
	}
	refusedAuthenticated := func(what string) {
		t.Helper()
		if _, err := carol.call(ctx, "1999"); statusOf(err) != 503 {
			t.Fatalf("%s: %v, want 503", what, err)
		}
	}
	refusedAuthenticated("a third call in the same second (max_call_rate 2)")
	clk.Advance(time.Second)
	if _, err := carol.call(ctx, "1999"); statusOf(err) != 404 {
		t.Fatalf("a call a second later: %v, want 404 (taken)", err)
	}
	if n := sw.srv.CallsRefused(); n != 2 {
		t.Errorf("CallsRefused() = %d, want the 2 refused (metrics)", n)
	}
}

// wantRefused has caller call to and wants it refused before any challenge: 503 with
// Retry-After retryAfter (seconds).
func wantRefused(t *testing.T, caller *phone, to, retryAfter, what string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	d, err := caller.dial(ctx, to)
	if err != nil {
		t.Fatal(err)
	}
	err = d.WaitAnswer(ctx, sipgoNoAuth())
	if statusOf(err) != 503 {
		t.Fatalf("%s: %v, want 503", what, err)
	}
	if ra := errResponse(err).GetHeader("Retry-After"); ra == nil || ra.Value() != retryAfter {
		t.Fatalf("%s: Retry-After %v, want %s", what, ra, retryAfter)
	}
}
