package sip_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/switchboard-voip/switchboard/media"
	"github.com/switchboard-voip/switchboard/presence"
	"github.com/switchboard-voip/switchboard/routing"
)

// jitter is a small random delay, so two racing actions land in either order or together.
func jitter(max time.Duration) time.Duration { return time.Duration(rand.Int64N(int64(max))) }

// hears checks that audio from's phone sends on ic's leg reaches to's phone: the caller is
// bridged to that phone and nobody else.
func hears(t *testing.T, to, from *phone, ic *incomingCall, fill byte) {
	t.Helper()
	// What queued up while the switch played goes first: a full socket buffer drops new packets.
	to.drainRTP()
	from.sendRTP(t, remoteMedia(t, ic.req.Body()), 15, fill) // the relay queues it in to's socket buffer
	if got := to.recvRTP(t, 5, fill); got < 5 {
		t.Fatalf("%s heard %d packets from %s: not bridged to them", to.ext, got, from.ext)
	}
}

// drainRTP reads away the RTP already queued at the phone's media socket.
func (p *phone) drainRTP() {
	buf := make([]byte, 1500)
	for i := 0; i < 4096; i++ {
		_ = p.rtp.SetReadDeadline(time.Now().Add(5 * time.Millisecond))
		if _, _, err := p.rtp.ReadFromUDP(buf); err != nil {
			break
		}
	}
	_ = p.rtp.SetReadDeadline(time.Time{})
}

// drain empties a phone's BYE and CANCEL channels between iterations.
func drain(ps ...*phone) {
	for _, p := range ps {
		for {
			select {
			case <-p.byes:
				continue
			case <-p.cancels:
				continue
			default:
			}
			break
		}
	}
}

// ringOut is what a callee's phone saw of an offer the caller abandoned: it answered (then it
// must get BYE) or it did not (then it must get CANCEL).
//
// An answer whose Respond failed is either: sipgo's Respond(200) also fails when BYE overtakes
// the ACK, so then CANCEL or BYE will do.
func ringOut(t *testing.T, p *phone, ic *incomingCall, answered bool) {
	ringOutAs(t, p, ic, answered, false)
}

func ringOutAs(t *testing.T, p *phone, ic *incomingCall, answered, either bool) {
	t.Helper()
	cancels, byes, what := p.cancels, p.byes, "CANCEL or BYE"
	switch {
	case either:
	case answered:
		cancels, what = nil, "BYE"
	default:
		byes, what = nil, "CANCEL"
	}
	select {
	case id := <-cancels:
		if id != callID(ic.req) {
			t.Fatalf("%s got CANCEL for %s, want %s", p.ext, id, callID(ic.req))
		}
	case id := <-byes:
		if id != callID(ic.req) {
			t.Fatalf("%s got BYE for %s, want %s", p.ext, id, callID(ic.req))
		}
	case <-time.After(3 * time.Second):
		t.Fatalf("%s's phone (answered=%v) got no %s; the switch's goroutines:\n%s", p.ext, answered, what,
			strings.Join(goroutinesWith("switchboard/sip."), "\n\n"))
	}
}

