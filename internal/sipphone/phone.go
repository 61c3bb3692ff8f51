// Package sipphone is a small sipgo phone for tests against a running switch on loopback: it
// registers with digest auth, answers every INVITE with 180 then 200 and an SDP (PCMU), places
// calls with digest auth, and sends and records RTP on its own socket.
//
// It is test support: its methods take the test's *testing.T and fail the test on error.
package sipphone

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// Phone is one sipgo user agent on its own UDP port, with an RTP socket.
type Phone struct {
	t         testing.TB
	ext, pass string
	sipPort   int // the switch's
	addr      *net.UDPAddr
	client    *sipgo.Client
	dsc       *sipgo.DialogServerCache
	dcc       *sipgo.DialogClientCache
	rtp       *net.UDPConn

	mu       sync.Mutex
	incoming []*sipgo.DialogServerSession
	answered chan *sipgo.DialogServerSession
	cancels  chan string
}

// New starts a phone for ext (password pass) that talks to the switch on 127.0.0.1:sipPort.
// It stops at the end of the test.
func New(t testing.TB, sipPort int, ext, pass string) *Phone {
	t.Helper()
	return start(t, sipPort, ext, pass, false)
}

// NewRinging starts a phone that rings (180) at every call and never answers; the Call-ID of
// each CANCEL it gets comes out of Cancels.
func NewRinging(t testing.TB, sipPort int, ext, pass string) *Phone {
	t.Helper()
	return start(t, sipPort, ext, pass, true)
}

// Cancels delivers the Call-ID of each CANCEL a ringing phone (NewRinging) got.
func (p *Phone) Cancels() <-chan string { return p.cancels }

func start(t testing.TB, sipPort int, ext, pass string, ringOnly bool) *Phone {
	t.Helper()
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("switchboard-test-phone-" + ext))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sipgo.NewServer(ua)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.ServeUDP(conn) }() // ends when ua.Close closes conn
	addr := conn.LocalAddr().(*net.UDPAddr)
	client, err := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"), sipgo.WithClientAddr(addr.String()))
	if err != nil {
		t.Fatal(err)
	}
	contact := sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: ext, Host: "127.0.0.1", Port: addr.Port}}
	p := &Phone{t: t, ext: ext, pass: pass, sipPort: sipPort, addr: addr, client: client,
		dsc: sipgo.NewDialogServerCache(client, contact), dcc: sipgo.NewDialogClientCache(client, contact),
		answered: make(chan *sipgo.DialogServerSession, 4), cancels: make(chan string, 4)}
	p.rtp, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	srv.OnInvite(func(req *sip.Request, tx sip.ServerTransaction) {
		if ringOnly {
			res := sip.NewResponseFromRequest(req, 180, "Ringing", nil)
			res.To().Params.Add("tag", sip.GenerateTagN(8))
			_ = tx.Respond(res)
			cancelled := make(chan struct{})
			tx.OnCancel(func(r *sip.Request) { p.cancels <- r.CallID().Value(); close(cancelled) })
			select {
			case <-cancelled:
			case <-tx.Done():
			case <-ctx.Done():
			}
			return
		}
		ds, err := p.dsc.ReadInvite(req, tx)
		if err != nil {
			_ = tx.Respond(sip.NewResponseFromRequest(req, 500, "Bad INVITE", nil))
			return
		}
		_ = ds.Respond(180, "Ringing", nil)
		if err := ds.RespondSDP(p.SDP()); err != nil { // returns once the ACK is in
			t.Logf("phone %s: answering: %v", ext, err)
			return
		}
		p.mu.Lock()
		p.incoming = append(p.incoming, ds)
		p.mu.Unlock()
		p.answered <- ds
	})
	srv.OnAck(func(req *sip.Request, tx sip.ServerTransaction) { _ = p.dsc.ReadAck(req, tx) })
	srv.OnBye(func(req *sip.Request, tx sip.ServerTransaction) {
		if p.dsc.ReadBye(req, tx) == nil {
			return
		}
		if p.dcc.ReadBye(req, tx) == nil {
			return
		}
		_ = tx.Respond(sip.NewResponseFromRequest(req, 481, "No Dialog", nil))
	})
	srv.OnOptions(func(req *sip.Request, tx sip.ServerTransaction) {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	})
	srv.OnNotify(func(req *sip.Request, tx sip.ServerTransaction) {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	})
	t.Cleanup(func() {
		stop()
		_ = p.rtp.Close()
		_ = ua.Close() // closes conn too
	})
	return p
}

// Answered delivers each call the phone answered, once its ACK is in.
func (p *Phone) Answered() <-chan *sipgo.DialogServerSession { return p.answered }

