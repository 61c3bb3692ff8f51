package sip_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-voip/switchboard/history"
	"github.com/switchboard-voip/switchboard/presence"
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
	answered, rejected := calls[0], calls[1] // in the order their owners returned, which may be either
	if answered.Outcome != history.Answered {
		answered, rejected = rejected, answered
	}
	if answered.Outcome != history.Answered || !answered.Answered || !answered.Progressed ||
		answered.PostDialDelay > answered.Setup || answered.Setup <= 0 {
		t.Errorf("answered call %+v", answered)
	}
	if rejected.Outcome != history.Rejected || rejected.Answered || !rejected.Progressed {
		t.Errorf("rejected call %+v", rejected)
	}
}

// The Observer times the fan-out of each change of a watched user's status, and only those.
func TestObserverTimesPresenceFanOut(t *testing.T) {
	table, err := presence.NewTable([]presence.User{{Ext: "1001", Name: "Alice"}, {Ext: "1002", Name: "Bob"},
		{Ext: "1003", Name: "Carol"}}, &presence.MemoryStore{})
	if err != nil {
		t.Fatal(err)
	}
	obs := &observed{}
	sw := startSwitch(t, func(o *switchOpts) { o.Presence, o.Observer = table, obs })
	alice := newPhone(t, sw, "1001", "udp")
	notes := alice.notifiesByEvent()
	if res, _ := alice.subscribe(t, "1002", "presence", 600); res.StatusCode != 200 {
		t.Fatalf("SUBSCRIBE: %d", res.StatusCode)
	}
	collect(t, notes["presence"], 1, presenceWord)

	// Carol's change, which nobody watches, goes through the notifier before Bob's.
	for _, ext := range []string{"1003", "1002"} {
		if _, err := table.Set(ext, presence.Change{DND: true, Source: presence.SourceUser, By: ext}); err != nil {
			t.Fatal(err)
		}
	}
	if got := collect(t, notes["presence"], 1, presenceWord); got[0] != "dnd" {
		t.Fatalf("NOTIFY %v, want dnd", got)
	}
	eventually(t, "Bob's change timed", func() bool {
		obs.mu.Lock()
		defer obs.mu.Unlock()
		return obs.fanouts == 1
	})
	if _, err := table.Set("1002", presence.Change{Source: presence.SourceUser, By: "1002"}); err != nil {
		t.Fatal(err)
	}
	collect(t, notes["presence"], 1, presenceWord)
	eventually(t, "Bob's second change timed", func() bool {
		obs.mu.Lock()
		defer obs.mu.Unlock()
		return obs.fanouts == 2
	})
}
