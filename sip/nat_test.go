package sip_test

import (
	"context"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	sbsip "github.com/switchboard-voip/switchboard/sip"
)

// registerFor sends a REGISTER for p's extension from registrar's socket with the given Contact
// and extra headers, and fails the test unless it gets 200.
func registerFor(t *testing.T, registrar, p *phone, contact sip.ContactHeader, extra ...sip.Header) *sip.Response {
	t.Helper()
	req := registrar.registerRequest(300)
	req.To().Address.User, req.From().Address.User = p.ext, p.ext
	req.RemoveHeader("Contact")
	req.AppendHeader(&contact)
	for _, h := range extra {
		req.AppendHeader(h)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := registrar.client.Do(ctx, req)
	if err == nil && res.StatusCode == 401 {
		res, err = registrar.client.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: p.ext, Password: p.pass})
	}
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("register %s from %s: %v %v", p.ext, registrar.ext, res, err)
	}
	return res
}

// ringsAt places a call from caller to ext and returns the phone of phones that rang, which
// declines it.
func ringsAt(t *testing.T, caller *phone, ext string, phones ...*phone) *phone {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		_, err := caller.call(ctx, ext)
		errc <- err
	}()
	deadline := time.After(5 * time.Second)
	for {
		for _, p := range phones {
			select {
			case ic := <-p.incoming:
				_ = ic.dlg.Respond(486, "Busy Here", nil)
				ic.finish()
				<-errc
				return p
			default:
			}
		}
		select {
		case <-deadline:
			t.Fatalf("no phone rang for %s", ext)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// A phone registered by another host (third-party registration, as a SIPp load test does) is
// called at its Contact, not at the registering host.
func TestCallsGoToTheRegisteredContact(t *testing.T) {
	sw := startSwitch(t)
	bob := newPhone(t, sw, "1002", "udp")       // listens; never registers itself
	registrar := newPhone(t, sw, "1002", "udp") // registers Bob's Contact from its own port
	alice := newPhone(t, sw, "1001", "udp").mustRegister()
	registerFor(t, registrar, bob, bob.contact)
	if got := ringsAt(t, alice, "1002", bob, registrar); got != bob {
		t.Fatalf("the call went to the registering host (%d), not the Contact (%d)", registrar.port, bob.port)
	}
	b := sw.locs.Lookup("1002")
	if len(b) != 1 || b[0].Dest != bob.contact.Address.Host+":"+itoa(bob.port) {
		t.Fatalf("binding %+v, want Dest at the Contact", b)
	}
	sw.waitIdle(t)
}

// A phone behind NAT writes a private address into its Contact: it is called where its
// REGISTER came from.
func TestNATedPhoneIsCalledAtItsSource(t *testing.T) {
	sw := startSwitch(t)
	bob := newPhone(t, sw, "1002", "udp")
	alice := newPhone(t, sw, "1001", "udp").mustRegister()
	private := bob.contact
	private.Address.Host, private.Address.Port = "192.168.1.50", 5060
	registerFor(t, bob, bob, private)
	if got := ringsAt(t, alice, "1002", bob); got != bob {
		t.Fatal("the NATed phone was not called at its source")
	}
	if b := sw.locs.Lookup("1002"); len(b) != 1 || b[0].Contact != private.Address.String() {
		t.Fatalf("binding %+v, want the private Contact kept as the Request-URI", b)
	}
	sw.waitIdle(t)
}

// sip.nat: always sends to the source, never to the Contact, whatever the REGISTER shows.
func TestNATModes(t *testing.T) {
	for _, tc := range []struct {
		mode       sbsip.NAT
		thirdParty bool // else a NATed Contact from the phone itself
		wantSource bool
	}{
		{sbsip.NATAlways, true, true},
		{sbsip.NATNever, false, false},
		{sbsip.NATAuto, true, false},
		{sbsip.NATAuto, false, true},
	} {
		sw := startSwitch(t, func(o *switchOpts) { o.NAT = tc.mode })
		bob := newPhone(t, sw, "1002", "udp")
		registrar := newPhone(t, sw, "1002", "udp")
		contact := bob.contact
		from := registrar
		if !tc.thirdParty {
			contact.Address.Host, contact.Address.Port = "10.1.2.3", 5070
			from = bob
		}
		registerFor(t, from, bob, contact)
		b := sw.locs.Lookup("1002")
		want := "10.1.2.3:5070"
		if tc.thirdParty {
			want = "127.0.0.1:" + itoa(bob.port)
		}
		if tc.wantSource {
			want = "127.0.0.1:" + itoa(from.port)
		}
		if len(b) != 1 || b[0].Dest != want {
			t.Errorf("nat %d, third party %t: binding %+v, want Dest %s", tc.mode, tc.thirdParty, b, want)
		}
	}
}

// A registration relayed by a proxy with a Path (RFC 3327) is called through that proxy: the
// INVITE goes to the proxy with a Route naming it, the Request-URI stays the phone's Contact;
// the Path is echoed to a registrar client that supports it.
func TestPathIsHonoured(t *testing.T) {
	sw := startSwitch(t)
	bob := newPhone(t, sw, "1002", "udp")
	proxy := newPhone(t, sw, "1005", "udp") // stands in for an edge proxy
	alice := newPhone(t, sw, "1001", "udp").mustRegister()
	path := "<sip:edge@127.0.0.1:" + itoa(proxy.port) + ";lr>"
	res := registerFor(t, bob, bob, bob.contact, sip.NewHeader("Path", path), sip.NewHeader("Supported", "path"))
	if h := res.GetHeader("Path"); h == nil || h.Value() != path {
		t.Fatalf("200 OK Path %v, want %s echoed", h, path)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		_, err := alice.call(ctx, "1002")
		errc <- err
	}()
	ic := proxy.nextIncoming(5 * time.Second)
	route := ic.req.GetHeader("Route")
	if route == nil || route.Value() != path {
		t.Fatalf("INVITE at the proxy carries Route %v, want %s", route, path)
	}
	if ic.req.Recipient.Port != bob.port {
		t.Fatalf("Request-URI %s, want the phone's Contact", ic.req.Recipient.String())
	}
	_ = ic.dlg.Respond(486, "Busy Here", nil)
	ic.finish()
	<-errc
	select {
	case <-bob.incoming:
		t.Fatal("the phone was called directly, around its proxy")
	default:
	}
	sw.waitIdle(t)
}

// A REGISTER with an unreadable Path is refused with 400, and the registrar keeps serving.
func TestBadPathIsRefused(t *testing.T) {
	sw := startSwitch(t)
	bob := newPhone(t, sw, "1002", "udp")
	req := bob.registerRequest(300)
	req.AppendHeader(sip.NewHeader("Path", "<sip:edge@127.0.0.1;lr"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := bob.client.Do(ctx, req)
	if err == nil && res.StatusCode == 401 {
		res, err = bob.client.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: bob.ext, Password: bob.pass})
	}
	if err != nil || res.StatusCode != 400 {
		t.Fatalf("REGISTER with a bad Path: %v %v, want 400", res, err)
	}
	if len(sw.locs.Lookup("1002")) != 0 {
		t.Fatal("a refused REGISTER bound a contact")
	}
	bob.mustRegister()
}

// A ringing phone reached through its Path proxy is cancelled through it too: the CANCEL
// carries the INVITE's Route (RFC 3261 §9.1).
func TestCancelFollowsThePath(t *testing.T) {
	sw := startSwitch(t)
	bob := newPhone(t, sw, "1002", "udp")
	proxy := newPhone(t, sw, "1005", "udp")
	alice := newPhone(t, sw, "1001", "udp").mustRegister()
	path := "<sip:edge@127.0.0.1:" + itoa(proxy.port) + ";lr>"
	registerFor(t, bob, bob, bob.contact, sip.NewHeader("Path", path))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	callCtx, hangUp := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() {
		_, err := alice.call(callCtx, "1002")
		errc <- err
	}()
	ic := proxy.nextIncoming(5 * time.Second)
	if err := ic.dlg.Respond(180, "Ringing", nil); err != nil {
		t.Fatal(err)
	}
	hangUp() // Alice gives up while it rings
	gotCancel(t, proxy, ic, 5*time.Second)
	<-errc
	c := proxy.lastCancel.Load()
	if c == nil || c.GetHeader("Route") == nil || c.GetHeader("Route").Value() != path {
		t.Fatalf("CANCEL at the proxy: %v, want Route %s", c, path)
	}
	sw.waitIdle(t)
}
