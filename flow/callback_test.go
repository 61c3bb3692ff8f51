package flow

import (
	"testing"
	"time"

	"github.com/switchboard-voip/switchboard/history"
	"github.com/switchboard-voip/switchboard/presence"
)

// fakeOriginator hands the calls the engine places to the test.
type fakeOriginator struct{ placed chan Origination }

func newFakeOriginator() *fakeOriginator { return &fakeOriginator{placed: make(chan Origination, 8)} }

func (f *fakeOriginator) Originate(o Origination) error {
	f.placed <- o
	return nil
}

func (f *fakeOriginator) next(t *testing.T) Origination {
	t.Helper()
	select {
	case o := <-f.placed:
		return o
	case <-time.After(10 * time.Second):
		t.Fatal("no callback placed")
		return Origination{}
	}
}

func (f *fakeOriginator) none(t *testing.T, why string) {
	t.Helper()
	select {
	case o := <-f.placed:
		t.Fatalf("callback to %s placed: %s", o.To, why)
	default:
	}
}

// bookCallback has caller (held for busy 1002) press 2 and returns once the flow is over.
func bookCallback(t *testing.T, e *Engine, c *fakeCall) {
	t.Helper()
	done := startHold(t, e, c.clk, c)
	c.Post(Digit{Key: '2'})
	c.waitFor("holding false")
	c.waitFor("play 3") // "We will call you back. Goodbye."
	c.finishPlay()
	waitDone(t, done)
	if c.outcome != history.Callback || e.Waiting("1002") != 0 {
		t.Fatalf("after 2: outcome %q, %d waiting", c.outcome, e.Waiting("1002"))
	}
}

func TestCallbackWaitsForTheUserThenTheCallerToBeFree(t *testing.T) {
	st := &fakeStatuses{st: map[string]presence.State{
		"1001": {Ext: "1001", Status: presence.Busy, Registered: true}, // on the held call
		"1002": {Ext: "1002", Status: presence.Busy, Registered: true},
	}}
	e, clk, _ := newEngine(t, st)
	orig := newFakeOriginator()
	e.SetOriginator(orig)
	bookCallback(t, e, newFakeCall(t, clk, "1001"))
	if cbs := e.Callbacks(); len(cbs) != 1 || cbs[0].Number != "1001" || cbs[0].For != "1002" || cbs[0].Dialling {
		t.Fatalf("pending: %+v", cbs)
	}

	// Bob is free but Alice is on another call: her callback waits for her.
	bob := presence.State{Ext: "1002", Status: presence.Available, Registered: true}
	st.set(bob)
	e.StatusChanged(bob)
	orig.none(t, "the caller is on another call")
	alice := presence.State{Ext: "1001", Status: presence.Available, Registered: true}
	st.set(alice)
	e.StatusChanged(alice)
	o := orig.next(t)
	if o.Ring.Targets[0] != "1002" || o.RingFrom != "1001" || o.RingFromName != "Callback: 1001" ||
		o.Caller != "1002" || o.From != "1002" || o.To != "1001" {
		t.Fatalf("callback placed as %+v", o)
	}
	e.StatusChanged(bob) // one callback at a time per user
	orig.none(t, "a second callback while the first rings")

	// Bob answers; Alice is rung and answers; they are bridged and the request is done.
	cb := newFakeCall(t, clk, "1002")
	done := make(chan struct{})
	go func() { defer close(done); o.Run(cb, Originated{Result: Answered, Ext: "1002"}) }()
	cb.waitFor("ring 1001 30s")
	cb.rings <- Rang{Result: Answered, Party: &fakeParty{call: cb, ext: "1001"}}
	cb.waitFor("bridge 1001")
	waitDone(t, done)
	if cbs := e.Callbacks(); len(cbs) != 0 {
		t.Fatalf("still pending after connecting: %+v", cbs)
	}
}

func TestCancelledCallbackIsNotPlaced(t *testing.T) {
	st := &fakeStatuses{st: map[string]presence.State{"1002": {Ext: "1002", Status: presence.Busy, Registered: true}}}
	e, clk, _ := newEngine(t, st)
	orig := newFakeOriginator()
	e.SetOriginator(orig)
	bookCallback(t, e, newFakeCall(t, clk, "1001"))
	id := e.Callbacks()[0].ID
	if err := e.CancelCallback(id); err != nil {
		t.Fatal(err)
	}
	if err := e.CancelCallback(id); err == nil {
		t.Fatal("a callback cancelled twice")
	}
	free := presence.State{Ext: "1002", Status: presence.Available, Registered: true}
	st.set(free)
	e.StatusChanged(free)
	orig.none(t, "it was cancelled")
}

func TestCallbackCallerNotAnsweringIsTriedAgainLater(t *testing.T) {
	st := &fakeStatuses{st: map[string]presence.State{"1002": {Ext: "1002", Status: presence.Busy, Registered: true}}}
	e, clk, _ := newEngine(t, st)
	orig := newFakeOriginator()
	e.SetOriginator(orig)
	bookCallback(t, e, newFakeCall(t, clk, "1001"))
	free := presence.State{Ext: "1002", Status: presence.Available, Registered: true}
	st.set(free)
	e.StatusChanged(free)
	o := orig.next(t)

	// Bob answers, Alice does not: Bob hears so, and the attempt counts.
	cb := newFakeCall(t, clk, "1002")
	done := make(chan struct{})
	go func() { defer close(done); o.Run(cb, Originated{Result: Answered, Ext: "1002"}) }()
	cb.waitFor("ring 1001 30s")
	cb.rings <- Rang{Result: NoAnswer}
	cb.waitFor("play 2") // ringback was play 1; then "not available"
	cb.finishPlay()
	waitDone(t, done)
	cbs := e.Callbacks()
	if len(cbs) != 1 || cbs[0].Attempts != 1 || !cbs[0].NotBefore.Equal(clk.Now().Add(CallbackRetry)) || cbs[0].Dialling {
		t.Fatalf("after the caller did not answer: %+v", cbs)
	}
	e.StatusChanged(free) // Bob free again at once: too early for the next attempt
	orig.none(t, "tried again before CallbackRetry")
	settle(t, clk, 1)
	clk.Advance(CallbackRetry)
	if o := orig.next(t); o.To != "1001" {
		t.Fatalf("second attempt: %+v", o)
	}
}
