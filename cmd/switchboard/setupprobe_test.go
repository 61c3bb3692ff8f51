package main

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-voip/switchboard/internal/sipphone"
)

// setupProbe times call set-up as a phone sees it while a load runs: one call at a time from a
// phone of its own to phones of their own, through the server under test, each timed from its
// first INVITE to the 200 (the digest challenge included, as SIPp times its calls), then ACKed
// and hung up. SIPp's own figures at a streaming step also hold SIPp's delays: its signalling
// shares the two CPUs with its own audio (rtp_stream's threads, 20 calls each, and the callee's
// echo) besides the server's. The probe's few calls add nothing a server would notice; it runs
// in the test's process, on the same CPUs, so it is not free of the box's load either: where it
// may (CAP_NET_RAW), it captures its calls' datagrams on lo and tells the server's share of each
// set-up apart from its phones' (setupShares).
type setupProbe struct {
	caller  *sipphone.Phone
	callees []*sipphone.Phone
	exts    []string
	capture *sipCapture // the probe's datagrams (nil where it cannot capture)
}

// probeUsers is how many users of the pool the probe takes (its caller and callees); they are
// left out of SIPp's callees. Callees take turns, so that one is free again (its last call
// over at the server) long before it is called next: a callee still busy would be held by the
// switch, not rung.
const probeUsers = 4

// newSetupProbe takes the last probeUsers users: the last is the probe's caller, the others
// its callees, registered at the server on port by their phones.
func newSetupProbe(t *testing.T, port int, users []testUser) *setupProbe {
	t.Helper()
	mine := users[len(users)-probeUsers:]
	caller := mine[len(mine)-1]
	p := &setupProbe{caller: sipphone.New(t, port, caller.ext, caller.password)}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, u := range mine[:len(mine)-1] {
		ph := sipphone.New(t, port, u.ext, u.password)
		ph.Register(ctx)
		p.callees = append(p.callees, ph)
		p.exts = append(p.exts, u.ext)
	}
	c, err := startSIPCapture(p.ports())
	if err != nil {
		t.Logf("the probe does not tell the server's share of its set-up: %v", err)
		return p
	}
	t.Cleanup(c.close)
	p.capture = c
	return p
}

// ports are the SIP ports of the probe's phones: its caller's first.
func (p *setupProbe) ports() []int {
	ports := []int{p.caller.SIPPort()}
	for _, c := range p.callees {
		ports = append(ports, c.SIPPort())
	}
	return ports
}

// probeResult is what one run of the probe saw.
type probeResult struct {
	ms     []float64    // set-up times of the answered calls, sorted
	held   []float64    // of those, the server's share (setupShares), sorted; none without a capture
	parts  [3][]float64 // the share's parts: challenging, forwarding the INVITE, passing the 200 on
	failed int          // calls not answered, or not answered in 5 s
	first  error        // why the first of them failed
	// spread is the set-up median of each probeWindow of the run, in order (a window without
	// an answered call has none): whether a median above rest's is the whole step's or a few
	// seconds' of it.
	spread []float64
}

// String is the result as a step's line shows it: p50 and p99, how many calls, how many failed
// and why the first did.
func (r probeResult) String() string {
	s := fmt.Sprintf("p50 %.1f p99 %.0f ms (%d calls, %d failed)", pct(r.ms, 50), pct(r.ms, 99), len(r.ms), r.failed)
	if len(r.held) > 0 {
		s += fmt.Sprintf(", the server's share p50 %.1f p99 %.0f ms (challenge %.2f, INVITE on %.2f, 200 back %.2f at p50)",
			pct(r.held, 50), pct(r.held, 99), pct(r.parts[0], 50), pct(r.parts[1], 50), pct(r.parts[2], 50))
	}
	if len(r.spread) > 1 {
		s += fmt.Sprintf(" (p50 by %v:", probeWindow)
		for _, m := range r.spread {
			s += fmt.Sprintf(" %.1f", m)
		}
		s += ")"
	}
	if r.first != nil {
		s += fmt.Sprintf(" [first failure: %v]", r.first)
	}
	return s
}

