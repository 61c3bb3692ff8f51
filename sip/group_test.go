package sip_test

import (
	"context"
	"testing"
	"time"

	"github.com/switchboard-voip/switchboard/internal/clock"
	"github.com/switchboard-voip/switchboard/media"
	"github.com/switchboard-voip/switchboard/presence"
	"github.com/switchboard-voip/switchboard/routing"
	sbsip "github.com/switchboard-voip/switchboard/sip"
)

// groupUsers adds ring group g to the test users; 1005 has a mailbox (a group's voicemail
// fallback).
type groupUsers struct {
	users
	g routing.Group
}

func (u groupUsers) Group(ext string) (routing.Group, bool) { return u.g, ext == u.g.Ext }
func (u groupUsers) Exists(ext string) bool                 { return ext == u.g.Ext || u.users.Exists(ext) }
func (u groupUsers) User(ext string) (routing.User, bool) {
	usr, ok := u.users.User(ext)
	if ext == "1005" {
		usr.Voicemail = true
	}
	return usr, ok
}

// groupSwitch is a switch with ring group g, a status table of every test user and a mailbox
// store (1005's no-answer greeting is a short tone).
func groupSwitch(t *testing.T, g routing.Group) (*testSwitch, *presence.Table) {
	t.Helper()
	return groupSwitchOn(t, g, nil)
}

// groupSwitchOn is groupSwitch whose call timers run on clk (nil: the wall clock).
func groupSwitchOn(t *testing.T, g routing.Group, clk clock.Clock) (*testSwitch, *presence.Table) {
	t.Helper()
	var people []presence.User
	for ext := range testUsers {
		people = append(people, presence.User{Ext: ext})
	}
	table, err := presence.NewTable(people, &presence.MemoryStore{})
	if err != nil {
		t.Fatal(err)
	}
	store := openMailbox(t)
	sw := startSwitch(t, func(o *switchOpts) {
		o.Presence = table
		o.Voicemail = store
		o.Greetings = greetings{"1005/no_answer": media.Tone(600, 0.4, 100*time.Millisecond)}
		o.Router = routing.New(groupUsers{g: g}, o.Locations.(*sbsip.MemoryLocations), table)
		o.Clock = clk
	})
	return sw, table
}

// noRing fails if p's phone rang.
func noRing(t *testing.T, p *phone, why string) {
	t.Helper()
	select {
	case ic := <-p.incoming:
		t.Fatalf("%s's phone rang (call from %s): %s", p.ext, ic.req.From().Address.User, why)
	default:
	}
}

// gotCancel waits for ic's phone to get CANCEL for that INVITE.
func gotCancel(t *testing.T, p *phone, ic *incomingCall, within time.Duration) {
	t.Helper()
	select {
	case id := <-p.cancels:
		if id != callID(ic.req) {
			t.Fatalf("%s got CANCEL for %s, want %s", p.ext, id, callID(ic.req))
		}
	case <-time.After(within):
		t.Fatalf("%s's phone got no CANCEL", p.ext)
	}
}

