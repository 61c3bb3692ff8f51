package flow

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/switchboard-voip/switchboard/history"
	"github.com/switchboard-voip/switchboard/internal/clock"
	"github.com/switchboard-voip/switchboard/media"
	"github.com/switchboard-voip/switchboard/presence"
	"github.com/switchboard-voip/switchboard/routing"
)

// fakeCall is a Call driven by a test: what the flow does is logged as short lines ("answer",
// "refuse unavailable", "ring 1002 20s"), events are posted by the test, timers run on a fake
// clock, and rings end with what the test says.
type fakeCall struct {
	t      *testing.T
	clk    *clock.Fake
	caller string
	events chan Event
	rings  chan Rang

	mu      sync.Mutex
	actions []string
	changed chan struct{}
	plays   uint64
	state   State
	outcome history.Outcome
	by      string
	sink    func(frame []int16)
	// transfers are what the next bridges return: a party sent the caller on.
	transfers []*Transferred
}

func newFakeCall(t *testing.T, clk *clock.Fake, caller string) *fakeCall {
	return &fakeCall{t: t, clk: clk, caller: caller, events: make(chan Event, 64), rings: make(chan Rang, 1),
		changed: make(chan struct{})}
}

func (f *fakeCall) did(format string, args ...any) {
	f.mu.Lock()
	f.actions = append(f.actions, fmt.Sprintf(format, args...))
	close(f.changed)
	f.changed = make(chan struct{})
	f.mu.Unlock()
}

// waitFor waits until the flow has done an action starting with prefix, and returns its index.
func (f *fakeCall) waitFor(prefix string) int {
	f.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		f.mu.Lock()
		for i, a := range f.actions {
			if strings.HasPrefix(a, prefix) {
				f.mu.Unlock()
				return i
			}
		}
		changed := f.changed
		f.mu.Unlock()
		select {
		case <-changed:
		case <-deadline:
			f.t.Fatalf("the flow never did %q; it did %q", prefix, f.log())
		}
	}
}

// has reports whether the flow did an action starting with prefix.
func (f *fakeCall) has(prefix string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, a := range f.actions {
		if strings.HasPrefix(a, prefix) {
			return true
		}
	}
	return false
}

func (f *fakeCall) log() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.actions...)
}

func (f *fakeCall) ID() string         { return "fake-call" }
func (f *fakeCall) Caller() string     { return f.caller }
func (f *fakeCall) CallerID() string   { return f.caller }
func (f *fakeCall) CallerName() string { return "" }
func (f *fakeCall) Trunk() string      { return "" }
func (f *fakeCall) Log() *zap.Logger   { return zap.NewNop() }

// Next gives up (Stop) if the test never posts anything, so a broken flow cannot hang the suite.
func (f *fakeCall) Next() Event {
	select {
	case ev := <-f.events:
		return ev
	case <-time.After(20 * time.Second):
		f.did("next timed out")
		return Stop{Why: "test gave up"}
	}
}

func (f *fakeCall) Post(ev Event) { f.events <- ev }

func (f *fakeCall) After(d time.Duration, ev Event) clock.Timer {
	return f.clk.AfterFunc(d, func() { f.events <- ev })
}

func (f *fakeCall) Answer() error     { f.did("answer"); return nil }
func (f *fakeCall) EarlyMedia() error { f.did("early media"); return nil }

func (f *fakeCall) Play(src media.Source) uint64 {
	f.mu.Lock()
	f.plays++
	id := f.plays
	f.mu.Unlock()
	if src == nil {
		f.did("play %d silence", id)
	} else {
		f.did("play %d", id)
	}
	return id
}

// finishPlay ends the latest play as if its audio ran out.
func (f *fakeCall) finishPlay() {
	f.mu.Lock()
	id := f.plays
	f.mu.Unlock()
	f.Post(PlayDone{ID: id})
}

func (f *fakeCall) Listen(sink func(frame []int16)) {
	f.mu.Lock()
	f.sink = sink
	f.mu.Unlock()
	f.did("listen %t", sink != nil)
}

// speak feeds the flow n frames of the caller's audio at level (a square wave).
func (f *fakeCall) speak(n int, level int16) {
	f.mu.Lock()
	sink := f.sink
	f.mu.Unlock()
	frame := make([]int16, media.FrameSamples)
	for i := range frame {
		frame[i] = level
		if i%2 == 1 {
			frame[i] = -level
		}
	}
	for range n {
		sink(frame)
	}
}

