package sip_test

import (
	"context"
	"testing"
	"time"

	"github.com/switchboard-voip/switchboard/history"
	"github.com/switchboard-voip/switchboard/presence"
	"github.com/switchboard-voip/switchboard/routing"
	sbsip "github.com/switchboard-voip/switchboard/sip"
)

// TestHistorySaysWhyAPhoneDidNotRing: a call to ring group 600 passes over Bob, put on DND by
// Alice with a reason, and Carol, who has no phone; the call's record names both with why, and
// each finds it in their own history.
func TestHistorySaysWhyAPhoneDidNotRing(t *testing.T) {
	store := openHistory(t)
	var people []presence.User
	for ext := range testUsers {
		people = append(people, presence.User{Ext: ext})
	}
	table, err := presence.NewTable(people, &presence.MemoryStore{})
	if err != nil {
		t.Fatal(err)
	}
	g := routing.Group{Ext: "600", Name: "Sales", Members: []string{"1002", "1003", "1004"}, RingTimeout: 5 * time.Second,
		Fallback: routing.Fallback{Kind: routing.FallbackHangup}}
	sw := startSwitch(t, func(o *switchOpts) {
		o.Presence = table
		o.History = store
		o.Router = routing.New(groupUsers{g: g}, o.Locations.(*sbsip.MemoryLocations), table)
	})
	newPhone(t, sw, "1002", "udp").mustRegister()
	dave := newPhone(t, sw, "1004", "udp").mustRegister()
	alice := newPhone(t, sw, "1001", "udp").mustRegister()
	if _, err := table.Set("1002", presence.Change{DND: true, Reason: "at lunch", Source: presence.SourceAdmin, By: "1001"}); err != nil {
		t.Fatal(err)
	}
	set, _ := table.Get("1002")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go func() {
		ic := dave.nextIncoming(5 * time.Second)
		_ = ic.dlg.Respond(603, "Decline", nil)
	}()
	if _, err := alice.call(ctx, "600"); statusOf(err) != 480 {
		t.Fatalf("call to the group: %v, want 480 (Dave declined, the fallback hangs up)", err)
	}
	sw.waitIdle(t)

	var rec history.Record
	eventually(t, "the call recorded", func() bool {
		recs, err := store.List("1001", 1, "")
		if err != nil || len(recs) == 0 {
			return false
		}
		rec = recs[0]
		return true
	})
	want := []history.Skip{
		{Ext: "1002", Via: "600", ViaName: "Sales", Why: history.SkipDND, Reason: "at lunch", Source: "admin", By: "1001", At: set.SetAt.UTC()},
		{Ext: "1003", Via: "600", ViaName: "Sales", Why: history.SkipNoPhone},
	}
	if len(rec.Skipped) != len(want) {
		t.Fatalf("skipped %+v, want %+v", rec.Skipped, want)
	}
	for i := range want {
		got := rec.Skipped[i]
		if got.At.Equal(want[i].At) {
			got.At = want[i].At
		}
		if got != want[i] {
			t.Errorf("skipped[%d] = %+v\nwant %+v", i, got, want[i])
		}
	}
	for _, ext := range []string{"1002", "1003"} {
		if recs, _ := store.List(ext, 10, ""); len(recs) != 1 || recs[0].ID != rec.ID {
			t.Errorf("%s's history: %+v", ext, recs)
		}
	}
}
