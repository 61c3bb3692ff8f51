package sip_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/switchboard-voip/switchboard/presence"
	sbsip "github.com/switchboard-voip/switchboard/sip"
)

func presenceSwitch(t *testing.T) (*testSwitch, *presence.Table) {
	t.Helper()
	table, err := presence.NewTable([]presence.User{{Ext: "1001", Name: "Alice"}, {Ext: "1002", Name: "Bob"},
		{Ext: "1003", Name: "Carol"}}, &presence.MemoryStore{})
	if err != nil {
		t.Fatal(err)
	}
	sw := startSwitch(t, func(o *switchOpts) { o.Presence = table })
	return sw, table
}

// notifiesByEvent splits a phone's NOTIFYs by Event header.
func (p *phone) notifiesByEvent() map[string]chan *sip.Request {
	chans := map[string]chan *sip.Request{
		"presence": make(chan *sip.Request, 32), "dialog": make(chan *sip.Request, 32),
		"as-feature-event": make(chan *sip.Request, 32), "message-summary": make(chan *sip.Request, 32),
	}
	p.setOnNotify(func(req *sip.Request, tx sip.ServerTransaction) {
		ev := strings.TrimSpace(strings.Split(req.GetHeader("Event").Value(), ";")[0])
		if ch, ok := chans[ev]; ok {
			ch <- req
		}
		_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	})
	return chans
}

// dialogState reads the state a dialog-info body reports ("idle" when it lists no dialog).
func dialogState(body string) string {
	i := strings.Index(body, "<state>")
	if i < 0 {
		return "idle"
	}
	rest := body[i+len("<state>"):]
	return rest[:strings.Index(rest, "</state>")]
}

// presenceWord reads what a PIDF body says in the terms phones show.
func presenceWord(body string) string {
	switch {
	case strings.Contains(body, "<rpid:busy/>") && strings.Contains(body, "Do Not Disturb") && strings.Contains(body, "<basic>closed</basic>"):
		return "dnd"
	case strings.Contains(body, "<rpid:on-the-phone/>") && strings.Contains(body, "<basic>open</basic>"):
		return "on-the-phone"
	case strings.Contains(body, "<basic>open</basic>"):
		return "open"
	}
	return "?"
}

func collect(t *testing.T, ch chan *sip.Request, n int, read func(string) string) []string {
	t.Helper()
	var got []string
	for len(got) < n {
		select {
		case req := <-ch:
			got = append(got, read(string(req.Body())))
		case <-time.After(3 * time.Second):
			t.Fatalf("got %v, want %d NOTIFYs", got, n)
		}
	}
	return got
}

// watchIdleAndOpen subscribes watcher to ext's presence and dialog (BLF) events and checks the
// first NOTIFYs, delivered to notes (watcher.notifiesByEvent): idle, and open.
func watchIdleAndOpen(t *testing.T, watcher *phone, notes map[string]chan *sip.Request, ext string) {
	t.Helper()
	for _, ev := range []string{"presence", "dialog"} {
		if res, _ := watcher.subscribe(t, ext, ev, 600); res.StatusCode != 200 {
			t.Fatalf("SUBSCRIBE %s: %d", ev, res.StatusCode)
		}
	}
	if got := collect(t, notes["dialog"], 1, dialogState); got[0] != "idle" {
		t.Fatalf("first dialog NOTIFY %v", got)
	}
	if got := collect(t, notes["presence"], 1, presenceWord); got[0] != "open" {
		t.Fatalf("first presence NOTIFY %v", got)
	}
}

