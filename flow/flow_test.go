package flow

import (
	"slices"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/switchboard-voip/switchboard/history"
	"github.com/switchboard-voip/switchboard/internal/clock"
	"github.com/switchboard-voip/switchboard/presence"
	"github.com/switchboard-voip/switchboard/routing"
)

var epoch = time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)

func newEngine(t *testing.T, st Statuses) (*Engine, *clock.Fake, *fakeRouter) {
	t.Helper()
	clk := clock.NewFake(epoch)
	r := &fakeRouter{plans: map[string]routing.Plan{}}
	e, err := New(Options{Router: r, Statuses: st, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e, clk, r
}

var unavailable = &routing.Plan{Action: routing.Reject, Refusal: routing.Unavailable}

func holdPlan() routing.Plan {
	return routing.Plan{Action: routing.Hold, Ext: "1002", Greeting: routing.GreetingBusy,
		HoldLimit: 5 * time.Minute, NoAnswer: unavailable}
}

// startHold runs a hold plan up to the music on hold, with its hold-limit timer set.
func startHold(t *testing.T, e *Engine, clk *clock.Fake, c *fakeCall) <-chan struct{} {
	t.Helper()
	done := run(e, c, holdPlan())
	c.waitFor("answer")
	c.waitFor("play 1") // the busy greeting
	c.finishPlay()
	c.waitFor("play 2") // music on hold
	settle(t, clk, 1)
	return done
}

func TestHoldLimitSendsTheCallerOn(t *testing.T) {
	e, clk, _ := newEngine(t, nil)
	c := newFakeCall(t, clk, "1001")
	done := startHold(t, e, clk, c)
	if e.Waiting("1002") != 1 {
		t.Fatalf("waiting for 1002: %d, want 1", e.Waiting("1002"))
	}
	clk.Advance(5*time.Minute - time.Second)
	if clk.Pending() != 1 || c.has("refuse") {
		t.Fatalf("the hold ended before its limit: %q", c.log())
	}
	clk.Advance(time.Second)
	c.waitFor("refuse unavailable")
	waitDone(t, done)
	if e.Waiting("1002") != 0 || !c.has("holding false") {
		t.Fatalf("the caller is still in line: waiting %d, %q", e.Waiting("1002"), c.log())
	}
}

func TestHeldCallerIsPutThroughWhenTheUserIsFree(t *testing.T) {
	st := &fakeStatuses{st: map[string]presence.State{"1002": {Ext: "1002", Status: presence.Busy}}}
	e, clk, r := newEngine(t, st)
	c := newFakeCall(t, clk, "1001")
	done := startHold(t, e, clk, c)
	r.set("1002", routing.Plan{Action: routing.Ring, Targets: []string{"1002"}, RingTimeout: 20 * time.Second,
		NoAnswer: unavailable})
	free := presence.State{Ext: "1002", Status: presence.Available}
	st.set(free)
	e.StatusChanged(free)
	c.waitFor("ring 1002 20s")
	c.rings <- Rang{Result: Answered, Party: &fakeParty{call: c, ext: "1002"}}
	c.waitFor("bridge 1002")
	waitDone(t, done)
}

func TestHeldCallerBusyAgainKeepsWaiting(t *testing.T) {
	st := &fakeStatuses{st: map[string]presence.State{"1002": {Ext: "1002", Status: presence.Busy}}}
	e, clk, r := newEngine(t, st)
	c := newFakeCall(t, clk, "1001")
	done := startHold(t, e, clk, c)
	r.set("1002", holdPlan()) // another call got in first
	e.StatusChanged(presence.State{Ext: "1002", Status: presence.Available})
	c.Post(Digit{Key: '1'}) // a sync point: the wake-up above was handled before this
	c.waitFor("refuse unavailable")
	waitDone(t, done)
	if c.has("ring") {
		t.Fatalf("a busy user was rung: %q", c.log())
	}
}

func TestHeldCallersAreToldWhenTheUserTurnsDND(t *testing.T) {
	e, clk, _ := newEngine(t, &fakeStatuses{st: map[string]presence.State{}})
	c1, c2 := newFakeCall(t, clk, "1001"), newFakeCall(t, clk, "1003")
	done1 := startHold(t, e, clk, c1)
	done2 := run(e, c2, holdPlan())
	c2.waitFor("play 1")
	c2.finishPlay()
	c2.waitFor("play 2")
	e.StatusChanged(presence.State{Ext: "1002", Status: presence.DND})
	c1.waitFor("refuse unavailable")
	c2.waitFor("refuse unavailable")
	waitDone(t, done1)
	waitDone(t, done2)
}

func TestHeldCallerHangsUp(t *testing.T) {
	e, clk, _ := newEngine(t, nil)
	c := newFakeCall(t, clk, "1001")
	done := startHold(t, e, clk, c)
	c.Post(CallerGone{})
	waitDone(t, done)
	if e.Waiting("1002") != 0 || c.has("refuse") {
		t.Fatalf("waiting %d after hang-up; did %q", e.Waiting("1002"), c.log())
	}
}

func queuePlan(maxWait, wrapup time.Duration) routing.Plan {
	return routing.Plan{Action: routing.Enqueue, NoAnswer: unavailable, Queue: routing.Queue{
		Ext: "700", Strategy: routing.LongestIdle, Members: []string{"1002"},
		RingTimeout: 15 * time.Second, MaxWait: maxWait, Wrapup: wrapup}}
}

func TestQueueMaxWaitSendsTheCallerToTheFallback(t *testing.T) {
	st := &fakeStatuses{st: map[string]presence.State{"1002": {Ext: "1002", Status: presence.DND, Registered: true}}}
	e, clk, _ := newEngine(t, st)
	c := newFakeCall(t, clk, "1001")
	done := run(e, c, queuePlan(time.Minute, 0))
	c.waitFor("via 700")
	settle(t, clk, 2) // the caller's max wait and the dispatcher's own timer
	if s := e.QueueStats("700"); s.Waiting != 1 {
		t.Fatalf("queue stats %+v, want one caller waiting", s)
	}
	clk.Advance(time.Minute)
	c.waitFor("refuse unavailable")
	waitDone(t, done)
	if s := e.QueueStats("700"); s.Waiting != 0 || c.has("ring") {
		t.Fatalf("queue stats %+v after the caller left; did %q", s, c.log())
	}
}

func TestQueueAgentRestsAfterACall(t *testing.T) {
	agent := presence.State{Ext: "1002", Status: presence.Available, Registered: true}
	st := &fakeStatuses{st: map[string]presence.State{"1002": agent}}
	e, clk, _ := newEngine(t, st)

	first := newFakeCall(t, clk, "1001")
	done1 := run(e, first, queuePlan(time.Hour, 5*time.Second))
	first.waitFor("ring 1002 15s")
	first.rings <- Rang{Result: Answered, Party: &fakeParty{call: first, ext: "1002"}}
	first.waitFor("bridge 1002")
	waitDone(t, done1)
	if first.outcome != "" {
		t.Fatalf("outcome %q set by the queue; the bridge sets answered", first.outcome)
	}

	// The agent's call: on it, then off it; wrap-up runs from the end.
	onCall := agent
	onCall.OnCall, onCall.Status = true, presence.Busy
	st.set(onCall)
	e.StatusChanged(onCall)
	st.set(agent)
	e.StatusChanged(agent)

	second := newFakeCall(t, clk, "1003")
	done2 := run(e, second, queuePlan(time.Hour, 5*time.Second))
	second.waitFor("via 700")
	settle(t, clk, 2)
	if s := e.QueueStats("700"); len(s.WrapUp) != 1 {
		t.Fatalf("queue stats %+v, want 1002 in wrap-up", s)
	}
	clk.Advance(4 * time.Second)
	if second.has("ring") {
		t.Fatalf("offered during wrap-up: %q", second.log())
	}
	clk.Advance(2 * time.Second)
	second.waitFor("ring 1002 15s")
	second.Post(CallerGone{})
	second.rings <- Rang{Result: Gone}
	waitDone(t, done2)
	if s := e.QueueStats("700"); s.Waiting != 0 || len(s.Ringing) != 0 {
		t.Fatalf("queue stats %+v after the caller left", s)
	}
}

func TestQueuedCallerHangingUpIsAbandoned(t *testing.T) {
	st := &fakeStatuses{st: map[string]presence.State{"1002": {Ext: "1002", Status: presence.DND, Registered: true}}}
	e, clk, _ := newEngine(t, st)
	c := newFakeCall(t, clk, "1001")
	done := run(e, c, queuePlan(time.Minute, 0))
	c.waitFor("via 700")
	c.Post(CallerGone{})
	waitDone(t, done)
	if c.outcome != history.Abandoned {
		t.Fatalf("outcome %q, want abandoned", c.outcome)
	}
}

func screeningPlan() routing.Plan {
	return routing.Plan{Action: routing.Ring, Targets: []string{"1002"}, RingTimeout: 20 * time.Second, Screening: true,
		NoAnswer: &routing.Plan{Action: routing.Voicemail, Box: "1002", Greeting: routing.GreetingNoAnswer}}
}

// startScreening rings the screening user and lets them answer and hear the menu.
func startScreening(t *testing.T, e *Engine, c *fakeCall) <-chan struct{} {
	t.Helper()
	done := run(e, c, screeningPlan())
	c.waitFor("ring 1002")
	c.rings <- Rang{Result: Answered, Party: &fakeParty{call: c, ext: "1002"}}
	c.waitFor("party play")
	return done
}

func TestScreeningWithoutAChoiceSendsToVoicemail(t *testing.T) {
	e, clk, _ := newEngine(t, nil)
	c := newFakeCall(t, clk, "1001")
	done := startScreening(t, e, c)
	c.Post(PlayDone{ID: 1, FromParty: true})
	settle(t, clk, 1)
	clk.Advance(ScreenWait - time.Millisecond)
	if c.has("release") {
		t.Fatalf("released before the wait was over: %q", c.log())
	}
	clk.Advance(time.Millisecond)
	c.waitFor("release 1002")
	c.waitFor("refuse unavailable") // no mailbox store in this engine: voicemail refuses
	waitDone(t, done)
	if c.has("bridge") {
		t.Fatalf("bridged without acceptance: %q", c.log())
	}
}

func TestScreeningChoices(t *testing.T) {
	for key, want := range map[byte]string{'1': "bridge 1002", '2': "release 1002", '3': "release 1002"} {
		t.Run(string(key), func(t *testing.T) {
			st := &fakeStatuses{st: map[string]presence.State{}}
			e, clk, _ := newEngine(t, st)
			c := newFakeCall(t, clk, "1001")
			done := startScreening(t, e, c)
			c.Post(Digit{Key: key}) // the caller's keys do not choose
			c.Post(Digit{Key: key, FromParty: true})
			c.waitFor(want)
			waitDone(t, done)
			if dnd := slices.Contains(st.dnd, "1002"); dnd != (key == '3') {
				t.Fatalf("DND set: %t, want %t", dnd, key == '3')
			}
		})
	}
}

func TestAUserWhoRefusesIsNoAnswerButACarrierRefusalIsPassedBack(t *testing.T) {
	e, clk, _ := newEngine(t, nil)
	c := newFakeCall(t, clk, "1001")
	done := run(e, c, routing.Plan{Action: routing.Ring, Targets: []string{"1002"}, RingTimeout: time.Second,
		NoAnswer: unavailable})
	c.waitFor("ring 1002")
	c.rings <- Rang{Result: Refused, Code: 486, Reason: "Busy Here"}
	c.waitFor("refuse unavailable")
	waitDone(t, done)

	out := newFakeCall(t, clk, "1001")
	done = run(e, out, routing.Plan{Action: routing.Outbound, RingTimeout: routing.OutboundRingTimeout,
		Trunk: routing.OutboundRoute{Number: "15551234567"}, NoAnswer: unavailable})
	out.waitFor("ring trunk 15551234567 3m0s")
	out.rings <- Rang{Result: Refused, Code: 486, Reason: "Busy Here"}
	out.waitFor("pass back 486 Busy Here")
	waitDone(t, done)
}

func TestSequentialGroupRingsMembersInTurn(t *testing.T) {
	e, clk, _ := newEngine(t, nil)
	c := newFakeCall(t, clk, "1001")
	done := run(e, c, routing.Plan{Action: routing.Ring, Targets: []string{"1002", "1003"}, Sequential: true,
		RingTimeout: 10 * time.Second, NoAnswer: unavailable})
	c.waitFor("ring 1002 10s")
	c.rings <- Rang{Result: NoAnswer}
	c.waitFor("ring 1003 10s")
	c.rings <- Rang{Result: Answered, Party: &fakeParty{call: c, ext: "1003"}}
	c.waitFor("bridge 1003")
	waitDone(t, done)
}

func TestRejectWithAnnouncementPlaysFirst(t *testing.T) {
	e, clk, _ := newEngine(t, nil)
	c := newFakeCall(t, clk, "1001")
	done := run(e, c, routing.Plan{Action: routing.Reject, Refusal: routing.Unavailable, Announce: routing.GreetingDND, Box: "1002"})
	c.waitFor("early media")
	c.waitFor("play 1")
	if c.has("refuse") {
		t.Fatalf("refused before the announcement ended: %q", c.log())
	}
	c.finishPlay()
	c.waitFor("refuse unavailable")
	waitDone(t, done)
}

func TestDNDFeatureCodeSavesThenConfirms(t *testing.T) {
	st := &fakeStatuses{st: map[string]presence.State{}}
	e, clk, _ := newEngine(t, st)
	c := newFakeCall(t, clk, "1002")
	done := run(e, c, routing.Plan{Action: routing.SetDND, DND: true, Ext: "1002"})
	c.waitFor("answer")
	if !slices.Contains(st.dnd, "1002") {
		t.Fatal("answered before DND was saved")
	}
	c.waitFor("play 1")
	c.finishPlay()
	waitDone(t, done)
	if c.outcome != history.Feature {
		t.Fatalf("outcome %q, want feature", c.outcome)
	}
}

// TestAutoPauseCountsOffersInARow: the pause auto-pause sets ends by itself (presence applies it) after the queue's
// auto_resume, and an answered offer starts the count again.
func TestAutoPauseCountsOffersInARow(t *testing.T) {
	e, st, clk := autoPauseEngine(t)
	q := e.queueFor(routing.Queue{Ext: "700", Members: []string{"1002"}, AutoPause: 2, AutoResume: 10 * time.Minute})
	e.autoPause(q, []string{"1002"}, zap.NewNop())
	q.answeredBy(&queueCaller{tried: map[string]time.Time{}}, []string{"1002"}, "1002")
	e.autoPause(q, []string{"1002"}, zap.NewNop())
	if len(st.changes) != 0 {
		t.Fatalf("paused after one miss since an answer: %+v", st.changes)
	}
	e.autoPause(q, []string{"1002"}, zap.NewNop())
	if len(st.changes) != 1 {
		t.Fatalf("changes %+v, want one pause", st.changes)
	}
	c := st.changes[0]
	if !c.DND || c.Reason != "missed 2 queue calls" || c.Source != presence.SourceAutoPause || !c.Until.Equal(clk.Now().Add(10*time.Minute)) {
		t.Errorf("pause %+v", c)
	}
}

// autoPauseEngine is an engine whose statuses know agent 1002, Available.
func autoPauseEngine(t *testing.T) (*Engine, *fakeStatuses, *clock.Fake) {
	st := &fakeStatuses{st: map[string]presence.State{"1002": {Ext: "1002", Status: presence.Available}}}
	e, clk, _ := newEngine(t, st)
	return e, st, clk
}
