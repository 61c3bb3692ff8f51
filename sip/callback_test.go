package sip_test

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"go.etcd.io/bbolt"

	"github.com/switchboard-voip/switchboard/flow"
	"github.com/switchboard-voip/switchboard/history"
	"github.com/switchboard-voip/switchboard/internal/clock"
	"github.com/switchboard-voip/switchboard/media"
	"github.com/switchboard-voip/switchboard/presence"
	"github.com/switchboard-voip/switchboard/routing"
	sbsip "github.com/switchboard-voip/switchboard/sip"
)

// holdAndAskForCallback has p call ext, who is busy, wait for the hold music and press 2: the
// switch confirms and hangs up. It returns once p has the switch's BYE.
func holdAndAskForCallback(t *testing.T, p *phone, ext string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	d, err := p.call(ctx, ext)
	if err != nil {
		t.Fatalf("%s calling busy %s: %v", p.ext, ext, err)
	}
	peer := newRTPPeer(t, p, d.InviteResponse.Body())
	peer.waitHeard(400 * time.Millisecond) // the busy greeting: then 2 is heard
	peer.digit('2')
	hungUpAfterConfirming(t, p, callID(d.InviteRequest))
	peer.close() // the phone's media socket is free for the callback
}

// hungUpAfterConfirming waits for the switch's BYE on call id once p pressed 2: the
// confirmation ("We will call you back. Goodbye.", 2.6 s) plays first, in real time, so the
// wait is longer than expectOn's.
func hungUpAfterConfirming(t *testing.T, p *phone, id string) {
	t.Helper()
	select {
	case got := <-p.byes:
		if got != id {
			t.Fatalf("%s got BYE for %s, want its waiting call", p.ext, got)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("%s pressed 2 but the switch did not hang up", p.ext)
	}
}

// heard has from send 2n packets to dst, the switch, and checks that n reach to. The relay
// starts as the switch takes the last answer, so the first packets may still meet the switch's
// own media: twice as many are sent as must arrive.
func heard(t *testing.T, from *phone, dst *net.UDPAddr, to *phone, n int, fill byte) {
	t.Helper()
	sent := make(chan struct{})
	go func() { defer close(sent); from.sendRTP(t, dst, 2*n, fill) }()
	got := to.recvRTP(t, n, fill)
	<-sent
	if got != n {
		t.Fatalf("%s received %d of %d packets from %s", to.ext, got, n, from.ext)
	}
}

// confirmed waits until the switch has ACKed the phone's 200 OK.
func confirmed(t *testing.T, ic *incomingCall, who string) {
	t.Helper()
	eventually(t, who+"'s 200 OK acknowledged", func() bool { return ic.dlg.LoadState() == sip.DialogStateConfirmed })
}

// TestCallbackReachesHeldCallerAfterTheFirstCallEnds is issue 17's item 5 end to end: Alice,
// held for busy Bob, presses 2 and hangs up; when Bob's call ends the switch rings Bob with
// "Callback: Alice", and once he answers rings Alice and bridges them.
func TestCallbackReachesHeldCallerAfterTheFirstCallEnds(t *testing.T) {
	sw, table := routedSwitch(t, greetings{"1002/busy": media.Tone(500, 0.4, 200*time.Millisecond)})
	bob := newPhone(t, sw, "1002", "udp").mustRegister()
	carol := newPhone(t, sw, "1003", "udp").mustRegister()
	alice := newPhone(t, sw, "1001", "udp").mustRegister()

	_, carolHangup, _ := bridged(t, carol, bob) // Bob is busy
	holdAndAskForCallback(t, alice, "1002")
	cbs := sw.flows.Callbacks()
	if len(cbs) != 1 || cbs[0].Number != "1001" || cbs[0].Caller != "1001" || cbs[0].For != "1002" || cbs[0].Queue {
		t.Fatalf("pending callbacks after Alice pressed 2: %+v", cbs)
	}
	if sw.flows.Waiting("1002") != 0 {
		t.Fatal("Alice still holding after asking for a callback")
	}
	noRing(t, bob, "the callback rang Bob while he was still on his call")

	// Carol hangs up: Bob is free, and his phone rings first, saying who it is for.
	if err := carolHangup(); err != nil {
		t.Fatal(err)
	}
	<-bob.byes
	icBob := bob.nextIncoming(5 * time.Second)
	from := icBob.req.From()
	if from.Address.User != "1001" || from.DisplayName != "Callback: User 1001" {
		t.Fatalf("Bob's phone shows %q <%s>, want the callback to Alice", from.DisplayName, from.Address.User)
	}
	noRing(t, alice, "Alice rang before Bob answered")
	bob.answer(icBob)
	confirmed(t, icBob, "Bob")
	waitStatus(t, table, "1002", presence.Busy)

	// Then Alice's phone rings, from Bob.
	icAlice := alice.nextIncoming(5 * time.Second)
	if from := icAlice.req.From(); from.Address.User != "1002" || from.DisplayName != "User 1002" {
		t.Fatalf("Alice's phone shows %q <%s>, want Bob", from.DisplayName, from.Address.User)
	}
	alice.answer(icAlice)
	confirmed(t, icAlice, "Alice")
	waitStatus(t, table, "1001", presence.Busy)

	// Bridged: audio both ways through the switch.
	const n = 40
	heard(t, bob, remoteMedia(t, icBob.req.Body()), alice, n, 0xB0)
	heard(t, alice, remoteMedia(t, icAlice.req.Body()), bob, n, 0xA0)
	if cbs := sw.flows.Callbacks(); len(cbs) != 0 {
		t.Fatalf("callback still pending once it connected: %+v", cbs)
	}
	calls := sw.srv.Calls()
	if len(calls) != 1 || calls[0].State != "talking" || !slices.Contains(calls[0].Parties, "1001") ||
		!slices.Contains(calls[0].Parties, "1002") || calls[0].From != "1002" || calls[0].To != "1001" {
		t.Fatalf("calls during the callback: %+v", calls)
	}

	hangUpAnswered(t, icAlice)
	expectOn(t, bob.byes, callID(icBob.req), "BYE")
	sw.waitIdle(t)
	waitStatus(t, table, "1002", presence.Available)
	waitStatus(t, table, "1001", presence.Available)
}

// An outside caller without a number cannot be called back; neither can anyone when the
// switch has no status table. A user's 2 with nobody to wait for is also turned down: the
// caller keeps holding (here: the user's callback is refused, so 2 does nothing).
func TestCallbackRefusedWhileHoldingGoesOn(t *testing.T) {
	sw, _ := routedSwitch(t, greetings{"1002/busy": media.Tone(500, 0.4, 200*time.Millisecond)})
	sw.flows.SetOriginator(nil) // the switch cannot place calls: nobody can be called back
	bob := newPhone(t, sw, "1002", "udp").mustRegister()
	carol := newPhone(t, sw, "1003", "udp").mustRegister()
	alice := newPhone(t, sw, "1001", "udp").mustRegister()
	_, carolHangup, _ := bridged(t, carol, bob)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	d, err := alice.call(ctx, "1002")
	if err != nil {
		t.Fatal(err)
	}
	peer := newRTPPeer(t, alice, d.InviteResponse.Body())
	peer.waitHeard(400 * time.Millisecond)
	peer.digit('2')
	heard := len(peer.heardSamples())
	peer.waitHeard(time.Duration(heard)*time.Second/8000 + 600*time.Millisecond) // still music
	select {
	case <-alice.byes:
		t.Fatal("2 without a callback ended the held call")
	default:
	}
	if sw.flows.Waiting("1002") != 1 || len(sw.flows.Callbacks()) != 0 {
		t.Fatalf("after a refused 2: %d waiting, callbacks %+v", sw.flows.Waiting("1002"), sw.flows.Callbacks())
	}
	// Bob is free: Alice, still holding, is put through as usual.
	_ = carolHangup()
	<-bob.byes
	ic := bob.nextIncoming(5 * time.Second)
	if from := ic.req.From(); from.Address.User != "1001" || strings.HasPrefix(from.DisplayName, "Callback") {
		t.Fatalf("Bob's phone shows %q <%s>, want Alice's own call", from.DisplayName, from.Address.User)
	}
	bob.answer(ic)
	hangUpAnswered(t, ic)
	<-alice.byes
	sw.waitIdle(t)
}

// memoryHistory keeps the switch's call records for a test.
type memoryHistory struct {
	mu   sync.Mutex
	recs []history.Record
}

func (h *memoryHistory) Add(r history.Record) (history.Record, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.recs = append(h.recs, r)
	return r, nil
}

func (h *memoryHistory) all() []history.Record {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.recs)
}

