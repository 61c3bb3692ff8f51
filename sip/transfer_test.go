package sip_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/pion/rtp"

	"github.com/switchboard-voip/switchboard/history"
	"github.com/switchboard-voip/switchboard/media"
	"github.com/switchboard-voip/switchboard/media/mailbox"
	"github.com/switchboard-voip/switchboard/presence"
	"github.com/switchboard-voip/switchboard/routing"
	sbsip "github.com/switchboard-voip/switchboard/sip"
)

// xferUsers: 1003 has a mailbox; 1004 has none and a short ring time (a transfer to it that
// nobody takes comes back fast); group 600 rings 1003 and 1004.
type xferUsers struct{ users }

func (xferUsers) User(ext string) (routing.User, bool) {
	u, ok := users{}.User(ext)
	switch ext {
	case "1003":
		u.Voicemail = true
	case "1004":
		u.NoAnswerTimeout = 400 * time.Millisecond
	}
	return u, ok
}

func (xferUsers) Exists(ext string) bool { return ext == "600" || ext == "700" || users{}.Exists(ext) }

func (xferUsers) Queue(ext string) (routing.Queue, bool) {
	if ext != "700" {
		return routing.Queue{}, false
	}
	return routing.Queue{Ext: "700", Name: "Support", Strategy: routing.RingAll, Members: []string{"1005"},
		RingTimeout: 5 * time.Second, MaxWait: time.Minute}, true
}

func (xferUsers) Group(ext string) (routing.Group, bool) {
	if ext != "600" {
		return routing.Group{}, false
	}
	return routing.Group{Ext: "600", Members: []string{"1003", "1004"}, RingTimeout: 5 * time.Second}, true
}

// transferSwitch is a switch whose routing follows the presence table, with voicemail.
func transferSwitch(t *testing.T, g greetings) (*testSwitch, *presence.Table, *mailbox.Store) {
	t.Helper()
	table, err := presence.NewTable([]presence.User{{Ext: "1001"}, {Ext: "1002"}, {Ext: "1003"}, {Ext: "1004"}, {Ext: "1005"}},
		&presence.MemoryStore{})
	if err != nil {
		t.Fatal(err)
	}
	store := openMailbox(t)
	hist := openHistory(t)
	sw := startSwitch(t, func(o *switchOpts) {
		o.History = hist
		o.Presence = table
		o.Router = routing.New(xferUsers{}, o.Locations.(*sbsip.MemoryLocations), table)
		o.Voicemail = store
		o.Greetings = g
	})
	histories[sw] = hist
	return sw, table, store
}

// histories finds a transfer switch's call history.
var histories = map[*testSwitch]*history.Store{}

// dialogRequester is either side of a sipgo dialog: it sends in-dialog requests.
type dialogRequester interface {
	Do(ctx context.Context, req *sip.Request) (*sip.Response, error)
}

// sendRefer sends a REFER in a dialog whose far end (the switch) is at target, with the given
// Refer-To values (none: no header), and returns the switch's answer.
func sendRefer(t *testing.T, d dialogRequester, target sip.Uri, referTo ...string) *sip.Response {
	t.Helper()
	req := sip.NewRequest(sip.REFER, target)
	for _, v := range referTo {
		req.AppendHeader(sip.NewHeader("Refer-To", v))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := d.Do(ctx, req)
	if err != nil {
		t.Fatalf("REFER: %v", err)
	}
	return res
}

// calleeSide is the switch's address in a call the phone answered (ic): where its REFER goes.
func calleeSide(ic *incomingCall) sip.Uri { return ic.req.Contact().Address }

// callerSide is the switch's address in a call the phone placed.
func callerSide(d *sipDialog) sip.Uri { return d.InviteResponse.Contact().Address }

// referTo is a Refer-To for ext at the phone's switch.
func referTo(p *phone, ext string) string { return "<" + uriOf(p, ext) + ">" }

// uriOf is ext's SIP URI at the phone's switch.
func uriOf(p *phone, ext string) string { u := p.switchURI(ext); return u.String() }

// sipfrags collects the status lines of the REFER NOTIFYs a phone gets.
type sipfrags struct {
	mu    sync.Mutex
	lines []string
	ended bool // a NOTIFY said the subscription is terminated
}

func watchReferNotifies(p *phone) *sipfrags {
	f := &sipfrags{}
	p.setOnNotify(func(req *sip.Request, tx sip.ServerTransaction) {
		// Record before answering: each request has its own handler goroutine, and the switch
		// sends the next NOTIFY as soon as this one is answered, so answering first would let
		// the next one be recorded ahead of this one.
		if h := req.GetHeader("Event"); h != nil && strings.HasPrefix(h.Value(), "refer") {
			f.mu.Lock()
			f.lines = append(f.lines, strings.TrimSpace(string(req.Body())))
			if h := req.GetHeader("Subscription-State"); h != nil && strings.HasPrefix(h.Value(), "terminated") {
				f.ended = true
			}
			f.mu.Unlock()
		}
		_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	})
	return f
}

func (f *sipfrags) snapshot() ([]string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.lines...), f.ended
}

// waitFinal waits for the final NOTIFY and returns every status line reported.
func (f *sipfrags) waitFinal(t *testing.T) []string {
	t.Helper()
	eventually(t, "the final REFER NOTIFY", func() bool { _, ended := f.snapshot(); return ended })
	lines, _ := f.snapshot()
	return lines
}

