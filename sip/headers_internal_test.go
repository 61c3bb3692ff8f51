package sip

import (
	"testing"

	"github.com/emiago/sipgo/sip"
)

// headerTestInvite carries headers sipgo parses into types and others it keeps as written, in
// mixed case, one of them twice.
const headerTestInvite = "INVITE sip:1002@127.0.0.1 SIP/2.0\r\n" +
	"Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK-1\r\n" +
	"From: <sip:1001@127.0.0.1>;tag=a\r\n" +
	"To: <sip:1002@127.0.0.1>\r\n" +
	"Call-ID: headers-test\r\n" +
	"CSeq: 2 INVITE\r\n" +
	"User-Agent: Phone 1.0\r\n" +
	"Allow: INVITE, ACK, BYE\r\n" +
	"SUPPORTED: replaces\r\n" +
	"supported: norefersub\r\n" +
	"Proxy-Authorization: Digest username=\"1001\"\r\n" +
	"Content-Length: 0\r\n\r\n"

func parseHeaderTestInvite(t *testing.T) *sip.Request {
	t.Helper()
	msg, err := sip.NewParser().ParseSIP([]byte(headerTestInvite))
	if err != nil {
		t.Fatal(err)
	}
	return msg.(*sip.Request)
}

// headerNamed and headersNamed find what sipgo's GetHeader and GetHeaders find, whatever the
// case of the name asked for and of the name in the message.
func TestHeaderNamedFindsWhatSipgoFinds(t *testing.T) {
	req := parseHeaderTestInvite(t)
	for _, name := range []string{"Via", "from", "CALL-ID", "User-Agent", "user-agent", "Supported",
		"proxy-authorization", "Replaces", "Contact"} {
		if got, want := headerNamed(req, name), req.GetHeader(name); got != want {
			t.Errorf("headerNamed(%q) = %v, sipgo's %v", name, got, want)
		}
		got, want := headersNamed(req, name), req.GetHeaders(name)
		if len(got) != len(want) {
			t.Errorf("headersNamed(%q) = %v, sipgo's %v", name, got, want)
			continue
		}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("headersNamed(%q)[%d] = %v, sipgo's %v", name, i, got[i], want[i])
			}
		}
	}
}

// Looking a header up allocates nothing (sipgo's lookup made a string for the name and for each
// header name it did not know by heart), nor does the check for doubled single-valued fields.
func TestHeaderLookupsAllocateNothing(t *testing.T) {
	req := parseHeaderTestInvite(t)
	head := []byte(headerTestInvite[len("INVITE sip:1002@127.0.0.1 SIP/2.0\r\n") : len(headerTestInvite)-4])
	if n := testing.AllocsPerRun(100, func() {
		_ = headerNamed(req, "Proxy-Authorization")
		_ = headerNamed(req, "Replaces")
		_ = headersNamed(req, "Require")
	}); n != 0 {
		t.Errorf("header lookups: %v allocations, want 0", n)
	}
	if n := testing.AllocsPerRun(100, func() {
		if r := checkHeaderBlock(head); r != nil {
			t.Fatalf("refused: %d %s", r.code, r.reason)
		}
	}); n != 0 {
		t.Errorf("checkHeaderBlock: %v allocations, want 0", n)
	}
}