// TestCallbackNotAnsweredIsTriedAgainThenGivenUp: Bob lets the callback ring out; it is tried
// again CallbackRetry later (not before), three times in all, then given up. Every attempt is
// a call in the history, and the held call's outcome says a callback was asked for.
func TestCallbackNotAnsweredIsTriedAgainThenGivenUp(t *testing.T) {
	clk := clock.NewFake(time.Now())
	recs := &memoryHistory{}
	sw, table := routedSwitch(t, greetings{"1002/busy": media.Tone(500, 0.4, 200*time.Millisecond)}, func(o *switchOpts) {
		o.Clock = clk
		o.History = recs
	})
	bob := newPhone(t, sw, "1002", "udp").mustRegister()
	alice := newPhone(t, sw, "1001", "udp").mustRegister()
	table.CallStarted("1002", "elsewhere") // Bob is busy
	holdAndAskForCallback(t, alice, "1002")
	eventually(t, "Alice's held call recorded", func() bool { return len(recs.all()) == 1 })
	if r := recs.all()[0]; r.Outcome != history.Callback || r.From != "1001" || r.To != "1002" {
		t.Fatalf("held call's record: %+v", r)
	}

	base := clk.Pending()
	table.CallEnded("1002", "elsewhere") // Bob is free: attempt 1
	for attempt := 1; attempt <= flow.CallbackAttempts; attempt++ {
		ic := bob.nextIncoming(5 * time.Second)
		if ic.req.From().DisplayName != "Callback: User 1001" {
			t.Fatalf("attempt %d: Bob's phone shows %q", attempt, ic.req.From().DisplayName)
		}
		if err := ic.dlg.Respond(180, "Ringing", nil); err != nil {
			t.Fatal(err)
		}
		if !clk.WaitFor(base+1, 5*time.Second) {
			t.Fatalf("attempt %d: no ring timer", attempt)
		}
		clk.Advance(flow.CallbackRing)
		gotCancel(t, bob, ic, 3*time.Second)
		eventually(t, "the attempt recorded", func() bool { return len(recs.all()) == 1+attempt })
		if attempt == flow.CallbackAttempts {
			break
		}
		eventually(t, "the next attempt waiting", func() bool {
			cbs := sw.flows.Callbacks()
			return len(cbs) == 1 && cbs[0].Attempts == attempt && !cbs[0].Dialling
		})
		if !clk.WaitFor(base+1, 5*time.Second) {
			t.Fatalf("attempt %d: no retry timer", attempt)
		}
		clk.Advance(flow.CallbackRetry - time.Second)
		noRing(t, bob, "the callback was tried again before CallbackRetry")
		clk.Advance(time.Second)
	}
	eventually(t, "the callback given up", func() bool { return len(sw.flows.Callbacks()) == 0 })
	noRing(t, alice, "Alice was rung though Bob never answered")
	sw.waitIdle(t)
	for i, r := range recs.all()[1:] {
		if r.Outcome != history.Missed || r.From != "1002" || r.To != "1001" || r.Via != "1002" ||
			!slices.ContainsFunc(r.Trace, func(l string) bool { return strings.Contains(l, fmt.Sprintf("attempt %d of 3", i+1)) }) {
			t.Fatalf("attempt %d's record: %+v", i+1, r)
		}
	}
	if last := recs.all()[3]; !slices.ContainsFunc(last.Trace, func(l string) bool { return strings.Contains(l, "given up") }) {
		t.Fatalf("the last attempt's record does not say it gave up: %+v", last)
	}
}

