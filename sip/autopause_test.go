package sip_test

import (
	"context"
	"testing"
	"time"

	"github.com/switchboard-voip/switchboard/presence"
	"github.com/switchboard-voip/switchboard/routing"
)

// TestQueueAgentMissingThreeOffersIsPaused: an agent who declines three offers in a row is set
// to DND "missed 3 queue calls" by auto-pause, is offered nothing more, and the caller goes on
// to the next agent who becomes free.
func TestQueueAgentMissingThreeOffersIsPaused(t *testing.T) {
	sw, table := queueSwitch(t, routing.Queue{Ext: "700", Strategy: routing.LongestIdle, Members: []string{"1002", "1003"},
		RingTimeout: 5 * time.Second, MaxWait: time.Minute, AutoPause: 3})
	bob := newPhone(t, sw, "1002", "udp").mustRegister()
	carol := newPhone(t, sw, "1003", "udp").mustRegister()
	alice := newPhone(t, sw, "1001", "udp").mustRegister()
	if _, err := table.SetDND("1003", true); err != nil { // Carol is away at first
		t.Fatal(err)
	}
	d := queueCall(t, alice)
	for i := range 3 {
		ic := bob.nextIncoming(5 * time.Second)
		if err := ic.dlg.Respond(603, "Decline", nil); err != nil {
			t.Fatalf("offer %d: %v", i+1, err)
		}
	}
	waitStatus(t, table, "1002", presence.DND)
	if st, _ := table.Get("1002"); st.Reason != "missed 3 queue calls" || st.Source != presence.SourceAutoPause {
		t.Fatalf("Bob after three declined offers: %+v", st)
	}
	if _, err := table.Set("1003", presence.Change{Source: presence.SourceUser, By: "1003"}); err != nil {
		t.Fatal(err)
	}
	ic := carol.nextIncoming(5 * time.Second)
	select {
	case <-bob.incoming:
		t.Fatal("a paused agent was offered a fourth call")
	default:
	}
	carol.answer(ic)
	_ = d.Bye(context.Background())
	<-carol.byes
	sw.waitIdle(t)
}
