package sip_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-voip/switchboard/history"
	sbsip "github.com/switchboard-voip/switchboard/sip"
)

// observed records what the switch tells its Observer.
type observed struct {
	mu        sync.Mutex
	calls     []sbsip.CallSummary
	auth      []string
	registers int
	fanouts   int
}

func (o *observed) CallEnded(c sbsip.CallSummary) {
	o.mu.Lock()
	o.calls = append(o.calls, c)
	o.mu.Unlock()
}

func (o *observed) AuthFailed(reason string) {
	o.mu.Lock()
	o.auth = append(o.auth, reason)
	o.mu.Unlock()
}

func (o *observed) RegisterAccepted() {
	o.mu.Lock()
	o.registers++
	o.mu.Unlock()
}

func (o *observed) PresenceFannedOut(time.Duration) {
	o.mu.Lock()
	o.fanouts++
	o.mu.Unlock()
}

func (o *observed) snapshot() (calls []sbsip.CallSummary, auth []string, registers int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.calls), slices.Clone(o.auth), o.registers
}

// The Observer hears each accepted REGISTER, each failed authentication with its reason, and
// each call's end with its outcome, set-up time and post-dial delay.
func TestObserverHearsCallsRegistrationsAndAuthFailures(t *testing.T) {
	obs := &observed{}
	sw := startSwitch(t, func(o *switchOpts) { o.Observer = obs })
	bob := newPhone(t, sw, "1002", "udp").mustRegister()
	alice := newPhone(t, sw, "1001", "udp").mustRegister()
	if res := newPhone(t, sw, "1003", "udp").register("wrong", 60); res.StatusCode != 401 && res.StatusCode != 403 {
		t.Fatalf("a wrong password got %d", res.StatusCode)
	}

	_, hangup, _ := bridged(t, alice, bob)
	_ = hangup()
	<-bob.byes
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := alice.call(ctx, "1999"); statusOf(err) != 404 {
		t.Fatalf("call to 1999: %v", err)
	}
	sw.waitIdle(t)
	eventually(t, "both calls observed", func() bool {
		calls, _, _ := obs.snapshot()
		return len(calls) == 2
	})

	calls, auth, registers := obs.snapshot()
	if registers != 2 {
		t.Errorf("%d registrations accepted, want 2", registers)
	}
	if !slices.Equal(auth, []string{sbsip.AuthBadPassword}) {
		t.Errorf("auth failures %q, want one bad_password", auth)
	}
	answered, rejected := calls[0], calls[1]
	if answered.Outcome != history.Answered || !answered.Answered || !answered.Progressed ||
		answered.PostDialDelay > answered.Setup || answered.Setup <= 0 {
		t.Errorf("answered call %+v", answered)
	}
	if rejected.Outcome != history.Rejected || rejected.Answered || !rejected.Progressed {
		t.Errorf("rejected call %+v", rejected)
	}
}