// TestQueueCallbackKeepsTheCallersPlace: Alice and then Dave wait in queue 700 for Bob, its
// one agent, who is on a call; Alice presses 2 and hangs up. When Bob is free he is offered
// Alice's callback first (her place), then Dave.
func TestQueueCallbackKeepsTheCallersPlace(t *testing.T) {
	sw, table := queueSwitch(t, routing.Queue{Ext: "700", Name: "Support", Strategy: routing.LongestIdle,
		Members: []string{"1002"}, RingTimeout: 5 * time.Second, MaxWait: time.Minute})
	bob := newPhone(t, sw, "1002", "udp").mustRegister()
	carol := newPhone(t, sw, "1003", "udp").mustRegister()
	alice := newPhone(t, sw, "1001", "udp").mustRegister()
	dave := newPhone(t, sw, "1004", "udp").mustRegister()
	_, carolHangup, _ := bridged(t, carol, bob) // the agent is busy
	waitStatus(t, table, "1002", presence.Busy)

	da := queueCall(t, alice)
	eventually(t, "Alice queued", func() bool { return sw.flows.QueueStats("700").Waiting == 1 })
	queueCall(t, dave)
	eventually(t, "Dave queued", func() bool { return sw.flows.QueueStats("700").Waiting == 2 })
	peer := newRTPPeer(t, alice, da.InviteResponse.Body())
	peer.waitHeard(200 * time.Millisecond)
	peer.digit('2')
	hungUpAfterConfirming(t, alice, callID(da.InviteRequest))
	peer.close()
	// Her call is over at the switch once her phone's 200 to its BYE is in; until then she is
	// on a call, and a callback waits for its caller to be free (an agent free in that moment
	// was offered Dave first: seen in CI).
	waitStatus(t, table, "1001", presence.Available)
	cbs := sw.flows.Callbacks()
	if len(cbs) != 1 || cbs[0].For != "700" || !cbs[0].Queue || cbs[0].Number != "1001" {
		t.Fatalf("pending callbacks: %+v", cbs)
	}
	if st := sw.flows.QueueStats("700"); st.Waiting != 2 {
		t.Fatalf("the callback gave up Alice's place: %+v", st)
	}

	// Bob is free: the first offer is Alice's callback, from the queue.
	_ = carolHangup()
	<-bob.byes
	ic := bob.nextIncoming(5 * time.Second)
	if from := ic.req.From(); from.Address.User != "1001" || from.DisplayName != "Callback: User 1001" {
		t.Fatalf("first offer after the call: %q <%s>, want Alice's callback", from.DisplayName, from.Address.User)
	}
	bob.answer(ic)
	icAlice := alice.nextIncoming(5 * time.Second)
	if from := icAlice.req.From(); from.Address.User != "700" || from.DisplayName != "Support" {
		t.Fatalf("Alice's phone shows %q <%s>, want the queue", from.DisplayName, from.Address.User)
	}
	alice.answer(icAlice)
	confirmed(t, icAlice, "Alice")
	// The callback's flow takes Alice's answer in its own time: the records follow it.
	eventually(t, "the callback done with, Dave waiting alone", func() bool {
		return sw.flows.QueueStats("700").Waiting == 1 && len(sw.flows.Callbacks()) == 0
	})
	const n = 30
	heard(t, bob, remoteMedia(t, ic.req.Body()), alice, n, 0xB1)

	// The callback over, Dave is next.
	hangUpAnswered(t, ic)
	<-alice.byes
	ic = bob.nextIncoming(5 * time.Second)
	if from := ic.req.From().Address.User; from != "1004" {
		t.Fatalf("second offer is for %s, want Dave", from)
	}
	bob.answer(ic)
	hangUpAnswered(t, ic)
	<-dave.byes
	sw.waitIdle(t)
}