func TestWatcherSeesCallStatesInOrder(t *testing.T) {
	sw, table := presenceSwitch(t)
	bob := newPhone(t, sw, "1002", "udp").mustRegister()
	carol := newPhone(t, sw, "1003", "udp").mustRegister()
	alice := newPhone(t, sw, "1001", "udp") // the watcher
	notes := alice.notifiesByEvent()
	watchIdleAndOpen(t, alice, notes, "1002")

	ic, hangup, _ := bridged(t, carol, bob)
	_ = ic
	if st, _ := table.Get("1002"); st.Status != presence.Busy || !st.OnCall {
		t.Fatalf("callee during call: %+v", st)
	}
	if st, _ := table.Get("1003"); st.Status != presence.Busy {
		t.Fatalf("caller during call: %+v", st)
	}
	if err := hangup(); err != nil {
		t.Fatal(err)
	}
	<-bob.byes
	sw.waitIdle(t)

	if got := collect(t, notes["dialog"], 3, dialogState); strings.Join(got, ",") != "early,confirmed,terminated" {
		t.Fatalf("dialog states %v, want early, confirmed, terminated", got)
	}
	if got := collect(t, notes["presence"], 2, presenceWord); strings.Join(got, ",") != "on-the-phone,open" {
		t.Fatalf("presence %v, want on-the-phone, open", got)
	}
	if st, _ := table.Get("1002"); st.Status != presence.Available || st.OnCall {
		t.Fatalf("callee after call: %+v", st)
	}
}

// gatedPresence is the table with its feed to the notifier held back until the test opens the
// gate, as if the notifier were busy: every change made meanwhile waits in the feed.
type gatedPresence struct {
	*presence.Table
	gate chan struct{}
}

func (g gatedPresence) WatchOrdered(limit int) sbsip.StatusFeed {
	return gatedFeed{StatusFeed: g.Table.WatchOrdered(limit), gate: g.gate}
}

type gatedFeed struct {
	sbsip.StatusFeed
	gate chan struct{}
}

func (f gatedFeed) Changes() []presence.State {
	<-f.gate
	return f.StatusFeed.Changes()
}

// Dropped passes on the table feed's count, which the notifier logs.
func (f gatedFeed) Dropped() uint64 { return f.StatusFeed.(interface{ Dropped() uint64 }).Dropped() }

// gatedSwitch is a switch whose notifier reads nothing until open is called.
func gatedSwitch(t *testing.T, tune ...func(*switchOpts)) (sw *testSwitch, table *presence.Table, open func()) {
	t.Helper()
	table, err := presence.NewTable([]presence.User{{Ext: "1001", Name: "Alice"}, {Ext: "1002", Name: "Bob"},
		{Ext: "1003", Name: "Carol"}}, &presence.MemoryStore{})
	if err != nil {
		t.Fatal(err)
	}
	gate := make(chan struct{})
	var once sync.Once
	open = func() { once.Do(func() { close(gate) }) }
	sw = startSwitch(t, append(tune, func(o *switchOpts) { o.Presence = gatedPresence{Table: table, gate: gate} })...)
	t.Cleanup(open) // runs before the switch's shutdown, which waits for the notifier
	return sw, table, open
}

// A call that starts and ends before the notifier reads a single change still shows a watcher
// busy, then available: call-driven changes reach NOTIFY through the ordered feed, never
// coalesced to the last one.
func TestPresenceOfCallOverBeforeNotifierReadsShowsBusy(t *testing.T) {
	sw, table, open := gatedSwitch(t)
	bob := newPhone(t, sw, "1002", "udp").mustRegister()
	carol := newPhone(t, sw, "1003", "udp").mustRegister()
	alice := newPhone(t, sw, "1001", "udp") // the watcher
	notes := alice.notifiesByEvent()
	if res, _ := alice.subscribe(t, "1002", "presence", 600); res.StatusCode != 200 {
		t.Fatalf("SUBSCRIBE: %d", res.StatusCode)
	}
	if got := collect(t, notes["presence"], 1, presenceWord); got[0] != "open" {
		t.Fatalf("first presence NOTIFY %v", got)
	}

	_, hangup, _ := bridged(t, carol, bob)
	if err := hangup(); err != nil {
		t.Fatal(err)
	}
	<-bob.byes
	sw.waitIdle(t)
	if st, _ := table.Get("1002"); st.Status != presence.Available || st.Seq == 0 {
		t.Fatalf("callee after call: %+v", st)
	}
	select {
	case req := <-notes["presence"]:
		t.Fatalf("NOTIFY before the notifier read its feed: %s", presenceWord(string(req.Body())))
	default:
	}

	open()
	if got := collect(t, notes["presence"], 2, presenceWord); strings.Join(got, ",") != "on-the-phone,open" {
		t.Fatalf("presence %v, want on-the-phone, open", got)
	}
}

