package sip_test

import (
	"context"
	"testing"
	"time"

	"github.com/switchboard-voip/switchboard/presence"
	"github.com/switchboard-voip/switchboard/routing"
	sbsip "github.com/switchboard-voip/switchboard/sip"
)

// screeningUsers makes 1002 screen calls; 1002 has a mailbox.
type screeningUsers struct{ users }

func (screeningUsers) User(ext string) (routing.User, bool) {
	u, ok := users{}.User(ext)
	if ext == "1002" {
		u.Screening, u.Voicemail = true, true
	}
	return u, ok
}

func screeningSwitch(t *testing.T) (*testSwitch, *presence.Table) {
	t.Helper()
	table, err := presence.NewTable([]presence.User{{Ext: "1001"}, {Ext: "1002"}}, &presence.MemoryStore{})
	if err != nil {
		t.Fatal(err)
	}
	store := openMailbox(t)
	sw := startSwitch(t, func(o *switchOpts) {
		o.Presence = table
		o.Voicemail = store
		o.Greetings = greetings{"1002/dnd": nil}
		o.Router = routing.New(screeningUsers{}, o.Locations.(*sbsip.MemoryLocations), table)
	})
	return sw, table
}

// screenAndPress answers Bob's screening call, listens to the menu for a moment, presses key.
func screenAndPress(t *testing.T, bob *phone, key byte) *incomingCall {
	t.Helper()
	ic := bob.nextIncoming(5 * time.Second)
	bob.answer(ic)
	peer := newRTPPeer(t, bob, ic.dlg.InviteRequest.Body())
	peer.dst = remoteMedia(t, ic.req.Body())
	peer.waitHeard(500 * time.Millisecond) // "Call from one zero zero one…"
	peer.digit(key)
	return ic
}

func TestScreeningAcceptConnectsTheCaller(t *testing.T) {
	sw, _ := screeningSwitch(t)
	bob := newPhone(t, sw, "1002", "udp").mustRegister()
	alice := newPhone(t, sw, "1001", "udp").mustRegister()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan error, 1)
	var d *sipDialog
	go func() {
		dd, err := alice.call(ctx, "1002")
		d = &sipDialog{dd}
		done <- err
	}()
	screenAndPress(t, bob, '1')
	if err := <-done; err != nil {
		t.Fatalf("caller after accept: %v", err)
	}
	_ = d.Bye(ctx)
	<-bob.byes
	sw.waitIdle(t)
}

func TestScreeningKeyThreeSetsDNDAndSendsCallerToVoicemail(t *testing.T) {
	sw, table := screeningSwitch(t)
	bob := newPhone(t, sw, "1002", "udp").mustRegister()
	alice := newPhone(t, sw, "1001", "udp").mustRegister()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		d, err := alice.call(ctx, "1002")
		if err == nil {
			time.Sleep(300 * time.Millisecond)
			_ = d.Bye(ctx)
		}
		done <- err
	}()
	screenAndPress(t, bob, '3')
	select {
	case <-bob.byes: // the switch releases Bob's phone
	case <-time.After(5 * time.Second):
		t.Fatal("Bob's phone was not released after 3")
	}
	if err := <-done; err != nil {
		t.Fatalf("caller should be answered by voicemail: %v", err)
	}
	if st, _ := table.Get("1002"); !st.DND {
		t.Fatalf("Bob after pressing 3: %+v", st)
	}
	sw.waitIdle(t)
}
