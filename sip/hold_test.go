package sip_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/switchboard-voip/switchboard/media"
	"github.com/switchboard-voip/switchboard/media/mailbox"
	"github.com/switchboard-voip/switchboard/presence"
	"github.com/switchboard-voip/switchboard/routing"
	sbsip "github.com/switchboard-voip/switchboard/sip"
)

// routedSwitch is a switch whose routing follows the presence table, with short own greetings;
// tune sets more of its options.
func routedSwitch(t *testing.T, g greetings, tune ...func(*switchOpts)) (*testSwitch, *presence.Table) {
	t.Helper()
	table, err := presence.NewTable([]presence.User{{Ext: "1001"}, {Ext: "1002"}, {Ext: "1003"}}, &presence.MemoryStore{})
	if err != nil {
		t.Fatal(err)
	}
	sw := startSwitch(t, func(o *switchOpts) {
		o.Presence = table
		o.Router = routing.New(users{}, o.Locations.(*sbsip.MemoryLocations), table)
		o.Greetings = g
		for _, f := range tune {
			f(o)
		}
	})
	return sw, table
}

// rtpHeaders reads the RTP headers arriving at a phone's media socket for d.
func rtpHeaders(t *testing.T, conn *net.UDPConn, d time.Duration) []rtp.Header {
	t.Helper()
	var out []rtp.Header
	buf := make([]byte, 1500)
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		_ = conn.SetReadDeadline(deadline)
		n, _, err := conn.ReadFromUDP(buf)
		if err != nil {
			break
		}
		var p rtp.Packet
		if p.Unmarshal(buf[:n]) == nil {
			out = append(out, p.Header)
		}
	}
	_ = conn.SetReadDeadline(time.Time{})
	return out
}

func TestBusyTargetCallerHeldThenConnected(t *testing.T) {
	busyGreeting := media.Tone(500, 0.4, 300*time.Millisecond)
	sw, table := routedSwitch(t, greetings{"1002/busy": busyGreeting})
	bob := newPhone(t, sw, "1002", "udp").mustRegister()
	carol := newPhone(t, sw, "1003", "udp").mustRegister()
	alice := newPhone(t, sw, "1001", "udp").mustRegister()

	// Carol is talking to Bob: Bob is busy.
	_, carolHangup, _ := bridged(t, carol, bob)
	if st, _ := table.Get("1002"); st.Status != presence.Busy {
		t.Fatalf("Bob during Carol's call: %s", st.Status)
	}

	// Alice calls Bob: the switch answers her (no 486), greeting, then music on hold.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	d, err := alice.call(ctx, "1002")
	if err != nil {
		t.Fatalf("Alice's call to busy Bob: %v (a busy user's caller is answered and held, never 486)", err)
	}
	held := rtpHeaders(t, alice.rtp, 800*time.Millisecond)
	if len(held) < 20 {
		t.Fatalf("held caller received %d RTP packets in 800 ms", len(held))
	}
	if sw.flows.Waiting("1002") != 1 {
		t.Fatalf("waiting for 1002: %d", sw.flows.Waiting("1002"))
	}
	select {
	case <-bob.incoming:
		t.Fatal("Bob's phone rang while he was busy")
	default:
	}

	// Carol hangs up: Bob is free, his phone rings for Alice.
	if err := carolHangup(); err != nil {
		t.Fatal(err)
	}
	<-bob.byes
	ic := bob.nextIncoming(5 * time.Second)
	if from := ic.req.From().Address.User; from != "1001" {
		t.Fatalf("Bob's phone rings for %s, want Alice", from)
	}
	bob.answer(ic)

	// Bob's audio reaches Alice as the continuation of the stream she was hearing.
	toSwitch := remoteMedia(t, ic.req.Body())
	go bob.sendRTP(t, toSwitch, 40, 0xB0)
	after := rtpHeaders(t, alice.rtp, 600*time.Millisecond)
	if len(after) < 20 {
		t.Fatalf("Alice received %d packets after Bob answered", len(after))
	}
	all := append(held, after...)
	ssrc := all[0].SSRC
	for i, h := range all {
		if h.SSRC != ssrc {
			t.Fatalf("packet %d has SSRC %x, want %x throughout (one continuous stream)", i, h.SSRC, ssrc)
		}
	}
	for i := 1; i < len(after); i++ {
		if after[i].SequenceNumber != after[i-1].SequenceNumber+1 {
			t.Fatalf("sequence jumps %d → %d after the hand-over", after[i-1].SequenceNumber, after[i].SequenceNumber)
		}
	}
	if st, _ := table.Get("1002"); st.Status != presence.Busy {
		t.Fatalf("Bob talking to Alice: %s", st.Status)
	}
	if err := d.Bye(ctx); err != nil {
		t.Fatal(err)
	}
	<-bob.byes
	sw.waitIdle(t)
	if st, _ := table.Get("1002"); st.Status != presence.Available {
		t.Fatalf("Bob after both calls: %s", st.Status)
	}
}