// A notifier more than its feed's limit behind sends the latest status (not every step) and
// says so in its log.
func TestPresenceNotifierFallingBehindSendsLatestAndLogs(t *testing.T) {
	core, logs := observer.New(zapcore.WarnLevel)
	sw, table, open := gatedSwitch(t, func(o *switchOpts) { o.Logger = zap.New(core) })
	alice := newPhone(t, sw, "1001", "udp")
	notes := alice.notifiesByEvent()
	if res, _ := alice.subscribe(t, "1002", "presence", 600); res.StatusCode != 200 {
		t.Fatalf("SUBSCRIBE: %d", res.StatusCode)
	}
	if got := collect(t, notes["presence"], 1, presenceWord); got[0] != "open" {
		t.Fatalf("first presence NOTIFY %v", got)
	}
	// Far more steps than the feed holds, ending with Bob on DND.
	const steps = 10_000
	for i := range steps {
		table.SetRegistered("1003", i%2 == 0)
	}
	if _, err := table.SetDND("1002", true); err != nil {
		t.Fatal(err)
	}
	open()
	if got := collect(t, notes["presence"], 1, presenceWord); got[0] != "dnd" {
		t.Fatalf("presence after the burst %v, want dnd", got)
	}
	deadline := time.Now().Add(3 * time.Second)
	for logs.FilterMessageSnippet("fell behind").Len() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no warning that the notifier fell behind")
		}
		time.Sleep(5 * time.Millisecond) // polling the log, with the deadline above
	}
	entry := logs.FilterMessageSnippet("fell behind").All()[0]
	if n := entry.ContextMap()["dropped"]; n == nil || n.(uint64) == 0 || n.(uint64) > steps {
		t.Errorf("warning says %v dropped, want between 1 and %d", n, steps)
	}
	select {
	case req := <-notes["presence"]:
		t.Errorf("another NOTIFY: %s", presenceWord(string(req.Body())))
	default:
	}
}

func TestFeatureCodesSetAndClearDND(t *testing.T) {
	sw, table := presenceSwitch(t)
	bob := newPhone(t, sw, "1002", "udp").mustRegister()
	for _, tc := range []struct {
		code string
		want presence.Status
	}{{"*78", presence.DND}, {"*79", presence.Available}} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		d, err := bob.call(ctx, tc.code)
		if err != nil {
			cancel()
			t.Fatalf("%s: %v", tc.code, err)
		}
		// Saved before the switch even answered (while the confirmation plays, Bob is busy).
		if st, _ := table.Get("1002"); st.DND != (tc.code == "*78") || st.Source != presence.SourceFeatureCode || st.By != "1002" {
			t.Fatalf("after %s: %+v", tc.code, st)
		}
		select {
		case <-bob.byes: // confirmation played, switch hangs up
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: switch did not hang up after the confirmation", tc.code)
		}
		_ = d
		cancel()
		sw.waitIdle(t)
		if st, _ := table.Get("1002"); st.Status != tc.want {
			t.Fatalf("after %s and hang-up: status %s, want %s", tc.code, st.Status, tc.want)
		}
	}
}

func TestOutgoingCallAllowedUnderDND(t *testing.T) {
	sw, table := presenceSwitch(t)
	bob := newPhone(t, sw, "1002", "udp").mustRegister()
	carol := newPhone(t, sw, "1003", "udp").mustRegister()
	if _, err := table.SetDND("1003", true); err != nil {
		t.Fatal(err)
	}
	_, hangup, _ := bridged(t, carol, bob) // Carol, on DND, calls Bob
	st, _ := table.Get("1003")
	if !st.OnCall || st.Status != presence.DND {
		t.Fatalf("DND caller on a call: %+v (DND outranks busy)", st)
	}
	_ = hangup()
	<-bob.byes
	sw.waitIdle(t)
}