// rtpStream reads the RTP a phone receives for d, for continuity checks.
func rtpStream(t *testing.T, p *phone, d time.Duration) []rtp.Header { return rtpHeaders(t, p.rtp, d) }

// oneStream checks that packets are one RTP stream: one SSRC, sequence numbers one apart.
func oneStream(t *testing.T, hs []rtp.Header) {
	t.Helper()
	if len(hs) < 10 {
		t.Fatalf("only %d RTP packets", len(hs))
	}
	for i, h := range hs {
		if h.SSRC != hs[0].SSRC {
			t.Fatalf("packet %d has SSRC %x, want %x throughout (one continuous stream)", i, h.SSRC, hs[0].SSRC)
		}
		if i > 0 && h.SequenceNumber != hs[i-1].SequenceNumber+1 {
			t.Fatalf("sequence jumps %d → %d at packet %d", hs[i-1].SequenceNumber, h.SequenceNumber, i)
		}
	}
}

func TestBlindTransferByCalleeRingsAvailableTargetAndKeepsOneStream(t *testing.T) {
	sw, table, _ := transferSwitch(t, nil)
	bob := newPhone(t, sw, "1002", "udp").mustRegister()
	carol := newPhone(t, sw, "1003", "udp").mustRegister()
	alice := newPhone(t, sw, "1001", "udp").mustRegister()
	ic, _, d := bridged(t, alice, bob)
	frags := watchReferNotifies(bob)

	// Bob talks to Alice, then transfers her to Carol.
	go bob.sendRTP(t, remoteMedia(t, ic.req.Body()), 10, 0xB0)
	before := rtpStream(t, alice, 400*time.Millisecond)
	if res := sendRefer(t, ic.dlg, calleeSide(ic), referTo(bob, "1003")); res.StatusCode != 202 {
		t.Fatalf("REFER: %d %s, want 202", res.StatusCode, res.Reason)
	}
	ring := carol.nextIncoming(5 * time.Second)
	if from := ring.req.From().Address.User; from != "1001" {
		t.Fatalf("Carol's phone shows %q, want the transferred caller 1001", from)
	}
	if err := ring.dlg.Respond(180, "Ringing", nil); err != nil {
		t.Fatal(err)
	}
	// Carol picks up once Bob has heard that her phone rings (a person takes that long).
	eventually(t, "Bob told Carol's phone rings", func() bool {
		lines, _ := frags.snapshot()
		return containsLine(lines, "SIP/2.0 180 Ringing")
	})
	carol.answer(ring)
	go carol.sendRTP(t, remoteMedia(t, ring.req.Body()), 30, 0xC0)
	after := rtpStream(t, alice, 800*time.Millisecond)
	oneStream(t, append(before, after...))
	hears(t, alice, carol, ring, 0xC1)

	// Bob heard how it went and his leg ended; he is free, Alice and Carol are busy.
	lines := frags.waitFinal(t)
	if len(lines) < 2 || lines[0] != "SIP/2.0 100 Trying" || lines[len(lines)-1] != "SIP/2.0 200 OK" {
		t.Fatalf("REFER progress %q, want 100 Trying … 200 OK", lines)
	}
	if !containsLine(lines, "SIP/2.0 180 Ringing") {
		t.Fatalf("REFER progress %q has no 180 Ringing", lines)
	}
	select {
	case id := <-bob.byes:
		if id != callID(ic.req) {
			t.Fatalf("BYE on %s, want Bob's leg %s", id, callID(ic.req))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Bob's leg was not hung up after the transfer")
	}
	eventually(t, "Bob available, Alice and Carol busy", func() bool {
		b, _ := table.Get("1002")
		a, _ := table.Get("1001")
		c, _ := table.Get("1003")
		return b.Status == presence.Available && a.Status == presence.Busy && c.Status == presence.Busy
	})

	// Bob's audio no longer reaches Alice.
	bob.sendRTP(t, remoteMedia(t, ic.req.Body()), 10, 0xB1)
	if got := alice.recvRTP(t, 1, 0xB1); got != 0 {
		t.Fatalf("Alice still hears Bob after the transfer (%d packets)", got)
	}

	// The call shows the hop; Alice hangs up and everything is released.
	calls := sw.srv.Calls()
	if len(calls) != 1 || !strings.Contains(strings.Join(calls[0].Trace, "\n"), "transferred by 1002 to 1003") ||
		slices.Contains(calls[0].Parties, "1002") || !slices.Contains(calls[0].Parties, "1003") {
		t.Fatalf("calls after the transfer (Bob has left it, Carol is in it): %+v", calls)
	}
	if err := d.Bye(context.Background()); err != nil {
		t.Fatal(err)
	}
	<-carol.byes
	sw.waitIdle(t)
}

func containsLine(lines []string, want string) bool {
	for _, l := range lines {
		if l == want {
			return true
		}
	}
	return false
}

func TestBlindTransferByCallerSendsTheCalleeOn(t *testing.T) {
	sw, table, _ := transferSwitch(t, nil)
	bob := newPhone(t, sw, "1002", "udp").mustRegister()
	carol := newPhone(t, sw, "1003", "udp").mustRegister()
	alice := newPhone(t, sw, "1001", "udp").mustRegister()
	ic, _, d := bridged(t, alice, bob)
	frags := watchReferNotifies(alice)

	// Alice called Bob; she transfers Bob to Carol and leaves.
	if res := sendRefer(t, d, callerSide(d), referTo(alice, "1003")); res.StatusCode != 202 {
		t.Fatalf("REFER: %d %s, want 202", res.StatusCode, res.Reason)
	}
	ring := carol.nextIncoming(5 * time.Second)
	if from := ring.req.From().Address.User; from != "1002" {
		t.Fatalf("Carol's phone shows %q, want the transferred party 1002", from)
	}
	carol.answer(ring)
	hears(t, bob, carol, ring, 0xC0)
	// Bob's audio reaches Carol through the endpoint that faced him all along.
	bob.sendRTP(t, remoteMedia(t, ic.req.Body()), 15, 0xB0)
	if got := carol.recvRTP(t, 5, 0xB0); got < 5 {
		t.Fatalf("Carol heard %d packets from Bob", got)
	}
	if lines := frags.waitFinal(t); lines[len(lines)-1] != "SIP/2.0 200 OK" {
		t.Fatalf("REFER progress %q", lines)
	}
	select {
	case <-alice.byes:
	case <-time.After(5 * time.Second):
		t.Fatal("Alice's leg was not hung up after the transfer")
	}
	eventually(t, "Alice available", func() bool { a, _ := table.Get("1001"); return a.Status == presence.Available })

	// Bob hangs up: Carol's leg ends.
	if err := ic.dlg.Bye(context.Background()); err != nil {
		t.Fatal(err)
	}
	<-carol.byes
	sw.waitIdle(t)
}

func TestBlindTransferToBusyUserHoldsThenConnects(t *testing.T) {
	sw, table, _ := transferSwitch(t, greetings{"1003/busy": toneFor(500)})
	bob := newPhone(t, sw, "1002", "udp").mustRegister()
	carol := newPhone(t, sw, "1003", "udp").mustRegister()
	dave := newPhone(t, sw, "1004", "udp").mustRegister()
	alice := newPhone(t, sw, "1001", "udp").mustRegister()
	_, carolHangup, _ := bridged(t, carol, dave) // Carol is busy
	ic, _, d := bridged(t, alice, bob)

	if res := sendRefer(t, ic.dlg, calleeSide(ic), referTo(bob, "1003")); res.StatusCode != 202 {
		t.Fatalf("REFER: %d", res.StatusCode)
	}
	eventually(t, "Alice held for Carol", func() bool { return sw.flows.Waiting("1003") == 1 })
	if st, _ := table.Get("1002"); st.Status == presence.Busy {
		// Bob's leg ends once the switch took the call (held): he is free.
		eventually(t, "Bob free", func() bool { s, _ := table.Get("1002"); return s.Status == presence.Available })
	}
	if err := carolHangup(); err != nil {
		t.Fatal(err)
	}
	<-dave.byes
	ring := carol.nextIncoming(5 * time.Second)
	if from := ring.req.From().Address.User; from != "1001" {
		t.Fatalf("Carol rings for %q, want 1001", from)
	}
	carol.answer(ring)
	hears(t, alice, carol, ring, 0xC0)
	_ = d.Bye(context.Background())
	<-carol.byes
	sw.waitIdle(t)
}

func TestBlindTransferToDNDUserReachesVoicemail(t *testing.T) {
	sw, table, store := transferSwitch(t, greetings{"1003/dnd": toneFor(700)})
	bob := newPhone(t, sw, "1002", "udp").mustRegister()
	carol := newPhone(t, sw, "1003", "udp").mustRegister()
	alice := newPhone(t, sw, "1001", "udp").mustRegister()
	if _, err := table.SetDND("1003", true); err != nil {
		t.Fatal(err)
	}
	ic, _, d := bridged(t, alice, bob)
	frags := watchReferNotifies(bob)
	if res := sendRefer(t, ic.dlg, calleeSide(ic), referTo(bob, "1003")); res.StatusCode != 202 {
		t.Fatalf("REFER: %d", res.StatusCode)
	}
	eventually(t, "Alice in Carol's voicemail", func() bool {
		calls := sw.srv.Calls()
		return len(calls) == 1 && calls[0].State == sbsip.StateVoicemail
	})
	if lines := frags.waitFinal(t); lines[len(lines)-1] != "SIP/2.0 200 OK" {
		t.Fatalf("REFER progress %q, want 200 once voicemail took the call", lines)
	}
	select {
	case <-carol.incoming:
		t.Fatal("Carol's phone rang while she is on DND")
	default:
	}
	// Alice leaves a message of a tone and hangs up.
	peer := newRTPPeer(t, alice, d.InviteResponse.Body())
	peer.send(media.Tone(1000, 0.5, 2500*time.Millisecond))
	_ = d.Bye(context.Background())
	sw.waitIdle(t)
	msgs, err := store.List("1003")
	if err != nil || len(msgs) != 1 {
		t.Fatalf("Carol's mailbox: %v %v, want one message", msgs, err)
	}
}

func TestBlindTransferNobodyTakesRecallsTheTransferringUser(t *testing.T) {
	sw, table, _ := transferSwitch(t, nil)
	bob := newPhone(t, sw, "1002", "udp").mustRegister()
	dave := newPhone(t, sw, "1004", "udp").mustRegister() // no mailbox, rings 400 ms
	alice := newPhone(t, sw, "1001", "udp").mustRegister()
	ic, _, d := bridged(t, alice, bob)
	frags := watchReferNotifies(bob)
	if res := sendRefer(t, ic.dlg, calleeSide(ic), referTo(bob, "1004")); res.StatusCode != 202 {
		t.Fatalf("REFER: %d", res.StatusCode)
	}
	_ = dave.nextIncoming(5 * time.Second) // Dave's phone rings and nobody answers
	lines := frags.waitFinal(t)
	if last := lines[len(lines)-1]; last != "SIP/2.0 480 Temporarily Unavailable" {
		t.Fatalf("REFER progress %q, want the failure last", lines)
	}
	<-bob.byes
	// Bob's phone rings again with Alice: the recall.
	ring := bob.nextIncoming(15 * time.Second)
	if from := ring.req.From().Address.User; from != "1001" {
		t.Fatalf("recall shows %q, want 1001", from)
	}
	bob.answer(ring)
	hears(t, alice, bob, ring, 0xB0)
	if st, _ := table.Get("1002"); st.Status != presence.Busy {
		t.Fatalf("Bob after the recall: %s", st.Status)
	}
	trace := strings.Join(sw.srv.Calls()[0].Trace, "\n")
	if !strings.Contains(trace, "recall to 1002") {
		t.Fatalf("trace has no recall:\n%s", trace)
	}
	_ = d.Bye(context.Background())
	<-bob.byes
	sw.waitIdle(t)
}

func TestBlindTransferToUnknownNumberRecalls(t *testing.T) {
	sw, _, _ := transferSwitch(t, nil)
	bob := newPhone(t, sw, "1002", "udp").mustRegister()
	alice := newPhone(t, sw, "1001", "udp").mustRegister()
	ic, _, d := bridged(t, alice, bob)
	frags := watchReferNotifies(bob)
	if res := sendRefer(t, ic.dlg, calleeSide(ic), referTo(bob, "1999")); res.StatusCode != 202 {
		t.Fatalf("REFER: %d", res.StatusCode)
	}
	if lines := frags.waitFinal(t); lines[len(lines)-1] != "SIP/2.0 404 Not Found" {
		t.Fatalf("REFER progress %q", lines)
	}
	ring := bob.nextIncoming(15 * time.Second)
	bob.answer(ring)
	hears(t, alice, bob, ring, 0xB0)
	_ = d.Bye(context.Background())
	sw.waitIdle(t)
}

func TestBlindTransferToGroupRingsAvailableMembers(t *testing.T) {
	sw, table, _ := transferSwitch(t, nil)
	bob := newPhone(t, sw, "1002", "udp").mustRegister()
	carol := newPhone(t, sw, "1003", "udp").mustRegister()
	dave := newPhone(t, sw, "1004", "udp").mustRegister()
	alice := newPhone(t, sw, "1001", "udp").mustRegister()
	if _, err := table.SetDND("1003", true); err != nil {
		t.Fatal(err)
	}
	ic, _, d := bridged(t, alice, bob)
	if res := sendRefer(t, ic.dlg, calleeSide(ic), referTo(bob, "600")); res.StatusCode != 202 {
		t.Fatalf("REFER: %d", res.StatusCode)
	}
	ring := dave.nextIncoming(5 * time.Second)
	dave.answer(ring)
	hears(t, alice, dave, ring, 0xD0)
	select {
	case <-carol.incoming:
		t.Fatal("Carol (DND) rang for a group call")
	default:
	}
	_ = d.Bye(context.Background())
	<-dave.byes
	sw.waitIdle(t)
}

func TestTransferBackToTheTransferringUserEndsCleanly(t *testing.T) {
	sw, _, _ := transferSwitch(t, nil)
	bob := newPhone(t, sw, "1002", "udp").mustRegister()
	alice := newPhone(t, sw, "1001", "udp").mustRegister()
	ic, _, d := bridged(t, alice, bob)
	if res := sendRefer(t, ic.dlg, calleeSide(ic), referTo(bob, "1002")); res.StatusCode != 202 {
		t.Fatalf("REFER: %d", res.StatusCode)
	}
	// Bob's leg ends and his phone rings again for Alice.
	ring := bob.nextIncoming(10 * time.Second)
	bob.answer(ring)
	hears(t, alice, bob, ring, 0xB2)
	if err := ring.dlg.Bye(context.Background()); err != nil {
		t.Fatal(err)
	}
	<-alice.byes
	_ = d
	sw.waitIdle(t)
}

func TestAttendedTransferJoinsTheTwoOtherParties(t *testing.T) {
	sw, table, _ := transferSwitch(t, nil)
	bob := newPhone(t, sw, "1002", "udp").mustRegister()
	carol := newPhone(t, sw, "1003", "udp").mustRegister()
	alice := newPhone(t, sw, "1001", "udp").mustRegister()
	// Alice calls Bob; Bob consults Carol in a second call, then joins Alice with Carol.
	ic, _, d := bridged(t, alice, bob)
	ringC, _, consult := bridged(t, bob, carol)
	frags := watchReferNotifies(bob)
	go bob.sendRTP(t, remoteMedia(t, ic.req.Body()), 10, 0xB0)
	before := rtpStream(t, alice, 400*time.Millisecond)

	replaces := callID(consult.InviteRequest) + ";to-tag=" + toTag(consult.InviteResponse) + ";from-tag=" + fromTag(consult.InviteRequest)
	target := "<" + uriOf(bob, "1003") + "?Replaces=" + escapeHeader(replaces) + ">"
	if res := sendRefer(t, ic.dlg, calleeSide(ic), target); res.StatusCode != 202 {
		t.Fatalf("REFER with Replaces: %d %s", res.StatusCode, res.Reason)
	}
	if lines := frags.waitFinal(t); lines[len(lines)-1] != "SIP/2.0 200 OK" {
		t.Fatalf("REFER progress %q", lines)
	}
	// Both of Bob's legs end.
	byes := map[string]bool{}
	for len(byes) < 2 {
		select {
		case id := <-bob.byes:
			byes[id] = true
		case <-time.After(5 * time.Second):
			t.Fatalf("Bob's legs hung up: %v, want both", byes)
		}
	}
	// Alice and Carol hear each other; Alice's stream goes on.
	go carol.sendRTP(t, remoteMedia(t, consult.InviteResponse.Body()), 30, 0xC0)
	after := rtpStream(t, alice, 800*time.Millisecond)
	oneStream(t, append(before, after...))
	hears(t, alice, carol, ringC, 0xC1)
	alice.sendRTP(t, remoteMedia(t, d.InviteResponse.Body()), 15, 0xA0)
	if got := carol.recvRTP(t, 5, 0xA0); got < 5 {
		t.Fatalf("Carol heard %d packets from Alice", got)
	}
	eventually(t, "Bob free, Alice and Carol busy", func() bool {
		a, _ := table.Get("1001")
		b, _ := table.Get("1002")
		c, _ := table.Get("1003")
		return a.Status == presence.Busy && b.Status == presence.Available && c.Status == presence.Busy
	})
	if n := sw.srv.ActiveCalls(); n != 1 {
		t.Fatalf("%d calls after the join, want 1", n)
	}
	_ = d.Bye(context.Background())
	<-carol.byes
	sw.waitIdle(t)
}

func TestAttendedTransferToARingingConsultation(t *testing.T) {
	sw, _, _ := transferSwitch(t, nil)
	bob := newPhone(t, sw, "1002", "udp").mustRegister()
	carol := newPhone(t, sw, "1003", "udp").mustRegister()
	alice := newPhone(t, sw, "1001", "udp").mustRegister()
	ic, _, d := bridged(t, alice, bob)

	// Bob calls Carol; her phone rings; Bob completes the transfer before she answers.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	consult, err := bob.dial(ctx, "1003")
	if err != nil {
		t.Fatal(err)
	}
	early := make(chan *sip.Response, 4)
	go func() {
		_ = consult.WaitAnswer(ctx, sipgo.AnswerOptions{Username: bob.ext, Password: bob.pass,
			OnResponse: func(res *sip.Response) error {
				if res.StatusCode == 180 {
					early <- res
				}
				return nil
			}})
	}()
	first := carol.nextIncoming(5 * time.Second)
	_ = first.dlg.Respond(180, "Ringing", nil)
	var ringing *sip.Response
	select {
	case ringing = <-early:
	case <-time.After(5 * time.Second):
		t.Fatal("Bob's consultation never rang")
	}
	replaces := callID(consult.InviteRequest) + ";to-tag=" + toTag(ringing) + ";from-tag=" + fromTag(consult.InviteRequest) + ";early-only"
	target := "<" + uriOf(bob, "1003") + "?Replaces=" + escapeHeader(replaces) + ">"
	if res := sendRefer(t, ic.dlg, calleeSide(ic), target); res.StatusCode != 202 {
		t.Fatalf("REFER with Replaces of a ringing call: %d %s", res.StatusCode, res.Reason)
	}
	// Carol's phone rings for Alice now; she answers and talks to Alice.
	var ring *incomingCall
	for ring == nil {
		ic2 := carol.nextIncoming(5 * time.Second)
		if ic2.req.From().Address.User == "1001" {
			ring = ic2
		}
	}
	carol.answer(ring)
	hears(t, alice, carol, ring, 0xC0)
	_ = d.Bye(context.Background())
	<-carol.byes
	sw.waitIdle(t)
}

func TestReferBadInput(t *testing.T) {
	sw, _, _ := transferSwitch(t, nil)
	bob := newPhone(t, sw, "1002", "udp").mustRegister()
	alice := newPhone(t, sw, "1001", "udp").mustRegister()
	ic, _, d := bridged(t, alice, bob)
	cases := []struct {
		name    string
		referTo []string
		want    int
	}{
		{"no Refer-To", nil, 400},
		{"two Refer-To", []string{referTo(bob, "1003"), referTo(bob, "1004")}, 400},
		{"a web address", []string{"<http://example.com/x>"}, 488},
		{"a tel URI", []string{"<tel:+15551234567>"}, 488},
		{"no extension", []string{"<sip:127.0.0.1>"}, 400},
		{"garbage", []string{"<sip:@@@>"}, 400},
		{"Replaces naming no dialog", []string{"<" + uriOf(bob, "1003") + "?Replaces=nope%3Bto-tag%3Da%3Bfrom-tag%3Db>"}, 481},
		{"a broken Replaces", []string{"<" + uriOf(bob, "1003") + "?Replaces=only-a-call-id>"}, 400},
	}
	for _, tc := range cases {
		if res := sendRefer(t, ic.dlg, calleeSide(ic), tc.referTo...); res.StatusCode != tc.want {
			t.Errorf("%s: %d %s, want %d", tc.name, res.StatusCode, res.Reason, tc.want)
		}
	}
	// The call carries on.
	hears(t, alice, bob, ic, 0xB0)

	// A REFER outside any call: the user is challenged, then refused.
	req := sip.NewRequest(sip.REFER, bob.switchURI("1001"))
	req.AppendHeader(sip.NewHeader("Refer-To", referTo(bob, "1003")))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := bob.client.Do(ctx, req)
	if err == nil && res.StatusCode == 407 {
		res, err = bob.client.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: bob.ext, Password: bob.pass})
	}
	if err != nil || res.StatusCode != 403 {
		t.Fatalf("REFER outside a call: %v %v, want 403", res, err)
	}
	_ = d.Bye(context.Background())
	sw.waitIdle(t)
}

