package sip_test

import (
	"context"
	"encoding/xml"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/switchboard-voip/switchboard/history"
	"github.com/switchboard-voip/switchboard/presence"
	"github.com/switchboard-voip/switchboard/routing"
)

// ringingCall places a call from caller to ext whose phone rings and is not answered; it
// returns the caller's dialog (answered later, by whoever picks it up) and where the answer
// arrives.
func ringingCall(t *testing.T, caller *phone, ext string) (*sipgo.DialogClientSession, chan error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	d, err := caller.dial(ctx, ext)
	if err != nil {
		t.Fatal(err)
	}
	answered := make(chan error, 1)
	go func() {
		err := d.WaitAnswer(ctx, sipgoAuth(caller))
		if err == nil {
			err = d.Ack(ctx)
		}
		answered <- err
	}()
	return d, answered
}

// pickUp dials code (say *81002) from p and waits for the answer.
func pickUp(t *testing.T, p *phone, code string) (*sipgo.DialogClientSession, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return p.call(ctx, code)
}

func TestPickupByFeatureCodeAnswersTheRingingCall(t *testing.T) {
	sw, table, _ := transferSwitch(t, nil)
	bob := newPhone(t, sw, "1002", "udp").mustRegister()
	carol := newPhone(t, sw, "1003", "udp").mustRegister()
	alice := newPhone(t, sw, "1001", "udp").mustRegister()

	d, answered := ringingCall(t, alice, "1002")
	ring := bob.nextIncoming(5 * time.Second)
	if err := ring.dlg.Respond(180, "Ringing", nil); err != nil {
		t.Fatal(err)
	}
	// Carol picks Bob's ringing call up with *8 1002.
	pd, err := pickUp(t, carol, routing.FeaturePickup+"1002")
	if err != nil {
		t.Fatalf("*81002: %v", err)
	}
	if err := <-answered; err != nil {
		t.Fatalf("Alice's call not answered by the pickup: %v", err)
	}
	select {
	case <-bob.cancels:
	case <-time.After(5 * time.Second):
		t.Fatal("Bob's phone kept ringing after the pickup")
	}
	// Alice and Carol hear each other.
	carol.sendRTP(t, remoteMedia(t, pd.InviteResponse.Body()), 15, 0xC0)
	if got := alice.recvRTP(t, 5, 0xC0); got < 5 {
		t.Fatalf("Alice heard %d packets from Carol", got)
	}
	alice.sendRTP(t, remoteMedia(t, d.InviteResponse.Body()), 15, 0xA0)
	if got := carol.recvRTP(t, 5, 0xA0); got < 5 {
		t.Fatalf("Carol heard %d packets from Alice", got)
	}
	eventually(t, "Alice and Carol busy, Bob free", func() bool {
		a, _ := table.Get("1001")
		b, _ := table.Get("1002")
		c, _ := table.Get("1003")
		return a.Status == presence.Busy && b.Status == presence.Available && c.Status == presence.Busy
	})
	calls := sw.srv.Calls()
	if len(calls) != 1 || !strings.Contains(strings.Join(calls[0].Trace, "\n"), "picked up by 1003") {
		t.Fatalf("calls after the pickup: %+v", calls)
	}
	// Carol hangs up: Alice's leg ends.
	if err := pd.Bye(context.Background()); err != nil {
		t.Fatal(err)
	}
	<-alice.byes
	sw.waitIdle(t)
	recs, _ := histories[sw].List("1001", 10, "")
	if len(recs) != 1 || recs[0].AnsweredBy != "1003" {
		t.Fatalf("Alice's call in the history: %+v", recs)
	}
}

func TestPickupRefusals(t *testing.T) {
	sw, _, _ := transferSwitch(t, nil)
	carol := newPhone(t, sw, "1003", "udp").mustRegister()
	newPhone(t, sw, "1002", "udp").mustRegister()
	// Nothing rings at 1002: 480 (the extension exists, there is no call to take); no such
	// user: 404.
	for code, want := range map[string]int{"*81002": 480, "*81999": 404} {
		if _, err := pickUp(t, carol, code); statusOf(err) != want {
			t.Fatalf("%s: %v, want %d", code, err, want)
		}
	}
	sw.waitIdle(t)
	eventually(t, "the refused pickups recorded", func() bool {
		recs, err := histories[sw].List("1003", 10, "")
		return err == nil && len(recs) == 2 && recs[0].Outcome == history.Rejected
	})
}