func TestDNDTargetWithoutVoicemailHearsAnnouncementThen480(t *testing.T) {
	sw, table := routedSwitch(t, greetings{"1002/dnd": media.Tone(700, 0.4, 300*time.Millisecond)})
	newPhone(t, sw, "1002", "udp").mustRegister()
	alice := newPhone(t, sw, "1001", "udp").mustRegister()
	if _, err := table.SetDND("1002", true); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { _, err := alice.call(ctx, "1002"); done <- err }()
	early := rtpHeaders(t, alice.rtp, 500*time.Millisecond)
	if err := <-done; statusOf(err) != 480 {
		t.Fatalf("call to DND user without voicemail: %v, want 480", err)
	}
	if len(early) < 10 {
		t.Fatalf("caller heard %d packets of announcement before 480", len(early))
	}
	sw.waitIdle(t)
}

// heldSwitch is routedSwitch with a mailbox for 1003 (vmUsers) and a short hold limit.
func heldSwitch(t *testing.T, limit time.Duration) (*testSwitch, *presence.Table, *mailbox.Store) {
	t.Helper()
	table, err := presence.NewTable([]presence.User{{Ext: "1001"}, {Ext: "1002"}, {Ext: "1003"}}, &presence.MemoryStore{})
	if err != nil {
		t.Fatal(err)
	}
	store := openMailbox(t)
	sw := startSwitch(t, func(o *switchOpts) {
		o.Presence = table
		r := routing.New(vmUsers{}, o.Locations.(*sbsip.MemoryLocations), table)
		r.HoldLimit = limit
		o.Router = r
		o.Voicemail = store
		o.Greetings = greetings{"1003/busy": media.Tone(500, 0.4, 200*time.Millisecond),
			"1003/no_answer": media.Tone(600, 0.4, 200*time.Millisecond)}
	})
	return sw, table, store
}

func TestHeldCallerPressesOneForVoicemail(t *testing.T) {
	sw, table, store := heldSwitch(t, time.Minute)
	alice := newPhone(t, sw, "1001", "udp").mustRegister()
	table.CallStarted("1003", "c1") // Carol is busy (on a call elsewhere)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	d, err := alice.call(ctx, "1003")
	if err != nil {
		t.Fatalf("call to busy Carol: %v", err)
	}
	peer := newRTPPeer(t, alice, d.InviteResponse.Body())
	peer.waitHeard(500 * time.Millisecond) // busy greeting, then music
	peer.digit('1')
	// Voicemail: the no-answer greeting (600 Hz) and the beep, then her message.
	deadline := time.Now().Add(5 * time.Second)
	for {
		if first, _ := toneSpan(peer.heardSamples(), 1000); first >= 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no voicemail beep after pressing 1")
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(450 * time.Millisecond)
	peer.send(media.Tone(1000, 0.5, 1200*time.Millisecond))
	_ = d.Bye(ctx)
	deadline = time.Now().Add(3 * time.Second)
	for {
		if msgs, _ := store.List("1003"); len(msgs) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no message left after pressing 1")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if sw.flows.Waiting("1003") != 0 {
		t.Fatal("caller still on hold after choosing voicemail")
	}
	table.CallEnded("1003", "c1")
	sw.waitIdle(t)
}

func TestHoldLimitSendsCallerToVoicemail(t *testing.T) {
	sw, table, _ := heldSwitch(t, 400*time.Millisecond)
	alice := newPhone(t, sw, "1001", "udp").mustRegister()
	table.CallStarted("1003", "c1")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	d, err := alice.call(ctx, "1003")
	if err != nil {
		t.Fatalf("call to busy Carol: %v", err)
	}
	peer := newRTPPeer(t, alice, d.InviteResponse.Body())
	deadline := time.Now().Add(5 * time.Second)
	for {
		heard := peer.heardSamples()
		if first, _ := toneSpan(heard, 600); first >= 0 {
			break // the no-answer greeting: the caller left hold for voicemail
		}
		if time.Now().After(deadline) {
			t.Fatal("caller still holding after the hold limit")
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = d.Bye(ctx)
	table.CallEnded("1003", "c1")
	sw.waitIdle(t)
}

func TestSeveralHeldCallersArePutThroughFirstComeFirstServed(t *testing.T) {
	sw, _ := routedSwitch(t, greetings{"1002/busy": media.Tone(500, 0.4, 100*time.Millisecond)})
	bob := newPhone(t, sw, "1002", "udp").mustRegister()
	carol := newPhone(t, sw, "1003", "udp").mustRegister()
	alice := newPhone(t, sw, "1001", "udp").mustRegister()
	dave := newPhone(t, sw, "1004", "udp").mustRegister()

	_, carolHangup, _ := bridged(t, carol, bob) // Bob is busy
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := alice.call(ctx, "1002"); err != nil { // first to hold
		t.Fatal(err)
	}
	eventually(t, "Alice holding for Bob", func() bool { return sw.flows.Waiting("1002") == 1 })
	if _, err := dave.call(ctx, "1002"); err != nil { // second
		t.Fatal(err)
	}
	eventually(t, "Alice and Dave holding for Bob", func() bool { return sw.flows.Waiting("1002") == 2 })

	_ = carolHangup()
	for _, want := range []string{"1001", "1004"} {
		ic := bob.nextIncoming(5 * time.Second)
		if from := ic.req.From().Address.User; from != want {
			t.Fatalf("Bob's phone rings for %s, want %s (first come, first served)", from, want)
		}
		bob.answer(ic)
		hangUpAnswered(t, ic)
	}
	for _, p := range []*phone{alice, dave} {
		select {
		case <-p.byes:
		case <-time.After(3 * time.Second):
			t.Fatalf("%s got no BYE", p.ext)
		}
	}
	sw.waitIdle(t)
}
