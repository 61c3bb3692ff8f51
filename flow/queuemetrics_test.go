package flow

import (
	"sync"
	"testing"
	"time"

	"github.com/switchboard-voip/switchboard/internal/clock"
	"github.com/switchboard-voip/switchboard/presence"
)

// queueWaits records what OnQueueLeft hears.
type queueWaits struct {
	mu   sync.Mutex
	seen []string
}

func (w *queueWaits) left(r QueueResult, d time.Duration) {
	w.mu.Lock()
	w.seen = append(w.seen, string(r)+" "+d.String())
	w.mu.Unlock()
}

func (w *queueWaits) got() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.seen...)
}

// Each wait in a queue is reported once, with how it ended and how long it was on the engine's
// clock; QueueWaiting counts the callers waiting now.
func TestQueueWaitsAreReported(t *testing.T) {
	agent := presence.State{Ext: "1002", Status: presence.DND, Registered: true}
	st := &fakeStatuses{st: map[string]presence.State{"1002": agent}}
	clk := clock.NewFake(epoch)
	waits := &queueWaits{}
	e, err := New(Options{Router: &fakeRouter{}, Statuses: st, Clock: clk, OnQueueLeft: waits.left})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)

	// Timed out: max_wait passes.
	c := newFakeCall(t, clk, "1001")
	done := run(e, c, queuePlan(time.Minute, 0))
	c.waitFor("via 700")
	settle(t, clk, 2)
	if n := e.QueueWaiting(); n != 1 {
		t.Fatalf("QueueWaiting %d, want 1", n)
	}
	clk.Advance(time.Minute)
	waitDone(t, done)

	// Abandoned: the caller hangs up after 10 s.
	c = newFakeCall(t, clk, "1003")
	done = run(e, c, queuePlan(time.Hour, 0))
	c.waitFor("via 700")
	settle(t, clk, 2)
	clk.Advance(10 * time.Second)
	c.Post(CallerGone{})
	waitDone(t, done)

	// Answered: the agent becomes available and takes the call at once.
	c = newFakeCall(t, clk, "1004")
	done = run(e, c, queuePlan(time.Hour, 0))
	c.waitFor("via 700")
	agent.Status = presence.Available
	st.set(agent)
	e.StatusChanged(agent)
	c.waitFor("ring 1002 15s")
	c.rings <- Rang{Result: Answered, Party: &fakeParty{call: c, ext: "1002"}}
	waitDone(t, done)

	want := []string{"timeout 1m0s", "abandoned 10s", "answered 0s"}
	got := waits.got()
	if len(got) != len(want) {
		t.Fatalf("reported %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("reported %q, want %q", got, want)
		}
	}
	if n := e.QueueWaiting(); n != 0 {
		t.Errorf("QueueWaiting %d after every caller left", n)
	}
}
