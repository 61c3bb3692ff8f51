package sip_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// TestLargeRequestGoesOverTCP: a phone registered over UDP through a long Path (RFC 3327) makes
// every INVITE to it longer than 1300 bytes; RFC 3261 §18.1.1 sends such a request over TCP,
// and the phone, listening on TCP at the same port, gets it there. Before, the INVITE was not
// sent at all.
func TestLargeRequestGoesOverTCP(t *testing.T) {
	sw := startSwitch(t)
	bob := newPhone(t, sw, "1002", "udp")
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", bob.port))
	if err != nil {
		t.Skipf("the phone's port is taken for TCP: %v", err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() { _ = bob.server.ServeTCP(ln) }()

	req := bob.registerRequest(300)
	req.AppendHeader(sip.NewHeader("Supported", "path"))
	req.AppendHeader(sip.NewHeader("Path", fmt.Sprintf("<sip:127.0.0.1:%d;lr>", bob.port)))
	for i := range 8 {
		req.AppendHeader(sip.NewHeader("Path", fmt.Sprintf("<sip:proxy%d.example.com;lr;x=%s>", i, strings.Repeat("p", 120))))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := bob.client.Do(ctx, req, sipgo.ClientRequestRegisterBuild)
	if err == nil && res.StatusCode == 401 {
		res, err = bob.client.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: bob.ext, Password: bob.pass})
	}
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("REGISTER with Path: %v %v", res, err)
	}

	alice := newPhone(t, sw, "1001", "udp").mustRegister()
	dialogs := make(chan *sipgo.DialogClientSession, 1)
	go func() {
		d, _ := alice.call(ctx, "1002")
		dialogs <- d
	}()
	ic := bob.nextIncoming(5 * time.Second)
	if ic == nil {
		t.Fatal("no INVITE reached the phone")
	}
	if n := len(ic.req.String()); n <= 1300 || !strings.EqualFold(ic.req.Transport(), "TCP") {
		t.Fatalf("an INVITE of %d bytes came over %s, want over TCP", n, ic.req.Transport())
	}
	bob.answer(ic)
	d := <-dialogs
	if d == nil {
		t.Fatal("the call was not answered")
	}
	if err := d.Bye(ctx); err != nil {
		t.Fatalf("hang up: %v", err)
	}
	sw.waitIdle(t)
}
