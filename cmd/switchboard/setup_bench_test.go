package main

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/emiago/sipgo"

	"github.com/switchboard-voip/switchboard/internal/sipphone"
)

// BenchmarkCallSetup places one call at a time through the switch as deployed (run(), its data
// store, presence, call history and media relay): a phone dials another, is challenged, sends
// its credentials, the other rings and answers, the call is ACKed at both ends and hung up. An
// op is one whole call, over when the callee has its BYE; setup-ms is the median set-up as the
// caller sees it (first INVITE to the 200), the figure make bench-peer holds against a load.
// The phones run in this process, so the allocations are theirs and the switch's together (a
// memory profile tells them apart).
func BenchmarkCallSetup(b *testing.B) {
	// Callees taken in turn: each is long off its last call at the switch when called again.
	callees := calleeUsers(32)
	cfg, path := newSwitchConfigWith(b, b.TempDir(), 40, 0, callees)
	startInProcess(b, cfg, path)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	caller := sipphone.New(b, cfg.SIPPort, testUsers[0].ext, testUsers[0].password)
	var phones []*sipphone.Phone
	for _, u := range callees {
		p := sipphone.New(b, cfg.SIPPort, u.ext, u.password)
		p.Register(ctx)
		phones = append(phones, p)
	}
	var setups []float64
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		u, callee := callees[i%len(callees)], phones[i%len(phones)]
		i++
		callCtx, done := context.WithTimeout(ctx, 5*time.Second)
		start := time.Now()
		d, err := caller.Dial(callCtx, u.ext, caller.From())
		if err != nil {
			b.Fatalf("INVITE %s: %v", u.ext, err)
		}
		if err := d.WaitAnswer(callCtx, caller.Auth()); err != nil {
			b.Fatalf("call to %s: %v", u.ext, err)
		}
		setups = append(setups, float64(time.Since(start).Microseconds())/1000)
		if err := d.Ack(callCtx); err != nil {
			b.Fatalf("ACK to %s: %v", u.ext, err)
		}
		var answered *sipgo.DialogServerSession
		select { // hung up only once the callee has the switch's ACK, as a person would
		case answered = <-callee.Answered():
		case <-callCtx.Done():
			b.Fatalf("call to %s: the callee never had the ACK", u.ext)
		}
		if err := d.Bye(callCtx); err != nil {
			b.Fatalf("BYE to %s: %v", u.ext, err)
		}
		select { // over once the callee has its BYE: called again, it must be free
		case <-answered.Context().Done():
		case <-callCtx.Done():
			b.Fatalf("call to %s: the callee never had the BYE", u.ext)
		}
		_ = d.Close()
		done()
	}
	slices.Sort(setups)
	b.ReportMetric(setups[len(setups)/2], "setup-ms")
}