func TestGroupRingallRingsOnlyAvailableMembersFirstAnswerWins(t *testing.T) {
	for name, tc := range map[string]struct {
		unavailable string // never rung
		ringing     [2]string
	}{
		"dnd member":  {unavailable: "1002", ringing: [2]string{"1003", "1004"}},
		"busy member": {unavailable: "1003", ringing: [2]string{"1002", "1004"}},
	} {
		t.Run(name, func(t *testing.T) {
			sw, table := groupSwitch(t, routing.Group{Ext: "600", Members: []string{"1002", "1003", "1004"},
				RingTimeout: 5 * time.Second, Fallback: routing.Fallback{Kind: routing.FallbackHangup}})
			phones := map[string]*phone{}
			for _, ext := range []string{"1002", "1003", "1004", "1005", "1001"} {
				phones[ext] = newPhone(t, sw, ext, "udp").mustRegister()
			}
			alice, out := phones["1001"], phones[tc.unavailable]
			leaks := trackGoroutines(t)
			endBusy := func() {}
			if name == "dnd member" {
				if _, err := table.SetDND(tc.unavailable, true); err != nil {
					t.Fatal(err)
				}
			} else {
				_, hangup, _ := bridged(t, phones["1005"], out) // Erin talks to the member: busy
				endBusy = func() { _ = hangup(); <-out.byes }
				waitStatus(t, table, tc.unavailable, presence.Busy)
			}

			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			done := make(chan *sipDialog, 1)
			go func() {
				d, err := alice.call(ctx, "600")
				if err != nil {
					t.Errorf("call to group: %v", err)
				}
				done <- &sipDialog{d}
			}()
			first, second := phones[tc.ringing[0]], phones[tc.ringing[1]]
			icFirst := first.nextIncoming(5 * time.Second)
			icSecond := second.nextIncoming(5 * time.Second)
			for _, ic := range []*incomingCall{icFirst, icSecond} {
				if from := ic.req.From().Address.User; from != "1001" {
					t.Fatalf("member rings for %s, want Alice", from)
				}
				if err := ic.dlg.Respond(180, "Ringing", nil); err != nil {
					t.Fatal(err)
				}
			}
			// The second member to ring answers first: they get the call, the other phone CANCEL.
			second.answer(icSecond)
			d := <-done
			gotCancel(t, first, icFirst, 3*time.Second)
			noRing(t, out, "an unavailable member of a group is never rung")
			waitStatus(t, table, second.ext, presence.Busy)
			waitStatus(t, table, first.ext, presence.Available)

			if d.DialogClientSession == nil || d.Bye(ctx) != nil {
				t.Fatal("caller could not hang up")
			}
			select {
			case <-second.byes:
			case <-time.After(3 * time.Second):
				t.Fatal("the member who answered got no BYE")
			}
			noRing(t, out, "an unavailable member of a group is never rung")
			endBusy()
			leaks.settled(sw, 1)
		})
	}
}

// The ring timeout runs on the switch's clock: the test moves it, so "the next member rings a
// ring timeout later, not before" holds exactly, however slow the machine.
func TestGroupSequentialRingsMembersOneAfterAnother(t *testing.T) {
	const ringTimeout = 20 * time.Second
	clk := clock.NewFake(time.Now())
	sw, table := groupSwitchOn(t, routing.Group{Ext: "600", Sequential: true, Members: []string{"1002", "1003", "1004"},
		RingTimeout: ringTimeout, Fallback: routing.Fallback{Kind: routing.FallbackHangup}}, clk)
	bob := newPhone(t, sw, "1002", "udp").mustRegister()
	carol := newPhone(t, sw, "1003", "udp").mustRegister()
	dave := newPhone(t, sw, "1004", "udp").mustRegister()
	alice := newPhone(t, sw, "1001", "udp").mustRegister()
	leaks := trackGoroutines(t)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan *sipDialog, 1)
	go func() {
		d, err := alice.call(ctx, "600")
		if err != nil {
			t.Errorf("call to group: %v", err)
		}
		done <- &sipDialog{d}
	}()
	icBob := bob.nextIncoming(5 * time.Second)
	if err := icBob.dlg.Respond(180, "Ringing", nil); err != nil {
		t.Fatal(err)
	}
	if !clk.WaitFor(1, 5*time.Second) {
		t.Fatal("no ring timer set for the first member")
	}
	clk.Advance(ringTimeout - time.Millisecond)
	noRing(t, carol, "the next member rang while the first was still ringing")
	noRing(t, dave, "the last member rang while the first was still ringing")

	// Bob lets it ring out: his phone is cancelled and Carol's rings.
	clk.Advance(time.Millisecond)
	gotCancel(t, bob, icBob, 3*time.Second)
	icCarol := carol.nextIncoming(3 * time.Second)
	noRing(t, dave, "the third member rang together with the second")
	carol.answer(icCarol)
	d := <-done
	if d.DialogClientSession == nil {
		t.FailNow()
	}
	waitStatus(t, table, "1003", presence.Busy)
	clk.Advance(2 * ringTimeout) // Dave's turn would have come by now
	_ = d.Bye(ctx)
	<-carol.byes
	noRing(t, dave, "the group rang on after a member answered")
	leaks.settled(sw, 1)
}

