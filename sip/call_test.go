package sip_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/switchboard-voip/switchboard/flow"
	"github.com/switchboard-voip/switchboard/internal/clock"
	"github.com/switchboard-voip/switchboard/routing"
	sbsip "github.com/switchboard-voip/switchboard/sip"
)

func TestCallToUnknownNumberIs404(t *testing.T) {
	sw := startSwitch(t)
	alice := newPhone(t, sw, "1001", "udp").mustRegister()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := alice.call(ctx, "1999")
	if statusOf(err) != 404 {
		t.Fatalf("call to 1999: %v, want 404", err)
	}
}

func TestCallToUserWithoutPhoneIs480(t *testing.T) {
	sw := startSwitch(t)
	alice := newPhone(t, sw, "1001", "udp").mustRegister()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := alice.call(ctx, "1002")
	if statusOf(err) != 480 {
		t.Fatalf("call to unregistered 1002: %v, want 480", err)
	}
}

func TestUnauthenticatedInviteIs407(t *testing.T) {
	sw := startSwitch(t)
	alice := newPhone(t, sw, "1001", "udp").mustRegister()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	d, err := alice.dial(ctx, "1002")
	if err != nil {
		t.Fatal(err)
	}
	err = d.WaitAnswer(ctx, sipgoNoAuth())
	if statusOf(err) != 407 {
		t.Fatalf("INVITE without credentials: %v, want 407", err)
	}
	var de = errResponse(err)
	if de.GetHeader("Proxy-Authenticate") == nil {
		t.Fatal("407 without Proxy-Authenticate")
	}
}

func TestInviteWithWrongPasswordIsRefused(t *testing.T) {
	sw := startSwitch(t)
	bob := newPhone(t, sw, "1002", "udp").mustRegister()
	alice := newPhone(t, sw, "1001", "udp").mustRegister()
	alice.pass = "wrong"
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := alice.call(ctx, "1002")
	if statusOf(err) != 407 {
		t.Fatalf("INVITE with wrong password: %v, want 407", err)
	}
	select {
	case <-bob.incoming:
		t.Fatal("callee rang for an unauthenticated caller")
	default:
	}
}

// bridged sets up a call from caller to callee's phone and returns both dialogs.
func bridged(t *testing.T, caller, callee *phone) (*incomingCall, func() error, *sipDialog) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	type result struct {
		d   *sipDialog
		err error
	}
	done := make(chan result, 1)
	go func() {
		d, err := caller.call(ctx, callee.ext)
		done <- result{&sipDialog{d}, err}
	}()
	ic := callee.nextIncoming(5 * time.Second)
	callee.answer(ic)
	r := <-done
	if r.err != nil {
		t.Fatalf("call %s → %s: %v", caller.ext, callee.ext, r.err)
	}
	return ic, func() error { return r.d.Bye(context.Background()) }, r.d
}

func TestCallAnsweredAndHungUpByCaller(t *testing.T) {
	sw := startSwitch(t)
	bob := newPhone(t, sw, "1002", "udp").mustRegister()
	alice := newPhone(t, sw, "1001", "udp").mustRegister()
	ic, hangup, d := bridged(t, alice, bob)

	// Each leg is its own dialog: the callee never sees the caller's Call-ID.
	if callID(ic.req) == callID(d.InviteRequest) {
		t.Fatal("B-leg reuses the A-leg Call-ID")
	}
	if from := ic.req.From().Address.User; from != "1001" {
		t.Fatalf("callee sees caller %q, want 1001", from)
	}
	if !strings.Contains(string(ic.req.Body()), "c=IN IP4 127.0.0.1") || remoteMedia(t, ic.req.Body()).Port == alice.rtp.LocalAddr().(*net.UDPAddr).Port {
		t.Fatal("callee's offer does not point at the switch")
	}
	if err := hangup(); err != nil {
		t.Fatalf("caller BYE: %v", err)
	}
	expectOn(t, bob.byes, callID(ic.req), "BYE")
	sw.waitIdle(t)
}