func TestPublishFromOwnPhoneSetsDND(t *testing.T) {
	sw, table := presenceSwitch(t)
	bob := newPhone(t, sw, "1002", "udp").mustRegister()
	publish := func(user string, body string) int {
		req := sip.NewRequest(sip.PUBLISH, bob.switchURI(user))
		from := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: "1002", Host: "127.0.0.1"}, Params: sip.NewParams()}
		from.Params.Add("tag", sip.GenerateTagN(8))
		req.AppendHeader(from)
		req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: user, Host: "127.0.0.1"}})
		req.AppendHeader(sip.NewHeader("Event", "presence"))
		req.AppendHeader(sip.NewHeader("Expires", "600"))
		req.AppendHeader(sip.NewHeader("Content-Type", "application/pidf+xml"))
		req.SetBody([]byte(body))
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		res, err := bob.client.Do(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if res.StatusCode == 407 {
			if res, err = bob.client.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: "1002", Password: bob.pass}); err != nil {
				t.Fatal(err)
			}
		}
		return res.StatusCode
	}
	linphoneDND := `<?xml version="1.0" encoding="UTF-8"?>
<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid" entity="sip:1002@127.0.0.1">
 <tuple id="t1"><status><basic>open</basic></status></tuple>
 <dm:person id="p1"><rpid:activities><rpid:busy/></rpid:activities><dm:note>Do not disturb</dm:note></dm:person>
</presence>`
	open := strings.NewReplacer("<rpid:busy/>", "", "Do not disturb", "Online").Replace(linphoneDND)
	// DND set elsewhere (*78, the web) survives the "open" a phone publishes when it starts.
	if _, err := table.Set("1002", presence.Change{DND: true, Reason: "in a meeting", Source: presence.SourceUser, By: "1002"}); err != nil {
		t.Fatal(err)
	}
	if code := publish("1002", open); code != 200 {
		t.Fatalf("first PUBLISH open: %d", code)
	}
	if st, _ := table.Get("1002"); st.Status != presence.DND {
		t.Fatalf("a phone starting up cleared DND: %+v", st)
	}
	if code := publish("1002", linphoneDND); code != 200 {
		t.Fatalf("PUBLISH DND: %d", code)
	}
	// The phone only repeats DND: the reason set on the page stays.
	if st, _ := table.Get("1002"); st.Status != presence.DND || st.Reason != "in a meeting" {
		t.Fatalf("after PUBLISH DND: %+v", st)
	}
	if code := publish("1002", open); code != 200 {
		t.Fatalf("PUBLISH open: %d", code)
	}
	if st, _ := table.Get("1002"); st.Status != presence.Available || st.Source != presence.SourcePublish {
		t.Fatalf("after PUBLISH open: %+v", st)
	}
	if code := publish("1003", linphoneDND); code != 403 {
		t.Fatalf("PUBLISH for another user: %d, want 403", code)
	}
	if st, _ := table.Get("1003"); st.DND {
		t.Fatal("another user's PUBLISH changed 1003")
	}
	if code := publish("1002", "<presence><not-closed"); code != 400 {
		t.Fatalf("garbage PIDF: %d, want 400", code)
	}
}