// The busy user hangs up their call at the instant a second caller arrives: whether the switch
// decided "busy" (hold) or "available" (ring), the caller ends up talking to the user.
func TestRaceBusyUserHangsUpAsSecondCallArrives(t *testing.T) {
	sw, table := routedSwitch(t, greetings{"1002/busy": media.Tone(500, 0.4, 60*time.Millisecond)})
	bob := newPhone(t, sw, "1002", "udp").mustRegister()
	carol := newPhone(t, sw, "1003", "udp").mustRegister()
	alice := newPhone(t, sw, "1001", "udp").mustRegister()
	leaks := trackGoroutines(t)
	held := 0
	for i := 0; i < 20; i++ {
		icCarol, _, _ := bridged(t, carol, bob)
		waitStatus(t, table, "1002", presence.Busy)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		type result struct {
			d       *sipgo.DialogClientSession
			err     error
			elapsed time.Duration
		}
		done := make(chan result, 1)
		byeAt, dialAt := jitter(20*time.Millisecond), jitter(20*time.Millisecond)
		go func() {
			time.Sleep(byeAt)
			_ = icCarol.dlg.Bye(ctx) // Bob hangs up on Carol…
		}()
		start := time.Now()
		go func() {
			time.Sleep(dialAt) // …as Alice calls him
			d, err := alice.call(ctx, "1002")
			done <- result{d, err, time.Since(start)}
		}()
		ic := bob.nextIncoming(5 * time.Second)
		if from := ic.req.From().Address.User; from != "1001" {
			t.Fatalf("iteration %d: Bob's phone rings for %s, want Alice", i, from)
		}
		var early *result
		select {
		case r := <-done: // the switch answered Alice itself: she was held
			early = &r
			held++
		default:
		}
		bob.answer(ic)
		r := early
		if r == nil {
			rr := <-done
			r = &rr
		}
		if r.err != nil {
			t.Fatalf("iteration %d (hang-up at %v, call at %v): Alice's call: %v (status %d); a caller to a user "+
				"who is just hanging up is put through, never refused", i, byeAt, dialAt, r.err, statusOf(r.err))
		}
		hears(t, alice, bob, ic, 0xB0)
		if err := r.d.Bye(ctx); err != nil {
			t.Fatalf("iteration %d: Alice's BYE: %v", i, err)
		}
		ringOut(t, bob, ic, true)
		select {
		case <-carol.byes:
		case <-time.After(3 * time.Second):
			t.Fatalf("iteration %d: Carol got no BYE when Bob hung up", i)
		}
		sw.waitIdle(t)
		waitStatus(t, table, "1002", presence.Available)
		if n := sw.flows.Waiting("1002"); n != 0 {
			t.Fatalf("iteration %d: %d callers still holding for a free Bob", i, n)
		}
		drain(alice, bob, carol)
		cancel()
	}
	t.Logf("%d of 20 second callers were held first, the others rung through", held)
	leaks.settled(sw, 1)
}

// An agent turns DND at the instant they are offered a queued caller (and, in half the rounds,
// answers at that instant too): the offer completes or is withdrawn, and the caller is then
// offered to the next free agent; never left bridged to nobody.
func TestRaceAgentTurnsDNDWhileOffered(t *testing.T) {
	sw, table := queueSwitch(t, routing.Queue{Ext: "700", Strategy: routing.LongestIdle, Members: []string{"1002", "1003"},
		RingTimeout: 400 * time.Millisecond, MaxWait: 30 * time.Second})
	bob := newPhone(t, sw, "1002", "udp").mustRegister()
	carol := newPhone(t, sw, "1003", "udp").mustRegister()
	alice := newPhone(t, sw, "1001", "udp").mustRegister()
	leaks := trackGoroutines(t)
	for i := 0; i < 12; i++ {
		// Carol starts on DND so that the offer goes to Bob; she comes back once Bob rings.
		if _, err := table.SetDND("1003", true); err != nil {
			t.Fatal(err)
		}
		d := queueCall(t, alice)
		ic := bob.nextIncoming(5 * time.Second)
		if err := ic.dlg.Respond(180, "Ringing", nil); err != nil {
			t.Fatal(err)
		}
		if _, err := table.SetDND("1003", false); err != nil {
			t.Fatal(err)
		}
		tryAnswer := i%2 == 0
		var wg sync.WaitGroup
		var answerErr error
		wg.Add(2)
		go func() {
			defer wg.Done()
			time.Sleep(jitter(20 * time.Millisecond))
			if _, err := table.SetDND("1002", true); err != nil {
				t.Error(err)
			}
		}()
		go func() {
			defer wg.Done()
			if !tryAnswer {
				return
			}
			time.Sleep(jitter(20 * time.Millisecond))
			answerErr = ic.dlg.Respond(200, "OK", bob.sdp("sendrecv"), sip.NewHeader("Content-Type", "application/sdp"))
		}()
		wg.Wait()
		bobAnswered := tryAnswer && answerErr == nil

		// Either Bob has Alice, or his phone is released and Carol is offered her.
		var agent *phone
		var agentIC *incomingCall
		select {
		case icCarol := <-carol.incoming:
			if from := icCarol.req.From().Address.User; from != "1001" {
				t.Fatalf("round %d: Carol offered %s, want Alice", i, from)
			}
			ringOutAs(t, bob, ic, bobAnswered, tryAnswer && !bobAnswered)
			carol.answer(icCarol)
			agent, agentIC = carol, icCarol
		case <-time.After(2 * time.Second):
			if !bobAnswered {
				t.Fatalf("round %d: Bob (DND, did not answer) kept the offer and Carol was never offered the caller: "+
					"QueueStats %+v", i, sw.flows.QueueStats("700"))
			}
			agent, agentIC = bob, ic
		}
		hears(t, alice, agent, agentIC, 0xC0)
		noRing(t, bob, "an agent on DND was offered a caller")
		select {
		case id := <-bob.byes:
			if agent == bob {
				t.Fatalf("round %d: Bob got BYE for %s while bridged to Alice", i, id)
			}
		default:
		}
		if err := d.Bye(context.Background()); err != nil {
			t.Fatalf("round %d: Alice's BYE: %v", i, err)
		}
		ringOut(t, agent, agentIC, true)
		sw.waitIdle(t)
		waitQueueIdle(t, sw, "700", fmt.Sprintf("round %d", i))
		if _, err := table.SetDND("1002", false); err != nil {
			t.Fatal(err)
		}
		waitStatus(t, table, "1002", presence.Available)
		waitStatus(t, table, "1003", presence.Available)
		drain(alice, bob, carol)
	}
	leaks.settled(sw, 2) // + the queue's dispatcher
}