// TestRetransmittedByeIsAnsweredAgain: a caller whose 200 to its BYE was lost sends the BYE
// again, byte for byte, and gets 200 again (not 481: its call is over either way, but a phone
// or SIPp counts a 481 to its BYE as a failure), for FinishedTxLinger; later it is a BYE out of
// any dialog (481), as once the BYE's transaction would have ended. The switch keeps only the
// dialog's name for that time, not the BYE's transaction (recentByes).
func TestRetransmittedByeIsAnsweredAgain(t *testing.T) {
	clk := clock.NewFake(time.Now())
	sw := startSwitch(t, func(o *switchOpts) { o.Clock = clk })
	bob := newPhone(t, sw, "1002", "udp").mustRegister()
	alice := newPhone(t, sw, "1001", "udp").mustRegister()
	ic, _, d := bridged(t, alice, bob)

	// The BYE goes from a socket of the test's own, which reads the switch's answers itself.
	conn, err := net.Dial("udp", sw.srv.Addr("udp"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	bye := sip.NewRequest(sip.BYE, d.InviteResponse.Contact().Address)
	via := &sip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: "UDP", Host: "127.0.0.1",
		Port: conn.LocalAddr().(*net.UDPAddr).Port, Params: sip.NewParams()}
	via.Params.Add("branch", sip.GenerateBranch())
	bye.AppendHeader(via)
	bye.AppendHeader(sip.HeaderClone(d.InviteRequest.From()))
	bye.AppendHeader(sip.HeaderClone(d.InviteResponse.To()))
	bye.AppendHeader(sip.HeaderClone(d.InviteRequest.CallID()))
	bye.AppendHeader(&sip.CSeqHeader{SeqNo: d.InviteRequest.CSeq().SeqNo + 1, MethodName: sip.BYE})
	bye.AppendHeader(sip.NewHeader("Max-Forwards", "70"))
	bye.AppendHeader(sip.NewHeader("Content-Length", "0"))
	raw := []byte(bye.String())
	answer := func(what string) string {
		t.Helper()
		if _, err := conn.Write(raw); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 4096)
		if err := conn.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
			t.Fatal(err)
		}
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("%s: no answer: %v", what, err)
		}
		return statusLine(string(buf[:n]))
	}
	if got := answer("the BYE"); got != "SIP/2.0 200 OK" {
		t.Fatalf("the BYE: %q, want 200", got)
	}
	expectOn(t, bob.byes, callID(ic.req), "BYE")
	if got := answer("the BYE again"); got != "SIP/2.0 200 OK" {
		t.Fatalf("the BYE retransmitted: %q, want 200 again", got)
	}
	clk.Advance(sbsip.FinishedTxLinger)
	if got := answer("the BYE once more"); !strings.HasPrefix(got, "SIP/2.0 481 ") {
		t.Fatalf("the BYE retransmitted FinishedTxLinger later: %q, want 481", got)
	}
	sw.waitIdle(t)
}

func TestCallHungUpByCallee(t *testing.T) {
	sw := startSwitch(t)
	bob := newPhone(t, sw, "1002", "udp").mustRegister()
	alice := newPhone(t, sw, "1001", "udp").mustRegister()
	ic, _, d := bridged(t, alice, bob)
	if err := ic.dlg.Bye(context.Background()); err != nil {
		t.Fatalf("callee BYE: %v", err)
	}
	select {
	case id := <-alice.byes:
		if id != callID(d.InviteRequest) {
			t.Fatalf("BYE on %s, want caller's %s", id, callID(d.InviteRequest))
		}
	case <-time.After(3 * time.Second):
		t.Fatal("caller got no BYE")
	}
	sw.waitIdle(t)
}

func TestCallOverTCP(t *testing.T) {
	sw := startSwitch(t)
	bob := newPhone(t, sw, "1002", "tcp").mustRegister()
	alice := newPhone(t, sw, "1001", "tcp").mustRegister()
	ic, hangup, _ := bridged(t, alice, bob)
	if tp := ic.req.Via().Transport; tp != "TCP" {
		t.Fatalf("callee INVITE over %s, want TCP", tp)
	}
	if err := hangup(); err != nil {
		t.Fatal(err)
	}
	<-bob.byes
	sw.waitIdle(t)
}

