package cluster

import (
	"testing"
	"time"

	"github.com/switchboard-voip/switchboard/internal/clock"
	"github.com/switchboard-voip/switchboard/internal/natstest"
	"github.com/switchboard-voip/switchboard/internal/poll"
	"github.com/switchboard-voip/switchboard/presence"
)

// TestATimedDNDEndsOnceForTheCluster: both nodes' timers see a DND end at once; the bucket's
// compare-and-set lets one of them save the end, every node shows it, and the shared history
// of changes holds the change, its reason and one expiry.
func TestATimedDNDEndsOnceForTheCluster(t *testing.T) {
	nats := natstest.Start(t, 1, true)
	start := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	clk := clock.NewFake(start)
	a := join(t, nats, "a", 0, 5*time.Second, presence.WithClock(clk))
	b := join(t, nats, "b", 0, 5*time.Second, presence.WithClock(clk))
	if _, err := a.table.Set("1002", presence.Change{DND: true, Reason: "at lunch", Until: start.Add(time.Hour), Source: presence.SourceUser, By: "1002"}); err != nil {
		t.Fatal(err)
	}
	poll.Require(t, 5*time.Second, "b shows the reason", func() bool { st, _ := b.table.Get("1002"); return st.Reason == "at lunch" })
	if !clk.WaitFor(2, 5*time.Second) {
		t.Fatal("the nodes armed no timers for the end")
	}
	clk.Advance(time.Hour)
	seesStatus(t, 5*time.Second, "1002", presence.Available, a, b)
	changes, err := b.table.Changes("1002", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 2 || changes[0].Source != presence.SourceExpiry || changes[1].Reason != "at lunch" {
		t.Fatalf("changes %+v, want the change and one expiry", changes)
	}
}

// TestWorkingHoursSetAtOneNodeReachEveryNode: hours set through one node are every node's, and
// the status they set is everyone's.
func TestWorkingHoursSetAtOneNodeReachEveryNode(t *testing.T) {
	nats := natstest.Start(t, 1, true)
	a := join(t, nats, "a", 0, 5*time.Second)
	b := join(t, nats, "b", 0, 5*time.Second)
	// Hours that never include now: DND at once.
	day := [...]string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}[(time.Now().UTC().Weekday()+3)%7]
	h := presence.Hours{TimeZone: "UTC", Week: map[string][]string{day: {"09:00-17:00"}}}
	if _, err := a.table.SetHours("1003", &h); err != nil {
		t.Fatal(err)
	}
	seesStatus(t, 5*time.Second, "1003", presence.DND, a, b)
	poll.Require(t, 5*time.Second, "b has the hours", func() bool { got, ok := b.table.Hours("1003"); return ok && got.TimeZone == "UTC" })
	if _, err := b.table.SetHours("1003", nil); err != nil {
		t.Fatal(err)
	}
	poll.Require(t, 5*time.Second, "a forgets the hours", func() bool { _, ok := a.table.Hours("1003"); return !ok })
}