// The caller hangs up while the switch is connecting them (their put-through from hold, or a
// queue offer, is ringing; in half the rounds the phone answers at that instant): the phone gets
// CANCEL, or BYE if it answered, and its user is free again.
func TestRaceCallerHangsUpWhileBeingConnected(t *testing.T) {
	t.Run("held caller put through", func(t *testing.T) {
		sw, table := routedSwitch(t, greetings{"1002/busy": media.Tone(500, 0.4, 60*time.Millisecond)})
		bob := newPhone(t, sw, "1002", "udp").mustRegister()
		carol := newPhone(t, sw, "1003", "udp").mustRegister()
		alice := newPhone(t, sw, "1001", "udp").mustRegister()
		leaks := trackGoroutines(t)
		for i := 0; i < 8; i++ {
			_, carolHangup, _ := bridged(t, carol, bob)
			waitStatus(t, table, "1002", presence.Busy)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			d, err := alice.call(ctx, "1002")
			if err != nil {
				t.Fatalf("round %d: held call: %v", i, err)
			}
			waitHolding(t, sw, "1002", 1)
			if err := carolHangup(); err != nil {
				t.Fatal(err)
			}
			<-bob.byes
			ic := bob.nextIncoming(5 * time.Second) // Alice's put-through
			if err := ic.dlg.Respond(180, "Ringing", nil); err != nil {
				t.Fatal(err)
			}
			bobAnswered, either := raceHangupAndAnswer(t, ctx, bob, ic, d, i%2 == 0)
			ringOutAs(t, bob, ic, bobAnswered, either)
			sw.waitIdle(t)
			waitStatus(t, table, "1002", presence.Available)
			drain(alice, bob, carol)
			cancel()
		}
		leaks.settled(sw, 1)
	})
	t.Run("queue offer", func(t *testing.T) {
		sw, table := queueSwitch(t, routing.Queue{Ext: "700", Strategy: routing.LongestIdle, Members: []string{"1002"},
			RingTimeout: 5 * time.Second, MaxWait: 30 * time.Second})
		bob := newPhone(t, sw, "1002", "udp").mustRegister()
		alice := newPhone(t, sw, "1001", "udp").mustRegister()
		leaks := trackGoroutines(t)
		for i := 0; i < 8; i++ {
			d := queueCall(t, alice)
			// Bob rings in every round: an agent left "ringing" or busy would never be offered again.
			ic := bob.nextIncoming(5 * time.Second)
			if err := ic.dlg.Respond(180, "Ringing", nil); err != nil {
				t.Fatal(err)
			}
			bobAnswered, either := raceHangupAndAnswer(t, context.Background(), bob, ic, d.DialogClientSession, i%2 == 0)
			ringOutAs(t, bob, ic, bobAnswered, either)
			sw.waitIdle(t)
			waitStatus(t, table, "1002", presence.Available)
			waitQueueIdle(t, sw, "700", fmt.Sprintf("round %d, after the caller hung up during the offer (Bob answered: %v)", i, bobAnswered))
			drain(alice, bob)
		}
		leaks.settled(sw, 2) // + the queue's dispatcher
	})
}