// SDP is the phone's offer or answer: PCMU (and telephone-event) on its RTP socket.
func (p *Phone) SDP() []byte {
	port := p.rtp.LocalAddr().(*net.UDPAddr).Port
	return fmt.Appendf(nil, "v=0\r\no=%s 1 1 IN IP4 127.0.0.1\r\ns=test\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"+
		"m=audio %d RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"+
		"a=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n", p.ext, port)
}

// Register binds the phone's address to its extension (REGISTER, 401, REGISTER with digest);
// anything but 200 fails the test.
func (p *Phone) Register(ctx context.Context) {
	p.t.Helper()
	code, err := p.TryRegister(ctx)
	if err != nil {
		p.t.Fatalf("REGISTER %s: %v", p.ext, err)
	}
	if code != 200 {
		p.t.Fatalf("REGISTER %s: %d", p.ext, code)
	}
}

// TryRegister is Register for a test that expects a refusal: it returns the final status.
func (p *Phone) TryRegister(ctx context.Context) (int, error) {
	aor := sip.Uri{Scheme: "sip", User: p.ext, Host: "127.0.0.1"}
	req := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: "127.0.0.1", Port: p.sipPort})
	from := &sip.FromHeader{Address: aor, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(10))
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: aor, Params: sip.NewParams()})
	req.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: p.ext, Host: "127.0.0.1", Port: p.addr.Port}})
	req.AppendHeader(sip.NewHeader("Expires", "3600"))
	res, err := p.client.Do(ctx, req)
	if err == nil && (res.StatusCode == 401 || res.StatusCode == 407) {
		res, err = p.client.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: p.ext, Password: p.pass})
	}
	if err != nil {
		return 0, err
	}
	return res.StatusCode, nil
}

// Call dials ext through the switch, answers the digest challenge and ACKs the 200. It returns
// the dialog and where the switch wants the phone's RTP.
func (p *Phone) Call(ctx context.Context, ext string) (*sipgo.DialogClientSession, *net.UDPAddr) {
	p.t.Helper()
	to := sip.Uri{Scheme: "sip", User: ext, Host: "127.0.0.1", Port: p.sipPort}
	d, err := p.dcc.Invite(ctx, to, p.SDP(), sip.NewHeader("Content-Type", "application/sdp"))
	if err != nil {
		p.t.Fatalf("INVITE %s: %v", ext, err)
	}
	if err := d.WaitAnswer(ctx, sipgo.AnswerOptions{Username: p.ext, Password: p.pass}); err != nil {
		p.t.Fatalf("call %s -> %s not answered: %v", p.ext, ext, err)
	}
	if err := d.Ack(ctx); err != nil {
		p.t.Fatalf("ACK: %v", err)
	}
	var ip string
	var port int
	for _, line := range strings.Split(string(d.InviteResponse.Body()), "\n") {
		line = strings.TrimSpace(line)
		if s, ok := strings.CutPrefix(line, "c=IN IP4 "); ok {
			ip = s
		}
		if s, ok := strings.CutPrefix(line, "m=audio "); ok {
			ps, _, _ := strings.Cut(s, " ")
			port, _ = strconv.Atoi(ps)
		}
	}
	if ip == "" || port == 0 {
		p.t.Fatalf("200 OK from the switch has no usable SDP:\n%s", d.InviteResponse.Body())
	}
	return d, &net.UDPAddr{IP: net.ParseIP(ip), Port: port}
}

// RTP is the phone's RTP socket, for a test that reads or sends media itself.
func (p *Phone) RTP() *net.UDPConn { return p.rtp }

// SIPPort is the UDP port the phone sends and takes SIP on.
func (p *Phone) SIPPort() int { return p.addr.Port }

// Dial sends an INVITE for ext through the switch and returns the dialog at once; WaitAnswer
// with Auth completes it. hdrs are added to the INVITE (a From of its own: without one, sipgo
// names the user agent there, not the extension).
func (p *Phone) Dial(ctx context.Context, ext string, hdrs ...sip.Header) (*sipgo.DialogClientSession, error) {
	to := sip.Uri{Scheme: "sip", User: ext, Host: "127.0.0.1", Port: p.sipPort}
	return p.dcc.Invite(ctx, to, p.SDP(), append([]sip.Header{sip.NewHeader("Content-Type", "application/sdp")}, hdrs...)...)
}

// From is a From header naming the phone's extension, with a fresh tag, for Dial.
func (p *Phone) From() *sip.FromHeader {
	from := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: p.ext, Host: "127.0.0.1"}, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(10))
	return from
}

// Auth answers the switch's digest challenge to this phone's requests.
func (p *Phone) Auth() sipgo.AnswerOptions {
	return sipgo.AnswerOptions{Username: p.ext, Password: p.pass}
}
