package sip_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/switchboard-voip/switchboard/presence"
	"github.com/switchboard-voip/switchboard/routing"
	sbsip "github.com/switchboard-voip/switchboard/sip"
)

// loopbackTrunk is a carrier on 127.0.0.1 whose DID 15551230000 rings 1002.
type loopbackTrunk struct{}

func (loopbackTrunk) TrunkFor(addr netip.Addr) (string, map[string]string, bool) {
	if addr.Unmap() != netip.MustParseAddr("127.0.0.1") {
		return "", nil, false
	}
	return "carrier", map[string]string{"15551230000": "1002"}, true
}

func TestCarrierCallToDIDRingsMappedExtension(t *testing.T) {
	sw := startSwitch(t, func(o *switchOpts) { o.Trunks = loopbackTrunk{} })
	bob := newPhone(t, sw, "1002", "udp").mustRegister()
	carrier := newPhone(t, sw, "15557654321", "udp") // not a user: no registration, no password

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	var d *sipDialog
	go func() {
		dd, err := carrier.dial(ctx, "15551230000")
		if err == nil {
			d = &sipDialog{dd}
			err = dd.WaitAnswer(ctx, sipgoNoAuth())
			if err == nil {
				err = dd.Ack(ctx)
			}
		}
		errc <- err
	}()
	ic := bob.nextIncoming(5 * time.Second)
	if from := ic.req.From().Address.User; from != "15557654321" {
		t.Fatalf("Bob sees caller %q, want the outside number", from)
	}
	bob.answer(ic)
	if err := <-errc; err != nil {
		t.Fatalf("carrier call: %v", err)
	}
	_ = d.Bye(ctx)
	<-bob.byes
	sw.waitIdle(t)

	// The trunk's address does not let anyone call anything else without credentials.
	dd, err := carrier.dial(ctx, "1002")
	if err != nil {
		t.Fatal(err)
	}
	if err := dd.WaitAnswer(ctx, sipgoNoAuth()); statusOf(err) != 407 {
		t.Fatalf("carrier dialling an extension directly: %v, want 407", err)
	}
}

// carrierUsers sends 9+number out to a carrier phone at addr.
type carrierUsers struct {
	users
	addr *string
}

func (u carrierUsers) Outbound(dialled string) (routing.OutboundRoute, bool) {
	if len(dialled) > 5 && dialled[0] == '9' {
		return routing.OutboundRoute{Trunk: "carrier", Number: dialled[1:], Transport: "udp", Addr: *u.addr}, true
	}
	return routing.OutboundRoute{}, false
}

func TestOutboundCallThroughTrunkUnderDND(t *testing.T) {
	table, err := presence.NewTable([]presence.User{{Ext: "1001"}}, &presence.MemoryStore{})
	if err != nil {
		t.Fatal(err)
	}
	var carrierAddr string
	sw := startSwitch(t, func(o *switchOpts) {
		o.Presence = table
		o.Router = routing.New(carrierUsers{addr: &carrierAddr}, o.Locations.(*sbsip.MemoryLocations), table)
	})
	carrier := newPhone(t, sw, "15551234567", "udp")
	carrierAddr = fmt.Sprintf("%s:%d", carrier.host, carrier.port)
	alice := newPhone(t, sw, "1001", "udp").mustRegister()
	if _, err := table.SetDND("1001", true); err != nil {
		t.Fatal(err)
	}
	ic, hangup, _ := func() (*incomingCall, func() error, *sipDialog) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		t.Cleanup(cancel)
		type result struct {
			d   *sipDialog
			err error
		}
		done := make(chan result, 1)
		go func() {
			d, err := alice.call(ctx, "915551234567")
			done <- result{&sipDialog{d}, err}
		}()
		ic := carrier.nextIncoming(5 * time.Second)
		carrier.answer(ic)
		r := <-done
		if r.err != nil {
			t.Fatalf("outbound call under DND: %v", r.err)
		}
		return ic, func() error { return r.d.Bye(context.Background()) }, r.d
	}()
	if ic.req.Recipient.User != "15551234567" || ic.req.From().Address.User != "1001" {
		t.Fatalf("carrier got INVITE for %q from %q", ic.req.Recipient.User, ic.req.From().Address.User)
	}
	_ = hangup()
	<-carrier.byes
	sw.waitIdle(t)
}