// probeWindow is the span of the run each median of probeResult.spread holds: six to a streaming
// step, 60 calls each at the probe's pace.
const probeWindow = 3 * time.Second

// windowMedians returns the median of the ms whose calls started (at, since the run's start) in
// each window w long, in order, skipping windows without a call. at is in increasing order.
func windowMedians(at []time.Duration, ms []float64, w time.Duration) []float64 {
	var out, win []float64
	for i := range at {
		win = append(win, ms[i])
		if i == len(at)-1 || at[i+1]/w != at[i]/w {
			slices.Sort(win)
			out = append(out, pct(win, 50))
			win = win[:0]
		}
	}
	return out
}

// within reports whether r's calls all set up, at a median no more than slack (0.2: 20 %)
// above rest's. The median, not the tail: a call in a hundred is 1 % of the calls (the issue's
// own table compares average set-up times).
func (r probeResult) within(rest probeResult, slack float64) bool {
	return len(r.ms) > 0 && r.failed == 0 && len(rest.ms) > 0 && pct(r.ms, 50) <= (1+slack)*pct(rest.ms, 50)
}

// heldWithin reports whether the server's share of r's set-ups (held) stayed at a median no
// more than slack above its share at rest: within's measure without the phones' own delays.
// False where either run has no capture.
func (r probeResult) heldWithin(rest probeResult, slack float64) bool {
	return len(r.held) > 0 && r.failed == 0 && len(rest.held) > 0 && pct(r.held, 50) <= (1+slack)*pct(rest.held, 50)
}

// run places calls every interval until ctx ends or n calls were placed (n 0: no limit), one
// at a time (a call that takes longer delays the next), and returns their set-up times.
func (p *setupProbe) run(ctx context.Context, every time.Duration, n int) probeResult {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, c := range p.callees { // a phone hands each answered call out: take them
		wg.Go(func() {
			for {
				select {
				case <-c.Answered():
				case <-ctx.Done():
					return
				}
			}
		})
	}
	defer wg.Wait()
	defer cancel() // before the Wait: it stops the goroutines above
	var res probeResult
	if p.capture != nil {
		p.capture.take() // what came before this run
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	began := time.Now()
	var at []time.Duration // when each answered call started, since began
calls:
	for i := 0; n == 0 || i < n; i++ {
		select {
		case <-ctx.Done():
			break calls
		case <-tick.C:
		}
		start := time.Since(began)
		d, err := p.call(ctx, p.exts[i%len(p.exts)])
		switch {
		case err == nil:
			res.ms = append(res.ms, float64(d.Microseconds())/1000)
			at = append(at, start)
		case ctx.Err() == nil:
			res.failed++
			if res.first == nil {
				res.first = err
			}
		}
	}
	res.spread = windowMedians(at, res.ms, probeWindow)
	slices.Sort(res.ms)
	if p.capture != nil { // the last call's datagrams may not all be read yet: it is left out then
		pkts := p.capture.take()
		slices.SortFunc(pkts, func(a, b capturedDatagram) int { return a.at.Compare(b.at) })
		ports := p.ports()
		res.held, res.parts = setupShares(pkts, ports[0], ports[1:])
	}
	return res
}

// call places one call to ext and returns its set-up time, or why it was not answered.
func (p *setupProbe) call(ctx context.Context, ext string) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	start := time.Now()
	d, err := p.caller.Dial(ctx, ext, p.caller.From()) // Kamailio takes the password's user from the From
	if err != nil {
		return 0, fmt.Errorf("INVITE %s: %w", ext, err)
	}
	defer d.Close()
	if err := d.WaitAnswer(ctx, p.caller.Auth()); err != nil {
		return 0, fmt.Errorf("call to %s: %w", ext, err)
	}
	took := time.Since(start)
	if err := d.Ack(ctx); err != nil {
		return 0, fmt.Errorf("ACK to %s: %w", ext, err)
	}
	_ = d.Bye(ctx) // the next call goes to another callee: a lost BYE costs this one only
	return took, nil
}