// callbackTrunk is loopbackTrunk's way back out: calls to its numbers go to the carrier phone.
type callbackTrunk struct{ addr *string }

func (r callbackTrunk) OutboundVia(trunk, number string) (routing.OutboundRoute, bool) {
	if trunk != "carrier" {
		return routing.OutboundRoute{}, false
	}
	return routing.OutboundRoute{Trunk: trunk, Number: number, Transport: "udp", Addr: *r.addr}, true
}

// carrierCall is a call from the carrier phone to Bob's DID, answered by the switch.
func carrierCall(t *testing.T, carrier *phone) *sipDialog {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	d, err := carrier.dial(ctx, "15551230000")
	if err != nil {
		t.Fatal(err)
	}
	if err := d.WaitAnswer(ctx, sipgoNoAuth()); err != nil {
		t.Fatalf("carrier call to busy Bob: %v", err)
	}
	if err := d.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	return &sipDialog{d}
}

// TestCallbackToAnOutsideCallerGoesOutThroughTheirTrunk: a carrier's caller held for busy Bob
// presses 2; the callback rings Bob, then INVITEs the caller's number out through the trunk.
// A carrier's caller without a number ("anonymous") cannot be called back: 2 does nothing.
func TestCallbackToAnOutsideCallerGoesOutThroughTheirTrunk(t *testing.T) {
	var carrierAddr string
	sw, table := routedSwitch(t, greetings{"1002/busy": media.Tone(500, 0.4, 200*time.Millisecond)}, func(o *switchOpts) {
		o.Trunks = loopbackTrunk{}
		o.Routes = callbackTrunk{addr: &carrierAddr}
	})
	bob := newPhone(t, sw, "1002", "udp").mustRegister()
	carrier := newPhone(t, sw, "15557654321", "udp")
	carrierAddr = fmt.Sprintf("%s:%d", carrier.host, carrier.port)
	anonymous := newPhone(t, sw, "anonymous", "udp")
	table.CallStarted("1002", "elsewhere")

	// Anonymous: 2 is ignored, the caller holds on.
	d := carrierCall(t, anonymous)
	peer := newRTPPeer(t, anonymous, d.InviteResponse.Body())
	peer.waitHeard(300 * time.Millisecond)
	peer.digit('2')
	peer.waitHeard(time.Duration(len(peer.heardSamples()))*time.Second/8000 + 500*time.Millisecond)
	if sw.flows.Waiting("1002") != 1 || len(sw.flows.Callbacks()) != 0 {
		t.Fatalf("anonymous caller's 2: %d waiting, callbacks %+v", sw.flows.Waiting("1002"), sw.flows.Callbacks())
	}
	_ = d.Bye(context.Background())
	peer.close()
	eventually(t, "the anonymous caller gone", func() bool { return sw.flows.Waiting("1002") == 0 })

	// A number: the callback goes out through the trunk.
	d = carrierCall(t, carrier)
	peer = newRTPPeer(t, carrier, d.InviteResponse.Body())
	peer.waitHeard(300 * time.Millisecond)
	peer.digit('2')
	hungUpAfterConfirming(t, carrier, callID(d.InviteRequest))
	peer.close()
	cbs := sw.flows.Callbacks()
	if len(cbs) != 1 || cbs[0].Number != "15557654321" || cbs[0].Trunk != "carrier" || cbs[0].Caller != "" {
		t.Fatalf("pending callbacks: %+v", cbs)
	}
	table.CallEnded("1002", "elsewhere")
	icBob := bob.nextIncoming(5 * time.Second)
	if from := icBob.req.From(); from.Address.User != "15557654321" || from.DisplayName != "Callback: 15557654321" {
		t.Fatalf("Bob's phone shows %q <%s>", from.DisplayName, from.Address.User)
	}
	bob.answer(icBob)
	icOut := carrier.nextIncoming(5 * time.Second)
	if icOut.req.Recipient.User != "15557654321" || icOut.req.From().Address.User != "1002" {
		t.Fatalf("carrier got INVITE for %q from %q", icOut.req.Recipient.User, icOut.req.From().Address.User)
	}
	carrier.answer(icOut)
	confirmed(t, icOut, "the carrier")
	const n = 30
	heard(t, carrier, remoteMedia(t, icOut.req.Body()), bob, n, 0xC1)
	hangUpAnswered(t, icBob)
	<-carrier.byes
	sw.waitIdle(t)
}