func TestGroupNobodyAvailableGoesToFallback(t *testing.T) {
	t.Run("hangup", func(t *testing.T) {
		sw, table := groupSwitch(t, routing.Group{Ext: "600", Members: []string{"1002", "1003", "1004"},
			RingTimeout: 5 * time.Second, Fallback: routing.Fallback{Kind: routing.FallbackHangup}})
		bob := newPhone(t, sw, "1002", "udp").mustRegister()
		carol := newPhone(t, sw, "1003", "udp").mustRegister()
		alice := newPhone(t, sw, "1001", "udp").mustRegister()
		for _, ext := range []string{"1002", "1003"} { // 1004 has no phone registered
			if _, err := table.SetDND(ext, true); err != nil {
				t.Fatal(err)
			}
		}
		leaks := trackGoroutines(t)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := alice.call(ctx, "600"); statusOf(err) != 480 {
			t.Fatalf("group with nobody available, fallback hangup: %v, want 480", err)
		}
		noRing(t, bob, "member on DND")
		noRing(t, carol, "member on DND")
		leaks.settled(sw, 1)
	})
	t.Run("voicemail", func(t *testing.T) {
		sw, table := groupSwitch(t, routing.Group{Ext: "600", Members: []string{"1002", "1003", "1004"},
			RingTimeout: 5 * time.Second, Fallback: routing.Fallback{Kind: routing.FallbackVoicemail, Ext: "1005"}})
		bob := newPhone(t, sw, "1002", "udp").mustRegister()
		alice := newPhone(t, sw, "1001", "udp").mustRegister()
		if _, err := table.SetDND("1002", true); err != nil {
			t.Fatal(err)
		}
		leaks := trackGoroutines(t)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		d, err := alice.call(ctx, "600")
		if err != nil {
			t.Fatalf("group with nobody available, fallback voicemail: %v, want the caller answered", err)
		}
		if heard := rtpHeaders(t, alice.rtp, 300*time.Millisecond); len(heard) < 5 {
			t.Fatalf("caller answered by voicemail heard %d packets", len(heard))
		}
		noRing(t, bob, "member on DND")
		_ = d.Bye(ctx)
		leaks.settled(sw, 1)
	})
	t.Run("nobody answers", func(t *testing.T) {
		sw, _ := groupSwitch(t, routing.Group{Ext: "600", Members: []string{"1002", "1003"},
			RingTimeout: 300 * time.Millisecond, Fallback: routing.Fallback{Kind: routing.FallbackHangup}})
		bob := newPhone(t, sw, "1002", "udp").mustRegister()
		carol := newPhone(t, sw, "1003", "udp").mustRegister()
		alice := newPhone(t, sw, "1001", "udp").mustRegister()
		leaks := trackGoroutines(t)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		errc := make(chan error, 1)
		go func() { _, err := alice.call(ctx, "600"); errc <- err }()
		var ics []*incomingCall
		for _, p := range []*phone{bob, carol} {
			ic := p.nextIncoming(3 * time.Second)
			_ = ic.dlg.Respond(180, "Ringing", nil)
			ics = append(ics, ic)
		}
		if err := <-errc; statusOf(err) != 480 {
			t.Fatalf("group nobody answered, fallback hangup: %v, want 480", err)
		}
		gotCancel(t, bob, ics[0], 3*time.Second)
		gotCancel(t, carol, ics[1], 3*time.Second)
		leaks.settled(sw, 1)
	})
}