func TestDNDKeySyncBothWays(t *testing.T) {
	sw, table := presenceSwitch(t)
	bob := newPhone(t, sw, "1002", "udp").mustRegister()
	notes := bob.notifiesByEvent()
	if res, _ := bob.subscribe(t, "1002", "as-feature-event", 600); res.StatusCode != 200 {
		t.Fatalf("SUBSCRIBE as-feature-event: %d", res.StatusCode)
	}
	dnd := func(body string) string {
		if strings.Contains(body, "<doNotDisturbOn>true</doNotDisturbOn>") {
			return "on"
		}
		return "off"
	}
	if got := collect(t, notes["as-feature-event"], 1, dnd); got[0] != "off" {
		t.Fatalf("initial DND event %v", got)
	}
	// The switch side changes it (the API, *78): the phone's key follows.
	if _, err := table.SetDND("1002", true); err != nil {
		t.Fatal(err)
	}
	if got := collect(t, notes["as-feature-event"], 1, dnd); got[0] != "on" {
		t.Fatalf("DND event after change %v", got)
	}
	// The phone's key changes it: a SUBSCRIBE carrying SetDoNotDisturb.
	req := sip.NewRequest(sip.SUBSCRIBE, bob.switchURI("1002"))
	from := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: "1002", Host: "127.0.0.1"}, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(8))
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: "1002", Host: "127.0.0.1"}})
	req.AppendHeader(bob.contact.Clone())
	req.AppendHeader(sip.NewHeader("Event", "as-feature-event"))
	req.AppendHeader(sip.NewHeader("Expires", "0"))
	req.AppendHeader(sip.NewHeader("Content-Type", "application/x-as-feature-event+xml"))
	req.SetBody([]byte(`<?xml version="1.0" encoding="ISO-8859-1"?><SetDoNotDisturb xmlns="http://www.ecma-international.org/standards/ecma-323/csta/ed3"><device>1002</device><doNotDisturbOn>false</doNotDisturbOn></SetDoNotDisturb>`))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := bob.client.Do(ctx, req)
	if err == nil && res.StatusCode == 407 {
		res, err = bob.client.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: "1002", Password: bob.pass})
	}
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("SetDoNotDisturb: %v %v", res, err)
	}
	if st, _ := table.Get("1002"); st.DND || st.Source != presence.SourcePhoneKey {
		t.Fatalf("DND key off did not clear DND: %+v", st)
	}
	// The history of changes names each way it was changed.
	changes, err := table.Changes("1002", 10)
	if err != nil || len(changes) != 2 || changes[0].Source != presence.SourcePhoneKey || changes[1].Source != presence.SourceUser {
		t.Fatalf("changes %+v, %v", changes, err)
	}
}

// TestRemovedUsersSubscriptionsEnd: a user taken out of the directory ends every presence and
// BLF subscription to them with a final NOTIFY, terminated;reason=noresource (RFC 6665 §4.1.3),
// whose PIDF says they cannot be reached; subscriptions to other users go on.
func TestRemovedUsersSubscriptionsEnd(t *testing.T) {
	sw, table := presenceSwitch(t)
	alice := newPhone(t, sw, "1001", "udp")
	notes := alice.notifiesByEvent()
	watchIdleAndOpen(t, alice, notes, "1002")
	if res, _ := alice.subscribe(t, "1003", "presence", 600); res.StatusCode != 200 {
		t.Fatalf("SUBSCRIBE presence of 1003: %d", res.StatusCode)
	}
	if got := collect(t, notes["presence"], 1, presenceWord); got[0] != "open" {
		t.Fatalf("first presence NOTIFY of 1003 %v", got)
	}

	if err := table.Remove("1002"); err != nil {
		t.Fatal(err)
	}
	for _, ev := range []string{"presence", "dialog"} {
		n := nextNotify(t, notes[ev])
		if st := n.GetHeader("Subscription-State").Value(); st != "terminated;reason=noresource" {
			t.Errorf("%s: final NOTIFY Subscription-State %q, want terminated;reason=noresource", ev, st)
		}
		if ev == "presence" && !strings.Contains(string(n.Body()), "<basic>closed</basic>") {
			t.Errorf("final presence NOTIFY body %s, want basic closed", n.Body())
		}
	}
	eventually(t, "the removed user's subscriptions gone", func() bool { return sw.srv.Subscriptions() == 1 })

	// The other user's subscription is untouched.
	if _, err := table.SetDND("1003", true); err != nil {
		t.Fatal(err)
	}
	if got := collect(t, notes["presence"], 1, presenceWord); got[0] != "dnd" {
		t.Fatalf("1003's presence after DND %v", got)
	}
	select {
	case n := <-notes["dialog"]:
		t.Errorf("a NOTIFY after the final one: %s", n.GetHeader("Subscription-State").Value())
	default:
	}
}