func TestRTPFlowsBothWaysThroughSwitch(t *testing.T) {
	sw := startSwitch(t)
	bob := newPhone(t, sw, "1002", "udp").mustRegister()
	alice := newPhone(t, sw, "1001", "udp").mustRegister()
	ic, hangup, d := bridged(t, alice, bob)
	toSwitchFromAlice := remoteMedia(t, d.InviteResponse.Body())
	toSwitchFromBob := remoteMedia(t, ic.req.Body())

	const n = 50
	go alice.sendRTP(t, toSwitchFromAlice, n, 0xA1)
	if got := bob.recvRTP(t, n, 0xA1); got != n {
		t.Fatalf("callee received %d of %d packets from caller", got, n)
	}
	go bob.sendRTP(t, toSwitchFromBob, n, 0xB2)
	if got := alice.recvRTP(t, n, 0xB2); got != n {
		t.Fatalf("caller received %d of %d packets from callee", got, n)
	}
	_ = hangup()
	sw.waitIdle(t)
}

// ringing has caller dial ext in the background and callee's phone answer it with 180: the
// call rings when it returns. The caller's dialog arrives on dialled once the INVITE is out (nil
// if it could not be sent), and the answer WaitAnswer(opts) gets on the error channel.
func ringing(t *testing.T, ctx context.Context, caller, callee *phone, ext string,
	opts sipgo.AnswerOptions) (*incomingCall, <-chan *sipgo.DialogClientSession, <-chan error) {
	t.Helper()
	dialled := make(chan *sipgo.DialogClientSession, 1)
	errc := make(chan error, 1)
	go func() {
		d, err := caller.dial(ctx, ext)
		dialled <- d
		if err != nil {
			errc <- err
			return
		}
		errc <- d.WaitAnswer(ctx, opts)
	}()
	ic := callee.nextIncoming(5 * time.Second)
	if err := ic.dlg.Respond(180, "Ringing", nil); err != nil {
		t.Fatal(err)
	}
	return ic, dialled, errc
}

func TestCallerCancelsWhileRinging(t *testing.T) {
	sw := startSwitch(t)
	bob := newPhone(t, sw, "1002", "udp").mustRegister()
	alice := newPhone(t, sw, "1001", "udp").mustRegister()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ic, dialled, errc := ringing(t, ctx, alice, bob, "1002", sipgoAuth(alice))
	time.Sleep(100 * time.Millisecond) // caller hears ringing, then gives up
	cancel()
	if err := <-errc; err == nil {
		t.Fatal("cancelled call was answered")
	}
	d := &sipDialog{<-dialled}
	if d.InviteResponse == nil || d.InviteResponse.StatusCode != 487 {
		t.Fatalf("caller's final response: %v, want 487", d.InviteResponse)
	}
	expectOn(t, bob.cancels, callID(ic.req), "CANCEL")
	sw.waitIdle(t)
}

// TestCallerByeOnEarlyDialogEndsTheCallAsCancel: a caller may end its early dialog with BYE
// (RFC 3261 §15.1; SIPp does when it gives up on a call): the BYE gets 200, the pending INVITE
// 487 (§15.1.2, not a 500), and the ringing phone a CANCEL.
func TestCallerByeOnEarlyDialogEndsTheCallAsCancel(t *testing.T) {
	sw := startSwitch(t)
	bob := newPhone(t, sw, "1002", "udp").mustRegister()
	alice := newPhone(t, sw, "1001", "udp").mustRegister()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	heard := make(chan *sip.Response, 1)
	opts := sipgoAuth(alice)
	opts.OnResponse = func(res *sip.Response) error {
		if res.StatusCode == 180 {
			heard <- res
		}
		return nil
	}
	ic, _, errc := ringing(t, ctx, alice, bob, "1002", opts)
	var r180 *sip.Response
	select {
	case r180 = <-heard:
	case <-time.After(5 * time.Second):
		t.Fatal("no 180 at the caller")
	}
	inv := r180.CSeq().SeqNo
	bye := sip.NewRequest(sip.BYE, alice.switchURI("1002"))
	bye.AppendHeader(sip.HeaderClone(r180.From()))
	bye.AppendHeader(sip.HeaderClone(r180.To()))
	bye.AppendHeader(sip.HeaderClone(r180.CallID()))
	bye.AppendHeader(&sip.CSeqHeader{SeqNo: inv + 1, MethodName: sip.BYE})
	res, err := alice.client.Do(ctx, bye)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("BYE on the early dialog: %v %v, want 200", res, err)
	}
	if err := <-errc; statusOf(err) != 487 {
		t.Fatalf("the INVITE's answer after the BYE: %v, want 487", err)
	}
	expectOn(t, bob.cancels, callID(ic.req), "CANCEL")
	sw.waitIdle(t)
}

