package sip_test

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	sbsip "github.com/switchboard-voip/switchboard/sip"
)

// optionsRefused sends an OPTIONS from refused and reports whether it went unanswered: an
// OPTIONS from served, sent after it, is answered first, and by then an answer to the first
// would have come too (loopback keeps datagrams in order).
func optionsRefused(t *testing.T, refused, served *net.UDPConn) bool {
	t.Helper()
	req := rawRequest("OPTIONS", "UDP", refused.LocalAddr().String(), "", "")
	if _, err := refused.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	if !optionsAnswered(t, served) {
		t.Fatal("the switch stopped answering an address it serves")
	}
	_ = refused.SetReadDeadline(time.Now())
	defer func() { _ = refused.SetReadDeadline(time.Time{}) }()
	_, err := refused.Read(make([]byte, 4096))
	return err != nil
}

// TestSetSourcesAppliesToTheNextRequest is a reload of sip.deny and sip.permit: an address the
// new lists deny gets nothing from the next datagram on, and its new TCP connections are
// closed; an address they permit again is served again.
func TestSetSourcesAppliesToTheNextRequest(t *testing.T) {
	sw := startSwitch(t)
	a := dialFrom(t, sw, net.IPv4(127, 0, 0, 2))
	b := dialFrom(t, sw, net.IPv4(127, 0, 0, 3))
	if !optionsAnswered(t, a) || !optionsAnswered(t, b) {
		t.Fatal("not answered before any list was set")
	}

	sw.srv.SetSources(sbsip.Sources{Deny: []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}})
	if !optionsRefused(t, a, b) {
		t.Fatal("an address newly denied was answered")
	}
	wantTCPClosed(t, sw, net.IPv4(127, 0, 0, 2), "a newly denied address's TCP connection")

	// Deny the whole block but permit the first address: it is served again, the other not.
	sw.srv.SetSources(sbsip.Sources{Deny: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/29")},
		Permit: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("127.0.0.2/32")}})
	if !optionsAnswered(t, a) {
		t.Fatal("an address newly permitted was not answered")
	}
	if !optionsRefused(t, b, a) {
		t.Fatal("an address newly denied (the block) was answered")
	}

	sw.srv.SetSources(sbsip.Sources{})
	if !optionsAnswered(t, b) {
		t.Fatal("with the lists emptied an address is still refused")
	}
}

// TestSetOverloadAppliesToTheNextCall is a reload of sip.max_calls and sip.retry_after: with a
// call up, lowering max_calls to 1 refuses the next INVITE with 503 and the new Retry-After,
// the call up goes on, and raising the cap takes calls again.
func TestSetOverloadAppliesToTheNextCall(t *testing.T) {
	sw := startSwitch(t)
	bob := newPhone(t, sw, "1002", "udp").mustRegister()
	carol := newPhone(t, sw, "1003", "udp").mustRegister()
	alice := newPhone(t, sw, "1001", "udp").mustRegister()
	_, hangup, _ := bridged(t, alice, bob)

	sw.srv.SetOverload(sbsip.Overload{MaxCalls: 1, RetryAfter: 7 * time.Second})
	wantRefused(t, carol, "1001", "7", "a second call after max_calls was lowered to 1")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if sw.srv.ActiveCalls() != 1 {
		t.Fatalf("%d calls in progress, want the first one still up", sw.srv.ActiveCalls())
	}

	sw.srv.SetOverload(sbsip.Overload{MaxCalls: 2})
	if _, err := carol.call(ctx, "1999"); statusOf(err) != 404 {
		t.Fatalf("a second call after max_calls was raised to 2: %v, want 404 (taken; 1999 is nobody)", err)
	}
	if err := hangup(); err != nil {
		t.Fatal(err)
	}
	sw.waitIdle(t)
}

// TestSetFloodAppliesToTheNextRequest is a reload of sip.flood: with the limit lowered to a
// burst of 2, the third OPTIONS at once from one address is dropped; other addresses are
// served.
func TestSetFloodAppliesToTheNextRequest(t *testing.T) {
	sw := startSwitch(t)
	a := dialFrom(t, sw, net.IPv4(127, 0, 0, 5))
	b := dialFrom(t, sw, net.IPv4(127, 0, 0, 6))
	for range 5 {
		if !optionsAnswered(t, a) {
			t.Fatal("not answered with no flood limit")
		}
	}
	sw.srv.SetFlood(sbsip.FloodLimit{Rate: 0.001, Burst: 2})
	for range 2 {
		if !optionsAnswered(t, a) {
			t.Fatal("not answered within the new burst")
		}
	}
	if !optionsRefused(t, a, b) {
		t.Fatal("answered past the new burst")
	}
}