// TestCarrierChallengeIsNeverAnswered: the switch holds no credentials for its peers and
// answers nobody's challenge. A carrier (or whatever sits at the trunk's address) answering an
// outbound INVITE with 407 and a challenge in the switch's own realm gets no second INVITE, and
// the caller gets 503 without the challenge: passing it on would have the phone answer it with
// its password's digest, which anyone at that address could then try passwords against.
func TestCarrierChallengeIsNeverAnswered(t *testing.T) {
	var carrierAddr string
	sw := startSwitch(t, func(o *switchOpts) {
		o.Router = routing.New(carrierUsers{addr: &carrierAddr}, o.Locations.(*sbsip.MemoryLocations), nil)
	})
	carrier := newPhone(t, sw, "15551234567", "udp")
	carrierAddr = fmt.Sprintf("%s:%d", carrier.host, carrier.port)
	alice := newPhone(t, sw, "1001", "udp").mustRegister()
	done := callOut(t, alice, "915551234567")
	ic := carrier.nextIncoming(5 * time.Second)
	challenge := sip.NewHeader("Proxy-Authenticate", `Digest realm="switchboard", nonce="abc123", algorithm=MD5, qop="auth"`)
	if err := ic.dlg.Respond(407, "Proxy Authentication Required", nil, challenge); err != nil {
		t.Fatal(err)
	}
	r := <-done
	var de *sipgo.ErrDialogResponse
	if !errors.As(r.err, &de) || de.Res.StatusCode != 503 {
		t.Fatalf("caller's outcome %v, want 503", r.err)
	}
	for _, name := range []string{"Proxy-Authenticate", "WWW-Authenticate"} {
		if h := de.Res.GetHeader(name); h != nil {
			t.Errorf("the carrier's challenge reached the phone: %s: %s", name, h.Value())
		}
	}
	select {
	case again := <-carrier.incoming:
		t.Errorf("the switch answered the carrier's challenge: %s", again.req.StartLine())
	default:
	}
	sw.waitIdle(t)
}

// callResult is how a call placed in the background ended up.
type callResult struct {
	d   *sipgo.DialogClientSession
	err error
}

// callOut has p call number in the background (up to 10 s) and delivers the outcome.
func callOut(t *testing.T, p *phone, number string) <-chan callResult {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	done := make(chan callResult, 1)
	go func() {
		d, err := p.call(ctx, number)
		done <- callResult{d, err}
	}()
	return done
}

// rawUAS is a carrier at a bare UDP socket, so that a test can send a 2xx twice as a phone
// whose ACK was lost does, and read the switch's ACKs byte for byte.
type rawUAS struct {
	t    *testing.T
	conn *net.UDPConn
}

func newRawUAS(t *testing.T) *rawUAS {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &rawUAS{t: t, conn: conn}
}

// next reads the next request of method (others, such as retransmissions, are skipped), raw and
// parsed, with the address it came from.
func (u *rawUAS) next(method sip.RequestMethod) ([]byte, *sip.Request, net.Addr) {
	u.t.Helper()
	buf := make([]byte, 65535)
	_ = u.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		n, from, err := u.conn.ReadFrom(buf)
		if err != nil {
			u.t.Fatalf("waiting for %s: %v", method, err)
		}
		msg, err := sip.NewParser().ParseSIP(buf[:n])
		if err != nil {
			u.t.Fatalf("unparsable from the switch: %v\n%s", err, buf[:n])
		}
		if req, ok := msg.(*sip.Request); ok && req.Method == method {
			return append([]byte(nil), buf[:n]...), req, from
		}
	}
}

// ok answers req with 200 and SDP (tag given), and returns the bytes sent.
func (u *rawUAS) ok(req *sip.Request, to net.Addr, tag string) []byte {
	u.t.Helper()
	sdp := []byte("v=0\r\no=carrier 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
		"m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n")
	res := sip.NewResponseFromRequest(req, 200, "OK", sdp)
	if _, ok := res.To().Params.Get("tag"); !ok { // a re-INVITE's To has it already
		res.To().Params.Add("tag", tag)
	}
	host, port, _ := net.SplitHostPort(u.conn.LocalAddr().String())
	p, _ := strconv.Atoi(port)
	res.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "carrier", Host: host, Port: p}})
	res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	out := []byte(res.String())
	u.send(out, to)
	return out
}