// during runs the probe while f runs and returns what it saw.
func (p *setupProbe) during(f func()) probeResult {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan probeResult, 1)
	go func() { done <- p.run(ctx, probeEvery, 0) }()
	f()
	cancel()
	return <-done
}

// idle is n calls on a server at rest: the figure set-up under load is held against.
func (p *setupProbe) idle(n int) probeResult { return p.run(context.Background(), probeEvery, n) }

// probeEvery is the probe's pace: 20 calls a second at most, a few hundred in a step.
const probeEvery = 50 * time.Millisecond

func TestWindowMedians(t *testing.T) {
	s := time.Second
	at := []time.Duration{0, s, 2 * s, 3 * s, 4 * s, 5 * s, 9 * s, 10 * s}
	ms := []float64{1, 3, 2, 8, 9, 7, 4, 4}
	got := windowMedians(at, ms, 3*s)
	if want := []float64{2, 8, 4}; !slices.Equal(got, want) { // the window 6-9 s had no call
		t.Errorf("windowMedians = %v, want %v", got, want)
	}
	if !slices.Equal(ms, []float64{1, 3, 2, 8, 9, 7, 4, 4}) {
		t.Errorf("windowMedians reordered its input: %v", ms)
	}
	if got := windowMedians(nil, nil, s); len(got) != 0 {
		t.Errorf("windowMedians of no call = %v", got)
	}
}

func TestProbeWithin(t *testing.T) {
	rest := probeResult{ms: []float64{1.8, 2.0, 2.2}}
	for _, c := range []struct {
		name string
		r    probeResult
		want bool
	}{
		{"median 20 % up", probeResult{ms: []float64{1, 2.4, 90}}, true},
		{"median 25 % up", probeResult{ms: []float64{1, 2.5, 3}}, false},
		{"a call failed", probeResult{ms: []float64{2, 2, 2}, failed: 1}, false},
		{"no call", probeResult{}, false},
	} {
		if got := c.r.within(rest, setupSlack); got != c.want {
			t.Errorf("%s: within = %v, want %v", c.name, got, c.want)
		}
	}
	if (probeResult{ms: []float64{2}}).within(probeResult{}, setupSlack) {
		t.Error("within a rest with no calls: true")
	}
	// The server's share: the phone's 27 % above rest with the server's own 11 % above (a run
	// of 2026-12-05).
	rest = probeResult{ms: []float64{1.5}, held: []float64{0.9}}
	under := probeResult{ms: []float64{1.9}, held: []float64{1.0}}
	if under.within(rest, setupSlack) || !under.heldWithin(rest, setupSlack) {
		t.Errorf("phone 1.9 against 1.5, server 1.0 against 0.9: within %v, heldWithin %v; want false, true",
			under.within(rest, setupSlack), under.heldWithin(rest, setupSlack))
	}
	for _, c := range []struct {
		name       string
		under, rst probeResult
	}{
		{"the server's share 25 % up", probeResult{held: []float64{1.25}}, probeResult{held: []float64{1}}},
		{"a call failed", probeResult{held: []float64{1}, failed: 1}, probeResult{held: []float64{1}}},
		{"no capture under load", probeResult{ms: []float64{1}}, probeResult{held: []float64{1}}},
		{"no capture at rest", probeResult{held: []float64{1}}, probeResult{ms: []float64{1}}},
	} {
		if c.under.heldWithin(c.rst, setupSlack) {
			t.Errorf("%s: heldWithin = true, want false", c.name)
		}
	}
}

func TestMostQuick(t *testing.T) {
	rest := probeResult{ms: []float64{2}}
	probed := map[int]probeResult{
		200:   {ms: []float64{2.1}},
		400:   {ms: []float64{2.4}},
		800:   {ms: []float64{2.5}},          // 25 % up
		1_600: {ms: []float64{2}, failed: 1}, // a call failed
	}
	if got := mostQuick(probed, rest); got != 400 {
		t.Errorf("mostQuick = %d, want 400", got)
	}
	if got := mostQuick(nil, rest); got != 0 {
		t.Errorf("mostQuick of no steps = %d, want 0", got)
	}
}