// TestPendingCallbackSurvivesARestart: Alice asks for a callback from busy Bob at one switch,
// which stops; a new switch on the same store calls her back when Bob is free there.
func TestPendingCallbackSurvivesARestart(t *testing.T) {
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	store, err := history.OpenCallbacks(db)
	if err != nil {
		t.Fatal(err)
	}
	busySwitch := func() (*testSwitch, *presence.Table) {
		sw, table := routedSwitch(t, greetings{"1002/busy": media.Tone(500, 0.4, 200*time.Millisecond)}, func(o *switchOpts) { o.Callbacks = store })
		return sw, table
	}
	first, table := busySwitch()
	newPhone(t, first, "1002", "udp").mustRegister()
	table.CallStarted("1002", "elsewhere")
	holdAndAskForCallback(t, newPhone(t, first, "1001", "udp").mustRegister(), "1002")
	first.flows.Close() // the first switch's flows stop: the callback is in the store alone

	second, table := busySwitch()
	cbs := second.flows.Callbacks()
	if len(cbs) != 1 || cbs[0].Number != "1001" || cbs[0].For != "1002" {
		t.Fatalf("callbacks after the restart: %+v", cbs)
	}
	alice := newPhone(t, second, "1001", "udp").mustRegister()
	bob := newPhone(t, second, "1002", "udp").mustRegister() // Bob is free here: the callback rings
	ic := bob.nextIncoming(5 * time.Second)
	if from := ic.req.From(); from.Address.User != "1001" || from.DisplayName != "Callback: User 1001" {
		t.Fatalf("Bob's phone shows %q <%s>", from.DisplayName, from.Address.User)
	}
	bob.answer(ic)
	icAlice := alice.nextIncoming(5 * time.Second)
	alice.answer(icAlice)
	confirmed(t, icAlice, "Alice")
	waitStatus(t, table, "1001", presence.Busy)
	eventually(t, "the callback gone from the store once it connected", func() bool {
		left, err := store.List()
		return err == nil && len(left) == 0
	})
	hangUpAnswered(t, icAlice)
	<-bob.byes
	second.waitIdle(t)
}