// raceHangupAndAnswer has the caller send BYE while the callee's phone rings and, with answer,
// the phone answer at the same instant. It reports whether the phone's answer went out, and
// whether that is unknown (the answer failed, perhaps only for want of an ACK).
func raceHangupAndAnswer(t *testing.T, ctx context.Context, callee *phone, ic *incomingCall, d *sipgo.DialogClientSession, answer bool) (answered, either bool) {
	t.Helper()
	var wg sync.WaitGroup
	var answerErr error
	wg.Add(2)
	go func() {
		defer wg.Done()
		time.Sleep(jitter(20 * time.Millisecond))
		_ = d.Bye(ctx)
	}()
	go func() {
		defer wg.Done()
		if !answer {
			return
		}
		time.Sleep(jitter(20 * time.Millisecond))
		answerErr = ic.dlg.Respond(200, "OK", callee.sdp("sendrecv"), sip.NewHeader("Content-Type", "application/sdp"))
	}()
	wg.Wait()
	return answer && answerErr == nil, answer && answerErr != nil
}

// waitQueueIdle waits up to a second for queue ext to have nobody waiting and no agent marked
// ringing: an agent left "ringing" is never offered a caller again.
func waitQueueIdle(t *testing.T, sw *testSwitch, ext, when string) {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for {
		st := sw.flows.QueueStats(ext)
		if st.Waiting == 0 && len(st.Ringing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%s: queue %s still %+v a second after its last caller left", when, ext, st)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitHolding waits until n callers hold for ext.
func waitHolding(t *testing.T, sw *testSwitch, ext string, n int) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for sw.flows.Waiting(ext) != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d callers holding for %s, want %d", sw.flows.Waiting(ext), ext, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The caller's CANCEL and the callee's 200 OK cross: either the caller is answered (then they
// ACK and hang up, and the callee gets BYE), or the caller gets 487 and the callee's phone is
// cancelled (or, if it had answered, hung up). No call or port is left behind.
func TestRaceCallerCancelsAsCalleeAnswers(t *testing.T) {
	sw := startSwitch(t)
	bob := newPhone(t, sw, "1002", "udp").mustRegister()
	alice := newPhone(t, sw, "1001", "udp").mustRegister()
	leaks := trackGoroutines(t)
	outcomes := map[string]int{}
	for i := 0; i < 20; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		inv := newRawInvite(t, ctx, alice, "1002")
		ic := bob.nextIncoming(5 * time.Second)
		if err := ic.dlg.Respond(180, "Ringing", nil); err != nil {
			t.Fatal(err)
		}
		inv.waitFor(t, 180)

		var wg sync.WaitGroup
		var answerErr error
		wg.Add(2)
		go func() {
			defer wg.Done()
			time.Sleep(jitter(10 * time.Millisecond))
			inv.cancel(t)
		}()
		go func() {
			defer wg.Done()
			time.Sleep(jitter(10 * time.Millisecond))
			answerErr = ic.dlg.Respond(200, "OK", bob.sdp("sendrecv"), sip.NewHeader("Content-Type", "application/sdp"))
		}()
		wg.Wait()
		bobAnswered := answerErr == nil

		final := inv.final(t)
		switch final.StatusCode {
		case 200:
			outcomes["bridged, then hung up"]++
			inv.ackAndBye(t, final)
			ringOut(t, bob, ic, true)
		case 487:
			if bobAnswered {
				outcomes["487, answered phone hung up"]++
			} else {
				outcomes["487, phone cancelled"]++
			}
			ringOutAs(t, bob, ic, bobAnswered, !bobAnswered)
		default:
			t.Fatalf("round %d: caller's final response %d %s, want 200 or 487", i, final.StatusCode, final.Reason)
		}
		sw.waitIdle(t)
		drain(alice, bob)
		cancel()
	}
	t.Logf("outcomes: %v", outcomes)
	leaks.settled(sw, 1)
}

// rawInvite is a caller's INVITE driven at the transaction level, so the test can send CANCEL
// itself and still see (and ACK) a 200 OK that crossed it, as a real phone must.
type rawInvite struct {
	p   *phone
	ctx context.Context
	req *sip.Request
	tx  sip.ClientTransaction
	res chan *sip.Response
}

func newRawInvite(t *testing.T, ctx context.Context, p *phone, ext string) *rawInvite {
	t.Helper()
	req := sip.NewRequest(sip.INVITE, p.switchURI(ext))
	from := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: p.ext, Host: p.host}, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(12))
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: ext, Host: p.host}})
	req.AppendHeader(p.contact.Clone())
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody(p.sdp("sendrecv"))
	tx, err := p.client.TransactionRequest(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case res := <-tx.Responses():
			if res.IsProvisional() {
				continue
			}
			if res.StatusCode != 407 {
				t.Fatalf("INVITE before auth: %d, want 407", res.StatusCode)
			}
			tx.Terminate()
			tx, err = p.client.TransactionDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: p.ext, Password: p.pass})
			if err != nil {
				t.Fatal(err)
			}
			r := &rawInvite{p: p, ctx: ctx, req: req, tx: tx, res: make(chan *sip.Response, 16)}
			go r.read()
			return r
		case <-tx.Done():
			t.Fatalf("INVITE: %v", tx.Err())
		case <-ctx.Done():
			t.Fatal("INVITE: no answer")
		}
	}
}