func TestPickedUpCallEndsWhenCallerHangsUp(t *testing.T) {
	sw, _, _ := transferSwitch(t, nil)
	bob := newPhone(t, sw, "1002", "udp").mustRegister()
	carol := newPhone(t, sw, "1003", "tcp").mustRegister() // the picker over TCP, the caller over UDP
	alice := newPhone(t, sw, "1001", "udp").mustRegister()
	d, answered := ringingCall(t, alice, "1002")
	ring := bob.nextIncoming(5 * time.Second)
	_ = ring.dlg.Respond(180, "Ringing", nil)
	pd, err := pickUp(t, carol, "*81002")
	if err != nil {
		t.Fatalf("*81002 over TCP: %v", err)
	}
	if err := <-answered; err != nil {
		t.Fatal(err)
	}
	<-bob.cancels
	if err := d.Bye(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case id := <-carol.byes:
		if id != callID(pd.InviteRequest) {
			t.Fatalf("BYE on %s, want the picker's %s", id, callID(pd.InviteRequest))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the picker got no BYE when the caller hung up")
	}
	sw.waitIdle(t)
}

func TestInviteWithReplacesFromATrunkIsForbidden(t *testing.T) {
	sw := startSwitch(t, func(o *switchOpts) { o.Trunks = loopbackTrunk{} })
	carrier := newPhone(t, sw, "15557654321", "udp")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	d, err := carrier.dcc.Invite(ctx, carrier.switchURI("15551230000"), carrier.sdp("sendrecv"),
		sip.NewHeader("Content-Type", "application/sdp"), sip.NewHeader("Replaces", "x@y;to-tag=a;from-tag=b"))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.WaitAnswer(ctx, sipgoNoAuth()); statusOf(err) != 403 {
		t.Fatalf("a carrier's INVITE with Replaces: %v, want 403", err)
	}
	sw.waitIdle(t)
}

// dialogInfo is the part of a dialog-info NOTIFY a BLF key uses.
type dialogInfo struct {
	XMLName xml.Name
	Version int `xml:"version,attr"`
	Dialogs []struct {
		ID        string `xml:"id,attr"`
		CallID    string `xml:"call-id,attr"`
		LocalTag  string `xml:"local-tag,attr"`
		RemoteTag string `xml:"remote-tag,attr"`
		Direction string `xml:"direction,attr"`
		State     string `xml:"state"`
		Remote    struct {
			Identity struct {
				Display string `xml:"display,attr"`
				URI     string `xml:",chardata"`
			} `xml:"identity"`
		} `xml:"remote"`
	} `xml:"dialog"`
}

func TestPickupByBLFKeyWithReplaces(t *testing.T) {
	for _, order := range []string{"as published", "tags swapped"} {
		t.Run(order, func(t *testing.T) {
			sw, _, _ := transferSwitch(t, nil)
			bob := newPhone(t, sw, "1002", "udp").mustRegister()
			carol := newPhone(t, sw, "1003", "udp").mustRegister()
			alice := newPhone(t, sw, "1001", "udp").mustRegister()
			notes := carol.watchNotifies()
			if res, _ := carol.subscribe(t, "1002", "dialog", 600); res.StatusCode != 200 {
				t.Fatalf("SUBSCRIBE dialog: %d", res.StatusCode)
			}
			_ = nextNotify(t, notes) // idle

			_, answered := ringingCall(t, alice, "1002")
			ring := bob.nextIncoming(5 * time.Second)
			_ = ring.dlg.Respond(180, "Ringing", nil)
			var info dialogInfo
			for len(info.Dialogs) == 0 || info.Dialogs[0].State != "early" {
				n := nextNotify(t, notes)
				info = dialogInfo{}
				if err := xml.Unmarshal(n.Body(), &info); err != nil {
					t.Fatalf("dialog-info: %v\n%s", err, n.Body())
				}
			}
			dl := info.Dialogs[0]
			if dl.Direction != "recipient" || dl.CallID == "" || dl.LocalTag == "" || dl.RemoteTag == "" ||
				!strings.Contains(dl.Remote.Identity.URI, "1001") || dl.Remote.Identity.Display != "User 1001" {
				t.Fatalf("early dialog for BLF pickup lacks what a desk phone needs: %+v", dl)
			}
			toTag, fromTag := dl.RemoteTag, dl.LocalTag
			if order == "tags swapped" {
				toTag, fromTag = fromTag, toTag
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			pd, err := carol.dcc.Invite(ctx, carol.switchURI("1002"), carol.sdp("sendrecv"),
				sip.NewHeader("Content-Type", "application/sdp"),
				sip.NewHeader("Replaces", dl.CallID+";to-tag="+toTag+";from-tag="+fromTag+";early-only"))
			if err != nil {
				t.Fatal(err)
			}
			if err := pd.WaitAnswer(ctx, sipgoAuth(carol)); err != nil {
				t.Fatalf("INVITE with Replaces: %v", err)
			}
			_ = pd.Ack(ctx)
			if err := <-answered; err != nil {
				t.Fatalf("Alice not answered by the BLF pickup: %v", err)
			}
			<-bob.cancels
			carol.sendRTP(t, remoteMedia(t, pd.InviteResponse.Body()), 15, 0xC0)
			if got := alice.recvRTP(t, 5, 0xC0); got < 5 {
				t.Fatalf("Alice heard %d packets from Carol", got)
			}
			_ = pd.Bye(ctx)
			<-alice.byes
			sw.waitIdle(t)
		})
	}
}

func TestInviteWithReplacesBadInput(t *testing.T) {
	sw, _, _ := transferSwitch(t, nil)
	bob := newPhone(t, sw, "1002", "udp").mustRegister()
	carol := newPhone(t, sw, "1003", "udp").mustRegister()
	alice := newPhone(t, sw, "1001", "udp").mustRegister()
	_, _, established := bridged(t, alice, bob)
	estToTag := toTag(established.InviteResponse)
	estFromTag := fromTag(established.InviteRequest)
	cases := []struct {
		name, replaces string
		want           int
	}{
		{"names no dialog", "nope@x;to-tag=a;from-tag=b", 481},
		{"malformed", "only-a-call-id", 400},
		{"an established call", callID(established.InviteRequest) + ";to-tag=" + estToTag + ";from-tag=" + estFromTag, 486},
	}
	for _, tc := range cases {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		pd, err := carol.dcc.Invite(ctx, carol.switchURI("1002"), carol.sdp("sendrecv"),
			sip.NewHeader("Content-Type", "application/sdp"), sip.NewHeader("Replaces", tc.replaces))
		if err != nil {
			t.Fatal(err)
		}
		if err := pd.WaitAnswer(ctx, sipgoAuth(carol)); statusOf(err) != tc.want {
			t.Errorf("%s: %v, want %d", tc.name, err, tc.want)
		}
		cancel()
	}
	// The established call is untouched.
	alice.sendRTP(t, remoteMedia(t, established.InviteResponse.Body()), 15, 0xA0)
	if got := bob.recvRTP(t, 5, 0xA0); got < 5 {
		t.Fatalf("Bob heard %d packets from Alice after the refused pickups", got)
	}
	_ = established.Bye(context.Background())
	<-bob.byes
	sw.waitIdle(t)
}

func TestPickupOfAQueueCallKeepsTheCallersStream(t *testing.T) {
	sw, _, _ := transferSwitch(t, nil)
	erin := newPhone(t, sw, "1005", "udp").mustRegister() // the queue's agent
	carol := newPhone(t, sw, "1003", "udp").mustRegister()
	alice := newPhone(t, sw, "1001", "udp").mustRegister()
	d := queueCall(t, alice) // answered by the queue: music
	offer := erin.nextIncoming(5 * time.Second)
	_ = offer.dlg.Respond(180, "Ringing", nil)
	before := rtpStream(t, alice, 300*time.Millisecond)
	pd, err := pickUp(t, carol, "*81005")
	if err != nil {
		t.Fatalf("*81005: %v", err)
	}
	<-erin.cancels
	go carol.sendRTP(t, remoteMedia(t, pd.InviteResponse.Body()), 30, 0xC0)
	after := rtpStream(t, alice, 600*time.Millisecond)
	oneStream(t, append(before, after...))
	carol.sendRTP(t, remoteMedia(t, pd.InviteResponse.Body()), 15, 0xC1)
	if got := alice.recvRTP(t, 5, 0xC1); got < 5 {
		t.Fatalf("Alice heard %d packets from Carol", got)
	}
	_ = d.Bye(context.Background())
	<-carol.byes
	sw.waitIdle(t)
}

func TestPickupRacingTheAnswerEndsWithOneWinner(t *testing.T) {
	sw, _, _ := transferSwitch(t, nil)
	bob := newPhone(t, sw, "1002", "udp").mustRegister()
	carol := newPhone(t, sw, "1003", "udp").mustRegister()
	alice := newPhone(t, sw, "1001", "udp").mustRegister()
	for i := range 6 {
		d, answered := ringingCall(t, alice, "1002")
		ring := bob.nextIncoming(5 * time.Second)
		_ = ring.dlg.Respond(180, "Ringing", nil)
		eventually(t, "the call ringing", func() bool {
			calls := sw.srv.Calls()
			return len(calls) == 1 && calls[0].State == "ringing" && len(calls[0].Parties) == 2
		})
		picked := make(chan error, 1)
		go func() {
			time.Sleep(jitter(20 * time.Millisecond))
			pd, err := pickUp(t, carol, "*81002")
			if err == nil {
				_ = pd.Bye(context.Background())
			}
			picked <- err
		}()
		time.Sleep(jitter(20 * time.Millisecond))
		bobAnswered := ring.dlg.Respond(200, "OK", bob.sdp("sendrecv"), sip.NewHeader("Content-Type", "application/sdp")) == nil
		perr := <-picked
		if err := <-answered; err != nil {
			t.Fatalf("round %d: Alice not answered: %v", i, err)
		}
		switch {
		case perr == nil:
			// Carol won: Bob's phone was cancelled, or (answering in the same instant) hung up.
			if bobAnswered {
				select {
				case <-bob.byes:
				case <-bob.cancels:
				case <-time.After(5 * time.Second):
					t.Fatalf("round %d: Bob answered a call Carol had picked up and was not hung up", i)
				}
			}
		case statusOf(perr) == 480:
			// Bob won; Carol found nothing ringing.
			if !bobAnswered {
				t.Fatalf("round %d: nobody answered", i)
			}
		default:
			t.Fatalf("round %d: pickup: %v", i, perr)
		}
		_ = d.Bye(context.Background())
		sw.waitIdle(t)
		drain(alice, bob, carol)
	}
}

func TestPickerWithoutACommonCodecIsRefusedAndThePhonesRingOn(t *testing.T) {
	sw, _, _ := transferSwitch(t, nil)
	bob := newPhone(t, sw, "1002", "udp").mustRegister()
	carol := newPhone(t, sw, "1003", "udp").mustRegister()
	alice := newPhone(t, sw, "1001", "udp").mustRegister()
	d, answered := ringingCall(t, alice, "1002")
	ring := bob.nextIncoming(5 * time.Second)
	_ = ring.dlg.Respond(180, "Ringing", nil)

	// Carol's phone offers only G.722: it cannot meet Alice's G.711.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	g722 := strings.NewReplacer("RTP/AVP 0 8 101", "RTP/AVP 9", "a=rtpmap:0 PCMU/8000\r\n", "a=rtpmap:9 G722/8000\r\n",
		"a=rtpmap:8 PCMA/8000\r\n", "").Replace(string(carol.sdp("sendrecv")))
	pd, err := carol.dcc.Invite(ctx, carol.switchURI("*81002"), []byte(g722), sip.NewHeader("Content-Type", "application/sdp"))
	if err != nil {
		t.Fatal(err)
	}
	if err := pd.WaitAnswer(ctx, sipgoAuth(carol)); statusOf(err) < 400 {
		t.Fatalf("a pickup without a common codec: %v, want refused", err)
	}
	// Bob's phone still rings and he answers: the caller was never dropped.
	select {
	case <-bob.cancels:
		t.Fatal("Bob's phone was cancelled by a pickup that could not happen")
	default:
	}
	if err := ring.dlg.Respond(200, "OK", bob.sdp("sendrecv"), sip.NewHeader("Content-Type", "application/sdp")); err != nil {
		t.Fatal(err)
	}
	if err := <-answered; err != nil {
		t.Fatalf("Alice after the refused pickup: %v", err)
	}
	hears(t, alice, bob, ring, 0xB0)
	_ = d.Bye(context.Background())
	<-bob.byes
	sw.waitIdle(t)
}