func (u *rawUAS) send(b []byte, to net.Addr) {
	u.t.Helper()
	if _, err := u.conn.WriteTo(b, to); err != nil {
		u.t.Fatal(err)
	}
}

// callRawCarrier starts a switch whose outside numbers go to a bare-socket carrier, and has
// Alice (1001) call one through it in the background.
func callRawCarrier(t *testing.T) (*testSwitch, *rawUAS, *phone, <-chan callResult) {
	var carrierAddr string
	sw := startSwitch(t, func(o *switchOpts) {
		o.Router = routing.New(carrierUsers{addr: &carrierAddr}, o.Locations.(*sbsip.MemoryLocations), nil)
	})
	carrier := newRawUAS(t)
	carrierAddr = carrier.conn.LocalAddr().String()
	alice := newPhone(t, sw, "1001", "udp").mustRegister()
	return sw, carrier, alice, callOut(t, alice, "915551234567")
}

// TestRetransmitted2xxGetsTheSameACK: a phone (here a carrier) whose first ACK went missing sends
// its 2xx again, and must get the very same ACK again (RFC 3261 §13.2.2.4), not a new request
// with a new branch — for the call's INVITE and for a re-INVITE the switch passes on.
func TestRetransmitted2xxGetsTheSameACK(t *testing.T) {
	sw, carrier, alice, done := callRawCarrier(t)

	twice := func(what string, req *sip.Request, from net.Addr) {
		t.Helper()
		ok := carrier.ok(req, from, "carrier-tag")
		first, _, _ := carrier.next(sip.ACK)
		carrier.send(ok, from) // the 2xx again, as if the ACK had been lost
		again, _, _ := carrier.next(sip.ACK)
		if string(again) != string(first) {
			t.Errorf("%s: the retransmitted 2xx got another ACK:\n%s\nthe first was:\n%s", what, again, first)
		}
	}
	_, inv, from := carrier.next(sip.INVITE)
	twice("INVITE", inv, from)
	r := <-done
	if r.err != nil {
		t.Fatalf("call through the carrier: %v", r.err)
	}

	d := &sipDialog{r.d}
	reDone := make(chan *sip.Response, 1)
	go func() { reDone <- reinvite(t, d, alice.sdp("sendonly")) }()
	_, reinv, from := carrier.next(sip.INVITE)
	twice("re-INVITE", reinv, from)
	if res := <-reDone; !res.IsSuccess() {
		t.Fatalf("re-INVITE: %d", res.StatusCode)
	}

	go func() { _ = d.Bye(context.Background()) }()
	raw, bye, from := carrier.next(sip.BYE)
	_ = raw
	carrier.send([]byte(sip.NewResponseFromRequest(bye, 200, "OK", nil).String()), from)
	sw.waitIdle(t)
}

// TestInviteRetransmissionIsIdentical: a phone that has not answered yet gets the switch's
// INVITE again after T1, and it must be the same request byte for byte: a phone (SIPp among
// them) recognises a retransmission by comparing it with the first, and takes anything else for
// a new request in the middle of its call.
func TestInviteRetransmissionIsIdentical(t *testing.T) {
	sw, carrier, _, done := callRawCarrier(t)
	first, inv, from := carrier.next(sip.INVITE)
	again, _, _ := carrier.next(sip.INVITE) // after T1 (500 ms) without an answer
	if string(again) != string(first) {
		t.Errorf("the INVITE sent again differs from the first:\n%s\nthe first:\n%s", again, first)
	}
	carrier.ok(inv, from, "carrier-tag")
	carrier.next(sip.ACK)
	r := <-done
	if r.err != nil {
		t.Fatalf("call: %v", r.err)
	}
	go func() { _ = r.d.Bye(context.Background()) }()
	_, bye, from := carrier.next(sip.BYE)
	carrier.send([]byte(sip.NewResponseFromRequest(bye, 200, "OK", nil).String()), from)
	sw.waitIdle(t)
}

