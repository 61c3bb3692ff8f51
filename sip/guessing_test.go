package sip_test

import (
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws/wsutil"

	"github.com/switchboard-voip/switchboard/internal/clock"
)

// TestPasswordGuessingIsBlocked: ten wrong passwords from an address, and the eleventh attempt
// — the right password this time — is refused with 403 and no challenge; once the block has run
// its time the phone registers.
func TestPasswordGuessingIsBlocked(t *testing.T) {
	fake := clock.NewFake(time.Now())
	sw := startSwitch(t, func(o *switchOpts) { o.Clock = fake })
	p := newPhone(t, sw, "1001", "udp")
	for i := 0; i < 10; i++ {
		if res := p.register("guess", 300); res.StatusCode != 401 {
			t.Fatalf("guess %d: %d %s, want 401", i+1, res.StatusCode, res.Reason)
		}
	}
	if res := p.register(testUsers["1001"], 300); res.StatusCode != 403 || res.GetHeader("WWW-Authenticate") != nil {
		t.Fatalf("after ten guesses: %d %s, want 403 without a challenge", res.StatusCode, res.Reason)
	}
	fake.Advance(16 * time.Minute)
	if res := p.register(testUsers["1001"], 300); res.StatusCode != 200 {
		t.Fatalf("after the block: %d %s, want 200", res.StatusCode, res.Reason)
	}
}

// TestScannerIsNotAnswered: a request whose User-Agent is a known scanner's gets no answer at
// all; the next, ordinary request on the same socket does (responses come in order, so the
// first one was dropped, not late).
func TestScannerIsNotAnswered(t *testing.T) {
	tune, _ := withWebSockets(t)
	sw := startSwitch(t, tune)
	cl := dialWS(t, "ws://"+sw.srv.Addr("ws"), nil)
	if err := wsutil.WriteClientText(cl.conn, []byte(request("OPTIONS", "100", "User-Agent: friendly-scanner\r\n", 1))); err != nil {
		t.Fatal(err)
	}
	res := cl.do(request("OPTIONS", "1001", "", 2))
	if !strings.HasPrefix(res, "SIP/2.0 200 ") || !strings.Contains(headerOf(res, "CSeq"), "2 OPTIONS") {
		t.Fatalf("first answer on the socket: %s; want the ordinary OPTIONS' 200, nothing for the scanner", res)
	}
}