func (f *fakeCall) Ring(r Ring) Rang {
	if r.Trunk != nil {
		f.did("ring trunk %s %s", r.Trunk.Number, r.Timeout)
	} else {
		f.did("ring %s %s", strings.Join(r.Targets, ","), r.Timeout)
	}
	return <-f.rings
}

func (f *fakeCall) Bridge(p Party) error {
	f.did("bridge %s", p.Ext())
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.transfers) > 0 {
		t := f.transfers[0]
		f.transfers = f.transfers[1:]
		return t
	}
	return nil
}
func (f *fakeCall) PickUp(ext string) bool {
	f.did("pick up %s", ext)
	return false
}
func (f *fakeCall) Refuse(why routing.Refusal) {
	f.did("refuse %s", why)
}
func (f *fakeCall) PassBack(code int, reason string) { f.did("pass back %d %s", code, reason) }
func (f *fakeCall) SetState(st State, with ...string) {
	f.mu.Lock()
	f.state = st
	f.mu.Unlock()
}
func (f *fakeCall) SetOutcome(o history.Outcome, by string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.outcome == "" {
		f.outcome, f.by = o, by
	}
}
func (f *fakeCall) Holding(on bool)       { f.did("holding %t", on) }
func (f *fakeCall) Trace(lines ...string) {}
func (f *fakeCall) Skipped(s ...history.Skip) {
	for _, k := range s {
		f.did("skipped %s %s", k.Ext, k.Why)
	}
}
func (f *fakeCall) Via(ext string) { f.did("via %s", ext) }

// fakeParty is a phone that answered.
type fakeParty struct {
	call *fakeCall
	ext  string
}

func (p *fakeParty) Ext() string { return p.ext }
func (p *fakeParty) Play(src media.Source) uint64 {
	p.call.did("party play")
	return 1
}
func (p *fakeParty) Release() { p.call.did("release %s", p.ext) }

// fakeRouter answers every decision with the plan for the dialled number.
type fakeRouter struct {
	mu    sync.Mutex
	plans map[string]routing.Plan
}

func (r *fakeRouter) Decide(req routing.Request) routing.Plan {
	r.mu.Lock()
	defer r.mu.Unlock()
	key := req.Dialled
	if req.Voicemail {
		key = "voicemail:" + key
	}
	if p, ok := r.plans[key]; ok {
		return p
	}
	return routing.Plan{Action: routing.Reject, Refusal: routing.NotFound}
}

func (r *fakeRouter) set(ext string, p routing.Plan) {
	r.mu.Lock()
	r.plans[ext] = p
	r.mu.Unlock()
}

// fakeStatuses is a status table the test sets by hand.
type fakeStatuses struct {
	mu      sync.Mutex
	st      map[string]presence.State
	dnd     []string
	changes []presence.Change // every Set, in order
}

func (s *fakeStatuses) Get(ext string) (presence.State, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.st[ext]
	return st, ok
}

func (s *fakeStatuses) Set(ext string, c presence.Change) (presence.State, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.st[ext]
	st.DND, st.Reason, st.Until, st.Source, st.By = c.DND, c.Reason, c.Until, c.Source, c.By
	s.changes = append(s.changes, c)
	if c.DND {
		st.Status = presence.DND
		s.dnd = append(s.dnd, ext)
	}
	s.st[ext] = st
	return st, nil
}

func (s *fakeStatuses) set(st presence.State) {
	s.mu.Lock()
	s.st[st.Ext] = st
	s.mu.Unlock()
}

// run starts plan on c in its own goroutine, as the SIP layer does; the returned channel closes
// when the flow is over.
func run(e *Engine, c Call, plan routing.Plan) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.Run(c, &plan)
	}()
	return done
}

func waitDone(t *testing.T, done <-chan struct{}) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the flow did not end")
	}
}

// settle waits until the flow has set n timers on the fake clock: only then may a test move
// the clock, or the timer would start after the jump.
func settle(t *testing.T, clk *clock.Fake, n int) {
	t.Helper()
	if !clk.WaitFor(n, 10*time.Second) {
		t.Fatalf("the flow set %d timers, want %d", clk.Pending(), n)
	}
}
