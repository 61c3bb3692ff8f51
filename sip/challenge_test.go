package sip_test

import (
	"net"
	"strings"
	"testing"
	"time"
)

// TestChallengeIsStateless checks that a challenge keeps no transaction: the same INVITE sent
// again (what a phone does when the 407 is lost, and what a spoofed flood does) is challenged
// anew, with a new nonce and To tag, instead of getting the stored 407 retransmitted; which
// also means the switch never retransmits a 407 to an address that did not ask twice.
func TestChallengeIsStateless(t *testing.T) {
	sw := startSwitch(t)
	conn, err := net.Dial("udp", sw.srv.Addr("udp"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	invite := rawRequest("INVITE", "UDP", conn.LocalAddr().String(), "", "")
	read := func() string {
		t.Helper()
		buf := make([]byte, 4096)
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		for {
			n, err := conn.Read(buf)
			if err != nil {
				t.Fatalf("no challenge: %v", err)
			}
			if msg := string(buf[:n]); !strings.HasPrefix(msg, "SIP/2.0 100") {
				return msg
			}
		}
	}
	var challenges []string
	for range 2 {
		if _, err := conn.Write([]byte(invite)); err != nil {
			t.Fatal(err)
		}
		res := read()
		if !strings.HasPrefix(res, "SIP/2.0 407") {
			t.Fatalf("got %q, want 407", statusLine(res))
		}
		challenges = append(challenges, headerValue(res, "Proxy-Authenticate", "")+headerValue(res, "To", "t"))
	}
	if challenges[0] == challenges[1] {
		t.Fatalf("the second INVITE got the first 407 again: a transaction was kept\n%s", challenges[0])
	}
}