// A phone that answers 486 (busy) is a user who cannot take the call now: the caller is never
// told 486 for a user target; without voicemail they get 480.
func TestCalleeRejectsBusyCallerNeverSees486(t *testing.T) {
	sw := startSwitch(t)
	bob := newPhone(t, sw, "1002", "udp").mustRegister()
	alice := newPhone(t, sw, "1001", "udp").mustRegister()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() { _, err := alice.call(ctx, "1002"); errc <- err }()
	ic := bob.nextIncoming(5 * time.Second)
	if err := ic.dlg.Respond(486, "Busy Here", nil); err != nil {
		t.Fatal(err)
	}
	ic.finish()
	if err := <-errc; statusOf(err) != 480 {
		t.Fatalf("caller saw %v, want 480 (never 486 for a user)", err)
	}
	sw.waitIdle(t)
}

func TestForkingFirstAnswerWinsOtherPhoneGetsCancel(t *testing.T) {
	sw := startSwitch(t)
	desk := newPhone(t, sw, "1002", "udp").mustRegister()
	soft := newPhone(t, sw, "1002", "tcp").mustRegister()
	alice := newPhone(t, sw, "1001", "udp").mustRegister()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	var d *sipDialog
	go func() {
		dd, err := alice.call(ctx, "1002")
		d = &sipDialog{dd}
		errc <- err
	}()
	icDesk := desk.nextIncoming(5 * time.Second)
	icSoft := soft.nextIncoming(5 * time.Second)
	if err := icSoft.dlg.Respond(180, "Ringing", nil); err != nil {
		t.Fatal(err)
	}
	desk.answer(icDesk)
	if err := <-errc; err != nil {
		t.Fatalf("call: %v", err)
	}
	select {
	case id := <-soft.cancels:
		if id != callID(icSoft.req) {
			t.Fatalf("CANCEL for %s, want %s", id, callID(icSoft.req))
		}
	case <-time.After(3 * time.Second):
		t.Fatal("losing phone got no CANCEL")
	}
	if err := d.Bye(context.Background()); err != nil {
		t.Fatal(err)
	}
	<-desk.byes
	sw.waitIdle(t)
}

func TestReinviteHoldAndResumePassThrough(t *testing.T) {
	sw := startSwitch(t)
	bob := newPhone(t, sw, "1002", "udp").mustRegister()
	alice := newPhone(t, sw, "1001", "udp").mustRegister()
	_, hangup, d := bridged(t, alice, bob)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, dir := range []string{"sendonly", "sendrecv"} {
		req := sip.NewRequest(sip.INVITE, d.InviteResponse.Contact().Address)
		req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		req.SetBody(alice.sdp(dir))
		res, err := d.Do(ctx, req)
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("re-INVITE %s: %v %v", dir, res, err)
		}
		if err := d.WriteRequest(sip.NewRequest(sip.ACK, d.InviteResponse.Contact().Address)); err != nil {
			t.Fatalf("ACK: %v", err)
		}
		select {
		case got := <-bob.reinvite:
			if !strings.Contains(string(got.Body()), "a="+dir) {
				t.Fatalf("callee got re-INVITE without a=%s:\n%s", dir, got.Body())
			}
			if !strings.Contains(string(got.Body()), "c=IN IP4 127.0.0.1") || strings.Contains(string(got.Body()), "o=1001") {
				t.Fatalf("re-INVITE SDP not rewritten:\n%s", got.Body())
			}
		case <-time.After(3 * time.Second):
			t.Fatalf("callee got no re-INVITE (%s)", dir)
		}
		if !strings.Contains(string(res.Body()), "a=sendrecv") {
			t.Fatalf("answer to %s: %s", dir, res.Body())
		}
	}
	_ = hangup()
	sw.waitIdle(t)
}

