package sip_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/switchboard-voip/switchboard/flow"
	"github.com/switchboard-voip/switchboard/media"
	"github.com/switchboard-voip/switchboard/presence"
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
	select {
	case id := <-p.byes:
		if id != callID(d.InviteRequest) {
			t.Fatalf("%s got BYE for %s, want its held call", p.ext, id)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("%s pressed 2 but the switch did not hang up", p.ext)
	}
	peer.close() // the phone's media socket is free for the callback
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
	go bob.sendRTP(t, remoteMedia(t, icBob.req.Body()), n, 0xB0)
	if got := alice.recvRTP(t, n, 0xB0); got != n {
		t.Fatalf("Alice received %d of %d packets from Bob", got, n)
	}
	go alice.sendRTP(t, remoteMedia(t, icAlice.req.Body()), n, 0xA0)
	if got := bob.recvRTP(t, n, 0xA0); got != n {
		t.Fatalf("Bob received %d of %d packets from Alice", got, n)
	}
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

var _ = flow.CallbackAttempts