func (r *rawInvite) read() {
	defer r.tx.Terminate()
	for {
		select {
		case res := <-r.tx.Responses():
			r.res <- res
			if res.IsSuccess() {
				return // ACKed by the test; retransmissions do not matter here
			}
		case <-r.tx.Done():
			return
		case <-r.ctx.Done():
			return
		}
	}
}

// waitFor waits for a provisional response with code.
func (r *rawInvite) waitFor(t *testing.T, code int) {
	t.Helper()
	for {
		select {
		case res := <-r.res:
			if res.StatusCode == code {
				return
			}
			if !res.IsProvisional() {
				t.Fatalf("waiting for %d, got %d", code, res.StatusCode)
			}
		case <-time.After(3 * time.Second):
			t.Fatalf("no %d", code)
		}
	}
}

// final waits for the INVITE's final response.
func (r *rawInvite) final(t *testing.T) *sip.Response {
	t.Helper()
	for {
		select {
		case res := <-r.res:
			if !res.IsProvisional() {
				return res
			}
		case <-time.After(5 * time.Second):
			t.Fatal("caller got no final response")
		}
	}
}

// cancel sends CANCEL for the INVITE (RFC 3261 §9.1: the INVITE's Via, Call-ID, From, To, CSeq number).
func (r *rawInvite) cancel(t *testing.T) {
	inv := r.req
	req := sip.NewRequest(sip.CANCEL, inv.Recipient)
	req.AppendHeader(sip.HeaderClone(inv.Via()))
	req.AppendHeader(sip.HeaderClone(inv.From()))
	req.AppendHeader(sip.HeaderClone(inv.To()))
	req.AppendHeader(sip.HeaderClone(inv.CallID()))
	req.AppendHeader(&sip.CSeqHeader{SeqNo: inv.CSeq().SeqNo, MethodName: sip.CANCEL})
	mf := sip.MaxForwardsHeader(70)
	req.AppendHeader(&mf)
	req.SetBody(nil)
	asIs := func(*sipgo.Client, *sip.Request) error { return nil }
	res, err := r.p.client.Do(r.ctx, req, asIs)
	if err != nil {
		t.Errorf("CANCEL: %v", err)
		return
	}
	if res.StatusCode != 200 && res.StatusCode != 481 { // 481: the INVITE had completed (2xx crossed)
		t.Errorf("CANCEL answered %d", res.StatusCode)
	}
}

// ackAndBye acknowledges a 2xx and hangs up the call it established.
func (r *rawInvite) ackAndBye(t *testing.T, ok *sip.Response) {
	t.Helper()
	inv := r.req
	target := inv.Recipient
	if ct := ok.Contact(); ct != nil {
		target = ct.Address
	}
	build := func(m sip.RequestMethod, seq uint32) *sip.Request {
		req := sip.NewRequest(m, *target.Clone())
		req.AppendHeader(sip.HeaderClone(inv.From()))
		req.AppendHeader(sip.HeaderClone(ok.To()))
		req.AppendHeader(sip.HeaderClone(inv.CallID()))
		req.AppendHeader(&sip.CSeqHeader{SeqNo: seq, MethodName: m})
		mf := sip.MaxForwardsHeader(70)
		req.AppendHeader(&mf)
		req.SetBody(nil)
		return req
	}
	seq := inv.CSeq().SeqNo
	if err := r.p.client.WriteRequest(build(sip.ACK, seq), sipgo.ClientRequestAddVia); err != nil {
		t.Fatalf("ACK: %v", err)
	}
	res, err := r.p.client.Do(r.ctx, build(sip.BYE, seq+1), sipgo.ClientRequestAddVia)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("BYE after the crossed 200: %v %v", res, err)
	}
}
