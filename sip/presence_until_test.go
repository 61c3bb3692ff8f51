package sip_test

import (
	"strings"
	"testing"
	"time"

	"github.com/switchboard-voip/switchboard/internal/clock"
	"github.com/switchboard-voip/switchboard/presence"
)

// TestTimedDNDEndsAndPhonesFollow: a DND with a reason and an end shows on a watcher's phone
// (PIDF note with the reason, RPID until) and on the user's own DND key; when it ends on the
// clock, both follow at once. The reason is escaped: it is the user's own text.
func TestTimedDNDEndsAndPhonesFollow(t *testing.T) {
	start := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	clk := clock.NewFake(start)
	table, err := presence.NewTable([]presence.User{{Ext: "1001", Name: "Alice"}, {Ext: "1002", Name: "Bob"},
		{Ext: "1003", Name: "Carol"}}, &presence.MemoryStore{}, presence.WithClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	table.Start()
	t.Cleanup(table.Close)
	sw := startSwitch(t, func(o *switchOpts) { o.Presence = table })
	bob := newPhone(t, sw, "1002", "udp").mustRegister()
	alice := newPhone(t, sw, "1001", "udp")
	watcher, own := alice.notifiesByEvent(), bob.notifiesByEvent()
	if res, _ := alice.subscribe(t, "1002", "presence", 600); res.StatusCode != 200 {
		t.Fatalf("SUBSCRIBE presence: %d", res.StatusCode)
	}
	if res, _ := bob.subscribe(t, "1002", "as-feature-event", 600); res.StatusCode != 200 {
		t.Fatalf("SUBSCRIBE as-feature-event: %d", res.StatusCode)
	}
	key := func(body string) string {
		if strings.Contains(body, "<doNotDisturbOn>true</doNotDisturbOn>") {
			return "on"
		}
		return "off"
	}
	raw := func(body string) string { return body }
	if got := collect(t, watcher["presence"], 1, presenceWord); got[0] != "open" {
		t.Fatalf("first presence NOTIFY %v", got)
	}
	if got := collect(t, own["as-feature-event"], 1, key); got[0] != "off" {
		t.Fatalf("first DND key NOTIFY %v", got)
	}

	until := start.Add(45 * time.Minute)
	if _, err := table.Set("1002", presence.Change{DND: true, Reason: "Q&A <board>", Until: until, Source: presence.SourceUser, By: "1002"}); err != nil {
		t.Fatal(err)
	}
	body := collect(t, watcher["presence"], 1, raw)[0]
	if presenceWord(body) != "dnd" || !strings.Contains(body, "<note>Do Not Disturb: Q&amp;A &lt;board&gt;</note>") ||
		!strings.Contains(body, `<rpid:activities until="2026-12-04T10:45:00Z">`) {
		t.Fatalf("PIDF during the timed DND:\n%s", body)
	}
	if got := collect(t, own["as-feature-event"], 1, key); got[0] != "on" {
		t.Fatalf("DND key %v", got)
	}

	if !clk.WaitFor(1, 5*time.Second) {
		t.Fatal("no timer for the DND's end")
	}
	clk.Advance(45 * time.Minute)
	if got := collect(t, watcher["presence"], 1, presenceWord); got[0] != "open" {
		t.Fatalf("presence after the end %v", got)
	}
	if got := collect(t, own["as-feature-event"], 1, key); got[0] != "off" {
		t.Fatalf("DND key after the end %v", got)
	}
	if st, _ := table.Get("1002"); st.Status != presence.Available || st.Source != presence.SourceExpiry {
		t.Fatalf("after the end: %+v", st)
	}
}