// TestCallbackCallIsTransferredLikeAnyCall: the user who called back sends the caller on to a
// colleague from the page; the callback call carries on as any call would.
func TestCallbackCallIsTransferredLikeAnyCall(t *testing.T) {
	sw, table := routedSwitch(t, greetings{"1002/busy": media.Tone(500, 0.4, 200*time.Millisecond)})
	bob := newPhone(t, sw, "1002", "udp").mustRegister()
	alice := newPhone(t, sw, "1001", "udp").mustRegister()
	carol := newPhone(t, sw, "1003", "udp").mustRegister()
	table.CallStarted("1002", "elsewhere")
	holdAndAskForCallback(t, alice, "1002")
	table.CallEnded("1002", "elsewhere")
	icBob := bob.nextIncoming(5 * time.Second)
	bob.answer(icBob)
	icAlice := alice.nextIncoming(5 * time.Second)
	alice.answer(icAlice)
	confirmed(t, icAlice, "Alice")
	eventually(t, "the callback talking", func() bool {
		calls := sw.srv.Calls()
		return len(calls) == 1 && calls[0].State == sbsip.StateTalking
	})
	id := sw.srv.Calls()[0].ID

	// Bob sends Alice to Carol: his leg ends, Carol's phone rings for Alice, and they talk.
	if err := sw.srv.Transfer(id, sbsip.TransferRequest{By: "1002", To: "1003"}); err != nil {
		t.Fatal(err)
	}
	expectOn(t, bob.byes, callID(icBob.req), "BYE")
	icCarol := carol.nextIncoming(5 * time.Second)
	if from := icCarol.req.From().Address.User; from != "1001" {
		t.Fatalf("Carol's phone rings for %s, want Alice", from)
	}
	carol.answer(icCarol)
	confirmed(t, icCarol, "Carol")
	heard(t, carol, remoteMedia(t, icCarol.req.Body()), alice, 30, 0xC3)
	heard(t, alice, remoteMedia(t, icAlice.req.Body()), carol, 30, 0xA3)
	hangUpAnswered(t, icCarol)
	expectOn(t, alice.byes, callID(icAlice.req), "BYE")
	sw.waitIdle(t)
}