func TestInfoPassesThrough(t *testing.T) {
	sw := startSwitch(t)
	bob := newPhone(t, sw, "1002", "udp").mustRegister()
	alice := newPhone(t, sw, "1001", "udp").mustRegister()
	_, hangup, d := bridged(t, alice, bob)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := d.Do(ctx, newInfo(d.InviteResponse.Contact().Address, "application/dtmf-relay", "Signal=5\r\nDuration=160\r\n"))
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("INFO: %v %v", res, err)
	}
	select {
	case got := <-bob.infos:
		if string(got.Body()) != "Signal=5\r\nDuration=160\r\n" {
			t.Fatalf("callee got INFO body %q", got.Body())
		}
	case <-time.After(3 * time.Second):
		t.Fatal("callee got no INFO")
	}
	_ = hangup()
	sw.waitIdle(t)
}

func TestRTPTimeoutEndsCallWithByeToBothLegs(t *testing.T) {
	sw := startSwitch(t, func(o *switchOpts) { o.RTPTimeout = 300 * time.Millisecond })
	bob := newPhone(t, sw, "1002", "udp").mustRegister()
	alice := newPhone(t, sw, "1001", "udp").mustRegister()
	bridged(t, alice, bob)
	for _, p := range []*phone{alice, bob} {
		select {
		case <-p.byes:
		case <-time.After(3 * time.Second):
			t.Fatalf("%s got no BYE after media stopped", p.ext)
		}
	}
	sw.waitIdle(t)
}

func TestShutdownByesBothLegs(t *testing.T) {
	sw := startSwitch(t)
	bob := newPhone(t, sw, "1002", "udp").mustRegister()
	alice := newPhone(t, sw, "1001", "udp").mustRegister()
	bridged(t, alice, bob)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := sw.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	for _, p := range []*phone{alice, bob} {
		select {
		case <-p.byes:
		case <-time.After(time.Second):
			t.Fatalf("%s got no BYE on shutdown", p.ext)
		}
	}
	if sw.ports.InUse() != 0 {
		t.Fatal("ports not returned on shutdown")
	}
}

func TestNoCommonCodecIs488(t *testing.T) {
	sw := startSwitch(t)
	newPhone(t, sw, "1002", "udp").mustRegister()
	alice := newPhone(t, sw, "1001", "udp").mustRegister()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	g729 := "v=0\r\no=a 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n"
	d, err := alice.dcc.Invite(ctx, alice.switchURI("1002"), []byte(g729), sip.NewHeader("Content-Type", "application/sdp"))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.WaitAnswer(ctx, sipgoAuth(alice)); statusOf(err) != 488 {
		t.Fatalf("G.729-only offer: %v, want 488", err)
	}
	sw.waitIdle(t)
}

// expectOn waits up to 3 s for a phone's request of the given kind (a BYE, a CANCEL) on the
// call with Call-ID want.
func expectOn(t *testing.T, got <-chan string, want, kind string) {
	t.Helper()
	select {
	case id := <-got:
		if id != want {
			t.Fatalf("%s on %s, want %s", kind, id, want)
		}
	case <-time.After(3 * time.Second):
		t.Fatalf("the phone got no %s", kind)
	}
}

// panickingFlows is a flow engine with a bug: every call it is given panics on the call's own
// goroutine.
type panickingFlows struct{}

func (panickingFlows) Run(flow.Call, *routing.Plan) { panic("a flow with a bug") }

// TestPanicInACallIsAnswered500: a call whose flow panics gets 500, not silence, and the switch
// (the process) goes on serving: the next phone registers and the next call gets its 500 too.
func TestPanicInACallIsAnswered500(t *testing.T) {
	sw := startSwitch(t, func(o *switchOpts) { o.Flows = panickingFlows{} })
	alice := newPhone(t, sw, "1001", "udp").mustRegister()
	newPhone(t, sw, "1002", "udp").mustRegister()
	for i := 0; i < 2; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := alice.call(ctx, "1002")
		cancel()
		if statusOf(err) != 500 {
			t.Fatalf("call %d with a panicking flow: %v, want 500", i+1, err)
		}
	}
	newPhone(t, sw, "1003", "udp").mustRegister()
	sw.waitIdle(t)
}