func TestServerTransferFromThePage(t *testing.T) {
	sw, table, _ := transferSwitch(t, nil)
	bob := newPhone(t, sw, "1002", "udp").mustRegister()
	carol := newPhone(t, sw, "1003", "udp").mustRegister()
	alice := newPhone(t, sw, "1001", "udp").mustRegister()
	ic, _, d := bridged(t, alice, bob)
	id := callID(d.InviteRequest)

	if err := sw.srv.Transfer("no-such-call", sbsip.TransferRequest{By: "1002", To: "1003"}); err != sbsip.ErrNoSuchCall {
		t.Fatalf("unknown call: %v", err)
	}
	if err := sw.srv.Transfer(id, sbsip.TransferRequest{By: "1004", To: "1003"}); err != sbsip.ErrNotParty {
		t.Fatalf("not a party: %v", err)
	}
	if err := sw.srv.Transfer(id, sbsip.TransferRequest{Keep: "1005", To: "1003"}); err != sbsip.ErrNotParty {
		t.Fatalf("admin keeping nobody: %v", err)
	}
	// Bob sends Alice to Carol's voicemail from the page.
	if err := sw.srv.Transfer(id, sbsip.TransferRequest{By: "1002", To: "1003", Voicemail: true}); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-bob.byes:
		if got != callID(ic.req) {
			t.Fatalf("BYE on %s", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Bob's leg was not hung up")
	}
	eventually(t, "Alice in Carol's voicemail", func() bool {
		calls := sw.srv.Calls()
		return len(calls) == 1 && calls[0].State == sbsip.StateVoicemail
	})
	select {
	case <-carol.incoming:
		t.Fatal("Carol's phone rang for a transfer to her voicemail")
	default:
	}
	if err := sw.srv.Transfer(id, sbsip.TransferRequest{By: "1001", To: "1002"}); err != sbsip.ErrNotTransferable {
		t.Fatalf("transfer of a call in voicemail: %v", err)
	}
	if st, _ := table.Get("1002"); st.Status != presence.Available {
		t.Fatalf("Bob after the transfer: %s", st.Status)
	}
	_ = d.Bye(context.Background())
	sw.waitIdle(t)
}

func TestServerTransferByAnAdministratorKeepsTheNamedParty(t *testing.T) {
	sw, _, _ := transferSwitch(t, nil)
	bob := newPhone(t, sw, "1002", "udp").mustRegister()
	carol := newPhone(t, sw, "1003", "udp").mustRegister()
	alice := newPhone(t, sw, "1001", "udp").mustRegister()
	_, _, d := bridged(t, alice, bob)
	// The administrator keeps Bob and sends him to Carol; Alice's leg ends.
	if err := sw.srv.Transfer(callID(d.InviteRequest), sbsip.TransferRequest{Keep: "1002", To: "1003"}); err != nil {
		t.Fatal(err)
	}
	<-alice.byes
	ring := carol.nextIncoming(5 * time.Second)
	if from := ring.req.From().Address.User; from != "1002" {
		t.Fatalf("Carol rings for %q, want 1002", from)
	}
	carol.answer(ring)
	hears(t, bob, carol, ring, 0xC0)
	_ = ring.dlg.Bye(context.Background())
	<-bob.byes
	sw.waitIdle(t)
}

// toTag and fromTag read a message's tags.
func toTag(m sip.Message) string   { v, _ := m.To().Params.Get("tag"); return v }
func fromTag(m sip.Message) string { v, _ := m.From().Params.Get("tag"); return v }

// escapeHeader escapes a URI header value (Replaces inside Refer-To).
func escapeHeader(v string) string {
	r := strings.NewReplacer(";", "%3B", "=", "%3D", "@", "%40", " ", "%20")
	return r.Replace(v)
}

// toneFor is a short own greeting: 300 ms of f Hz.
func toneFor(f float64) []int16 { return media.Tone(f, 0.4, 300*time.Millisecond) }

func TestBlindTransferOfAHeldPartyTakesItOffHold(t *testing.T) {
	sw, _, _ := transferSwitch(t, nil)
	bob := newPhone(t, sw, "1002", "udp").mustRegister()
	carol := newPhone(t, sw, "1003", "udp").mustRegister()
	alice := newPhone(t, sw, "1001", "udp").mustRegister()
	ic, _, d := bridged(t, alice, bob)

	// Bob's phone puts Alice on hold before it transfers her, as desk phones do.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	hold := sip.NewRequest(sip.INVITE, calleeSide(ic))
	hold.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	hold.SetBody(bob.sdp("sendonly"))
	if res, err := ic.dlg.Do(ctx, hold); err != nil || res.StatusCode != 200 {
		t.Fatalf("hold: %v %v", res, err)
	}
	_ = ic.dlg.WriteRequest(sip.NewRequest(sip.ACK, calleeSide(ic)))
	if got := <-alice.reinvite; !strings.Contains(string(got.Body()), "a=sendonly") {
		t.Fatalf("Alice's phone was not put on hold:\n%s", got.Body())
	}
	if res := sendRefer(t, ic.dlg, calleeSide(ic), referTo(bob, "1003")); res.StatusCode != 202 {
		t.Fatalf("REFER: %d", res.StatusCode)
	}
	// The switch takes Alice off hold, so she can talk to whoever takes her.
	select {
	case got := <-alice.reinvite:
		if !strings.Contains(string(got.Body()), "a=sendrecv") || strings.Count(string(got.Body()), "a=rtpmap:") > 2 {
			t.Fatalf("re-INVITE after the transfer should offer one codec, sendrecv:\n%s", got.Body())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Alice was left on hold")
	}
	ring := carol.nextIncoming(5 * time.Second)
	carol.answer(ring)
	hears(t, alice, carol, ring, 0xC0)
	alice.sendRTP(t, remoteMedia(t, d.InviteResponse.Body()), 15, 0xA0)
	if got := carol.recvRTP(t, 5, 0xA0); got < 5 {
		t.Fatalf("Carol heard %d packets from Alice", got)
	}
	_ = d.Bye(context.Background())
	<-carol.byes
	sw.waitIdle(t)
}

func TestBlindTransferToQueueOffersAnAgent(t *testing.T) {
	sw, _, _ := transferSwitch(t, nil)
	bob := newPhone(t, sw, "1002", "udp").mustRegister()
	erin := newPhone(t, sw, "1005", "udp").mustRegister() // the queue's agent
	alice := newPhone(t, sw, "1001", "udp").mustRegister()
	ic, _, d := bridged(t, alice, bob)
	frags := watchReferNotifies(bob)
	if res := sendRefer(t, ic.dlg, calleeSide(ic), referTo(bob, "700")); res.StatusCode != 202 {
		t.Fatalf("REFER: %d", res.StatusCode)
	}
	ring := erin.nextIncoming(5 * time.Second)
	if from := ring.req.From().Address.User; from != "1001" {
		t.Fatalf("agent rings for %q, want 1001", from)
	}
	erin.answer(ring)
	hears(t, alice, erin, ring, 0xE0)
	if lines := frags.waitFinal(t); lines[len(lines)-1] != "SIP/2.0 200 OK" {
		t.Fatalf("REFER progress %q", lines)
	}
	_ = d.Bye(context.Background())
	<-erin.byes
	sw.waitIdle(t)
}

func TestTransferredCallHistoryShowsEachHop(t *testing.T) {
	sw, table, _ := transferSwitch(t, nil)
	bob := newPhone(t, sw, "1002", "udp").mustRegister()
	carol := newPhone(t, sw, "1003", "udp").mustRegister()
	dave := newPhone(t, sw, "1004", "udp").mustRegister()
	alice := newPhone(t, sw, "1001", "udp").mustRegister()
	if _, err := table.SetDND("1004", true); err != nil {
		t.Fatal(err)
	}
	ic, _, d := bridged(t, alice, bob)
	// Bob sends Alice to Dave (DND, no mailbox: she comes back to Bob), Bob then to Carol.
	if res := sendRefer(t, ic.dlg, calleeSide(ic), referTo(bob, "1004")); res.StatusCode != 202 {
		t.Fatalf("REFER: %d", res.StatusCode)
	}
	recall := bob.nextIncoming(15 * time.Second)
	bob.answer(recall)
	if res := sendRefer(t, recall.dlg, calleeSide(recall), referTo(bob, "1003")); res.StatusCode != 202 {
		t.Fatalf("second REFER: %d", res.StatusCode)
	}
	ring := carol.nextIncoming(5 * time.Second)
	carol.answer(ring)
	hears(t, alice, carol, ring, 0xC0)
	_ = d.Bye(context.Background())
	<-carol.byes
	sw.waitIdle(t)
	select {
	case <-dave.incoming:
		t.Fatal("Dave's phone rang while he is on DND")
	default:
	}
	var recs []history.Record
	eventually(t, "the call recorded", func() bool {
		recs, _ = histories[sw].List("1001", 10, "")
		return len(recs) == 1
	})
	trace := strings.Join(recs[0].Trace, "\n")
	for _, want := range []string{"transferred by 1002 to 1004", "user 1004 is on DND", "recall to 1002", "transferred by 1002 to 1003", "user 1003"} {
		if !strings.Contains(trace, want) {
			t.Fatalf("history trace lacks %q:\n%s", want, trace)
		}
	}
	if recs[0].Outcome != history.Answered {
		t.Fatalf("outcome %s", recs[0].Outcome)
	}
}

// outsideCall is a call from the carrier phone to DID 15551230000 (loopbackTrunk), which rings
// and is answered at callee's phone.
func outsideCall(t *testing.T, carrier, callee *phone) (*sipDialog, *incomingCall) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dd, err := carrier.dial(ctx, "15551230000")
	if err != nil {
		t.Fatal(err)
	}
	answered := make(chan error, 1)
	go func() {
		err := dd.WaitAnswer(ctx, sipgoNoAuth())
		if err == nil {
			err = dd.Ack(ctx)
		}
		answered <- err
	}()
	ic := callee.nextIncoming(5 * time.Second)
	callee.answer(ic)
	if err := <-answered; err != nil {
		t.Fatal(err)
	}
	return &sipDialog{dd}, ic
}

func TestReferFromAnOutsidePartyIsForbidden(t *testing.T) {
	sw := startSwitch(t, func(o *switchOpts) { o.Trunks = loopbackTrunk{} })
	bob := newPhone(t, sw, "1002", "udp").mustRegister()
	carrier := newPhone(t, sw, "15557654321", "udp") // an outside caller through the trunk

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, _ := outsideCall(t, carrier, bob)
	// The outside party cannot send the call anywhere (it could send it out at our cost).
	if res := sendRefer(t, d, callerSide(d), "<sip:915550001111@127.0.0.1>"); res.StatusCode != 403 {
		t.Fatalf("REFER from the outside party: %d %s, want 403", res.StatusCode, res.Reason)
	}
	carrier.sendRTP(t, remoteMedia(t, d.InviteResponse.Body()), 15, 0xE1)
	if got := bob.recvRTP(t, 5, 0xE1); got < 5 {
		t.Fatalf("Bob heard %d packets from the outside caller after the refused REFER", got)
	}
	_ = d.Bye(ctx)
	<-bob.byes
	sw.waitIdle(t)
}

func TestUserTransfersAnOutsideCallerOutThroughTheTrunk(t *testing.T) {
	var carrierAddr string
	sw := startSwitch(t, func(o *switchOpts) {
		o.Trunks = loopbackTrunk{}
		o.Router = routing.New(carrierUsers{addr: &carrierAddr}, o.Locations.(*sbsip.MemoryLocations), nil)
	})
	bob := newPhone(t, sw, "1002", "udp").mustRegister()
	carrier := newPhone(t, sw, "15557654321", "udp") // the outside world: calls in, and is called out
	carrierAddr = fmt.Sprintf("%s:%d", carrier.host, carrier.port)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, ic := outsideCall(t, carrier, bob)
	// Bob sends the outside caller to an outside number: the switch calls out for him.
	if res := sendRefer(t, ic.dlg, calleeSide(ic), referTo(bob, "915550009999")); res.StatusCode != 202 {
		t.Fatalf("REFER: %d %s", res.StatusCode, res.Reason)
	}
	out := carrier.nextIncoming(5 * time.Second)
	if out.req.Recipient.User != "15550009999" || out.req.From().Address.User != "15557654321" {
		t.Fatalf("carrier got INVITE for %q from %q", out.req.Recipient.User, out.req.From().Address.User)
	}
	carrier.answer(out)
	<-bob.byes
	carrier.sendRTP(t, remoteMedia(t, out.req.Body()), 15, 0xE2) // the far outside party speaks
	if got := carrier.recvRTP(t, 5, 0xE2); got < 5 {
		t.Fatalf("the transferred outside caller heard %d packets from the number it was sent to", got)
	}
	_ = d.Bye(ctx)
	<-carrier.byes
	sw.waitIdle(t)
}

func TestAttendedTransferWithAConsultationThatCameIn(t *testing.T) {
	// No status table: a second call to Bob rings his phone (a busy user's callers would be held).
	sw := startSwitch(t)
	bob := newPhone(t, sw, "1002", "udp").mustRegister()
	carol := newPhone(t, sw, "1003", "udp").mustRegister()
	alice := newPhone(t, sw, "1001", "udp").mustRegister()
	// Alice calls Bob; Carol calls Bob too and he takes her call; he joins Alice with Carol.
	ic, _, d := bridged(t, alice, bob)
	fromCarol, _, carolDialog := bridged(t, carol, bob)
	replaces := callID(fromCarol.req) + ";to-tag=" + fromTag(fromCarol.req) + ";from-tag=" + toTag(fromCarol.dlg.InviteResponse)
	target := "<" + uriOf(bob, "1003") + "?Replaces=" + escapeHeader(replaces) + ">"
	if res := sendRefer(t, ic.dlg, calleeSide(ic), target); res.StatusCode != 202 {
		t.Fatalf("REFER with Replaces: %d %s", res.StatusCode, res.Reason)
	}
	for range 2 {
		select {
		case <-bob.byes:
		case <-time.After(5 * time.Second):
			t.Fatal("Bob's legs were not both hung up")
		}
	}
	carol.sendRTP(t, remoteMedia(t, carolDialog.InviteResponse.Body()), 15, 0xC0)
	if got := alice.recvRTP(t, 5, 0xC0); got < 5 {
		t.Fatalf("Alice heard %d packets from Carol", got)
	}
	// Carol hangs up: Alice's leg ends too.
	if err := carolDialog.Bye(context.Background()); err != nil {
		t.Fatal(err)
	}
	<-alice.byes
	_ = d
	sw.waitIdle(t)
}

func TestReferWithoutSubscriptionGetsNoNotifies(t *testing.T) {
	sw, _, _ := transferSwitch(t, nil)
	bob := newPhone(t, sw, "1002", "udp").mustRegister()
	carol := newPhone(t, sw, "1003", "udp").mustRegister()
	alice := newPhone(t, sw, "1001", "udp").mustRegister()
	ic, _, d := bridged(t, alice, bob)
	frags := watchReferNotifies(bob)
	req := sip.NewRequest(sip.REFER, calleeSide(ic))
	req.AppendHeader(sip.NewHeader("Refer-To", referTo(bob, "1003")))
	req.AppendHeader(sip.NewHeader("Refer-Sub", "false"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := ic.dlg.Do(ctx, req)
	if err != nil || res.StatusCode != 202 {
		t.Fatalf("REFER: %v %v", res, err)
	}
	if h := res.GetHeader("Refer-Sub"); h == nil || h.Value() != "false" {
		t.Fatalf("202 without Refer-Sub: false:\n%s", res)
	}
	ring := carol.nextIncoming(5 * time.Second)
	carol.answer(ring)
	<-bob.byes // the transferring leg still ends
	if lines, _ := frags.snapshot(); len(lines) != 0 {
		t.Fatalf("NOTIFYs despite Refer-Sub: false: %q", lines)
	}
	hears(t, alice, carol, ring, 0xC0)
	_ = d.Bye(ctx)
	<-carol.byes
	sw.waitIdle(t)
}
