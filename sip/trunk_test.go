package sip_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
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
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	type result struct {
		d   *sipgo.DialogClientSession
		err error
	}
	done := make(chan result, 1)
	go func() {
		d, err := alice.call(ctx, "915551234567")
		done <- result{d, err}
	}()
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