// TestLateInviteRetransmissionIsAbsorbed: a caller whose INVITE went out twice (the second
// delayed in the network) must not get a second call from the copy that arrives after the
// switch's 2xx — the INVITE's transaction has ended by then (Timer L) and the caller's dialog
// absorbs the copy — while the switch goes on retransmitting its 2xx until the ACK, past the
// transaction's end. An INVITE with the dialog's ids but a new CSeq is a merged request: 482.
func TestLateInviteRetransmissionIsAbsorbed(t *testing.T) {
	sw := startSwitch(t, func(o *switchOpts) { o.Trunks = loopbackTrunk{} })
	bob := newPhone(t, sw, "1002", "udp").mustRegister()
	carrier := newRawUAS(t)
	to, err := net.ResolveUDPAddr("udp", sw.srv.Addr("udp"))
	if err != nil {
		t.Fatal(err)
	}
	local := carrier.conn.LocalAddr().String()
	sdp := "v=0\r\no=carrier 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
		"m=audio 40002 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"
	request := func(method string, seq int, branch, toTag string, body string) []byte {
		var b strings.Builder
		fmt.Fprintf(&b, "%s sip:15551230000@%s SIP/2.0\r\n", method, sw.srv.Addr("udp"))
		fmt.Fprintf(&b, "Via: SIP/2.0/UDP %s;branch=%s;rport\r\n", local, branch)
		b.WriteString("From: <sip:15557654321@127.0.0.1>;tag=carrier-tag\r\n")
		fmt.Fprintf(&b, "To: <sip:15551230000@127.0.0.1>%s\r\n", toTag)
		b.WriteString("Call-ID: late-retransmission@carrier\r\n")
		fmt.Fprintf(&b, "CSeq: %d %s\r\n", seq, method)
		fmt.Fprintf(&b, "Contact: <sip:carrier@%s>\r\nMax-Forwards: 70\r\n", local)
		if body != "" {
			b.WriteString("Content-Type: application/sdp\r\n")
		}
		fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n%s", len(body), body)
		return []byte(b.String())
	}
	// responses reads the switch's responses until one matches want, returning all it read.
	responses := func(want func(*sip.Response) bool) []*sip.Response {
		t.Helper()
		var got []*sip.Response
		buf := make([]byte, 65535)
		_ = carrier.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		for {
			n, _, err := carrier.conn.ReadFrom(buf)
			if err != nil {
				t.Fatalf("waiting for the switch's answer: %v (read %d responses)", err, len(got))
			}
			msg, err := sip.NewParser().ParseSIP(buf[:n])
			if err != nil {
				t.Fatalf("unparsable from the switch: %v", err)
			}
			if res, ok := msg.(*sip.Response); ok {
				got = append(got, res)
				if want(res) {
					return got
				}
			}
		}
	}

	invite := request("INVITE", 1, "z9hG4bK-late-1", "", sdp)
	carrier.send(invite, to)
	bob.answer(bob.nextIncoming(5 * time.Second))
	first := responses(func(r *sip.Response) bool { return r.StatusCode == 200 })
	ok := first[len(first)-1]
	tag, _ := ok.To().Params.Get("tag")
	// No ACK yet: the 2xx comes again after T1, 2·T1 and 4·T1 (at 3.5 s, past the INVITE
	// transaction's Timer L), each time the same.
	for i := 0; i < 3; i++ {
		again := responses(func(r *sip.Response) bool { return r.StatusCode == 200 })
		if got := again[len(again)-1].String(); got != ok.String() {
			t.Fatalf("2xx retransmission %d differs:\n%s\nthe first:\n%s", i+1, got, ok.String())
		}
	}
	carrier.send(invite, to) // the copy the network delayed
	carrier.send(request("INVITE", 2, "z9hG4bK-late-2", "", sdp), to)
	got := responses(func(r *sip.Response) bool { return r.StatusCode == 482 })
	for _, r := range got {
		if rt, _ := r.To().Params.Get("tag"); r.StatusCode != 482 && (r.StatusCode != 200 || rt != tag) {
			t.Fatalf("the late INVITE got %d (To tag %q): a second call", r.StatusCode, rt)
		}
	}
	carrier.send(request("ACK", 1, "z9hG4bK-late-ack", ";tag="+tag, ""), to)
	if n := len(sw.srv.Calls()); n != 1 {
		t.Fatalf("%d calls in progress, want the one", n)
	}
	carrier.send(request("BYE", 3, "z9hG4bK-late-bye", ";tag="+tag, ""), to)
	responses(func(r *sip.Response) bool { return r.StatusCode == 200 && r.CSeq().MethodName == sip.BYE })
	<-bob.byes
	sw.waitIdle(t)
	select {
	case ic := <-bob.incoming:
		t.Fatalf("Bob's phone was called again: %s", ic.req.CallID().Value())
	default:
	}
}
