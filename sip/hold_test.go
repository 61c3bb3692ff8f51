package sip_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/switchboard-voip/switchboard/media"
	"github.com/switchboard-voip/switchboard/presence"
	"github.com/switchboard-voip/switchboard/routing"
	sbsip "github.com/switchboard-voip/switchboard/sip"
)

// routedSwitch is a switch whose routing follows the presence table, with short own greetings.
func routedSwitch(t *testing.T, g greetings) (*testSwitch, *presence.Table) {
	t.Helper()
	table, err := presence.NewTable([]presence.User{{Ext: "1001"}, {Ext: "1002"}, {Ext: "1003"}}, &presence.MemoryStore{})
	if err != nil {
		t.Fatal(err)
	}
	sw := startSwitch(t, func(o *sbsip.Options) {
		o.Presence = table
		o.Router = routing.New(users{}, o.Locations.(*sbsip.MemoryLocations), table)
		o.Greetings = g
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
	if sw.srv.Waiting("1002") != 1 {
		t.Fatalf("waiting for 1002: %d", sw.srv.Waiting("1002"))
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
