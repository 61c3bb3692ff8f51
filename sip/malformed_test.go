package sip_test

import (
	"bufio"
	"fmt"
	"math/rand"
	"net"
	"strings"
	"testing"
	"time"
)

// rawRequest builds a request as text so tests can break it in ways no SIP library would.
func rawRequest(method, transport, local string, drop string, extra string) string {
	headers := []string{
		fmt.Sprintf("Via: SIP/2.0/%s %s;branch=z9hG4bK-%d;rport", transport, local, rand.Int63()),
		"From: <sip:1001@127.0.0.1>;tag=abc",
		"To: <sip:1002@127.0.0.1>",
		fmt.Sprintf("Call-ID: malformed-%d", rand.Int63()),
		"CSeq: 1 " + method,
		"Max-Forwards: 70",
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s sip:1002@127.0.0.1 SIP/2.0\r\n", method)
	for _, h := range headers {
		if drop != "" && strings.HasPrefix(h, drop+":") {
			continue
		}
		b.WriteString(h + "\r\n")
	}
	b.WriteString(extra)
	b.WriteString("Content-Length: 0\r\n\r\n")
	return b.String()
}

func statusLine(msg string) string {
	line, _, _ := strings.Cut(msg, "\r\n")
	return line
}

func TestMalformedRequestsGet4xxOverUDP(t *testing.T) {
	sw := startSwitch(t)
	conn, err := net.Dial("udp", sw.srv.Addr("udp"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	local := conn.LocalAddr().String()
	cases := map[string]struct {
		msg  string
		want string
	}{
		"INVITE without CSeq":    {rawRequest("INVITE", "UDP", local, "CSeq", ""), "SIP/2.0 400"},
		"INVITE without Call-ID": {rawRequest("INVITE", "UDP", local, "Call-ID", ""), "SIP/2.0 400"},
		"INVITE without From":    {rawRequest("INVITE", "UDP", local, "From", ""), "SIP/2.0 400"},
		"REGISTER without To":    {rawRequest("REGISTER", "UDP", local, "To", ""), "SIP/2.0 400"},
		"REGISTER bad Expires":   {rawRequest("REGISTER", "UDP", local, "", "Expires: soon\r\n"), "SIP/2.0 401"},
		"unknown method":         {rawRequest("FROBNICATE", "UDP", local, "", ""), "SIP/2.0 405"},
		"BYE outside a dialog":   {rawRequest("BYE", "UDP", local, "", ""), "SIP/2.0 481"},
		"CANCEL of nothing":      {rawRequest("CANCEL", "UDP", local, "", ""), "SIP/2.0 481"},
	}
	buf := make([]byte, 4096)
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := conn.Write([]byte(tc.msg)); err != nil {
				t.Fatal(err)
			}
			_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
			for {
				n, err := conn.Read(buf)
				if err != nil {
					t.Fatalf("no response: %v", err)
				}
				line := statusLine(string(buf[:n]))
				if strings.HasPrefix(line, "SIP/2.0 100") {
					continue
				}
				if !strings.HasPrefix(line, tc.want) {
					t.Fatalf("got %q, want %s", line, tc.want)
				}
				return
			}
		})
	}
}

// TestGarbageNeverStopsTheSwitch throws random bytes and truncated SIP at both transports and
// then places a normal call: the switch must still serve it.
func TestGarbageNeverStopsTheSwitch(t *testing.T) {
	sw := startSwitch(t)
	rng := rand.New(rand.NewSource(1))
	valid := rawRequest("INVITE", "UDP", "127.0.0.1:9", "", "Content-Type: application/sdp\r\n")
	var junk [][]byte
	for i := 0; i < 200; i++ {
		b := make([]byte, 1+rng.Intn(1400))
		rng.Read(b)
		junk = append(junk, b)
	}
	for i := 1; i < len(valid); i += 7 {
		junk = append(junk, []byte(valid[:i]))
	}
	junk = append(junk,
		[]byte("INVITE sip:1002@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP\r\nCSeq: x\r\n\r\n"),
		[]byte("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 1.2.3.4;branch=z9hG4bKnothing\r\nCSeq: 1 INVITE\r\n\r\n"),
		[]byte("INVITE sip:1002@127.0.0.1 SIP/2.0\r\nContent-Length: 99999999\r\n\r\n"),
		[]byte(strings.Repeat("A", 65000)),
		[]byte("\r\n\r\n"),
	)

	udp, err := net.Dial("udp", sw.srv.Addr("udp"))
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	for _, b := range junk {
		_, _ = udp.Write(b)
	}
	for _, b := range junk[:60] {
		tcp, err := net.Dial("tcp", sw.srv.Addr("tcp"))
		if err != nil {
			t.Fatalf("tcp listener gone: %v", err)
		}
		_, _ = tcp.Write(b)
		_ = tcp.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		_, _ = bufio.NewReader(tcp).ReadString('\n')
		_ = tcp.Close()
	}

	for _, transport := range []string{"udp", "tcp"} {
		bob := newPhone(t, sw, "1002", transport).mustRegister()
		alice := newPhone(t, sw, "1001", transport).mustRegister()
		_, hangup, _ := bridged(t, alice, bob)
		if err := hangup(); err != nil {
			t.Fatalf("%s call after garbage: %v", transport, err)
		}
		<-bob.byes
	}
	sw.waitIdle(t)
}

// TestRequestChecksOverTCP: the checks the gate makes on UDP before sipgo reads a datagram
// apply to whole messages read from a stream too (in the handlers' guard).
func TestRequestChecksOverTCP(t *testing.T) {
	sw := startSwitch(t)
	conn, err := net.Dial("tcp", sw.srv.Addr("tcp"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	local := conn.LocalAddr().String()
	r := bufio.NewReader(conn)
	cases := map[string]struct{ msg, want, header string }{
		"unknown Require": {rawRequest("OPTIONS", "TCP", local, "", "Require: nothingSupportsThis, replaces\r\n"),
			"SIP/2.0 420", "Unsupported: nothingSupportsThis"},
		"CSeq of another method": {strings.Replace(rawRequest("OPTIONS", "TCP", local, "", ""), "CSeq: 1 OPTIONS", "CSeq: 1 INVITE", 1),
			"SIP/2.0 400", ""},
		"INVITE with a body that is not SDP": {strings.Replace(rawRequest("INVITE", "TCP", local, "", "Content-Type: text/plain\r\n"),
			"Content-Length: 0\r\n\r\n", "Content-Length: 5\r\n\r\nhello", 1), "SIP/2.0 415", "Accept: application/sdp"},
		"a body over 32 KiB": {strings.Replace(rawRequest("PUBLISH", "TCP", local, "", "Event: presence\r\nContent-Type: application/pidf+xml\r\n"),
			"Content-Length: 0\r\n\r\n", "Content-Length: 40000\r\n\r\n"+strings.Repeat("x", 40000), 1), "SIP/2.0 413", ""},
		"a SIPS request over TCP": {strings.Replace(rawRequest("OPTIONS", "TCP", local, "", ""), "OPTIONS sip:", "OPTIONS sips:", 1),
			"SIP/2.0 416", ""},
		"INVITE accepting no SDP": {rawRequest("INVITE", "TCP", local, "", "Accept: text/nobodyKnowsThis\r\n"),
			"SIP/2.0 406", ""},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := conn.Write([]byte(tc.msg)); err != nil {
				t.Fatal(err)
			}
			_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			var res strings.Builder
			for {
				line, err := r.ReadString('\n')
				if err != nil {
					t.Fatalf("no answer: %v", err)
				}
				if line == "\r\n" {
					break
				}
				res.WriteString(line)
			}
			if !strings.HasPrefix(res.String(), tc.want) || !strings.Contains(res.String(), tc.header) {
				t.Fatalf("got\n%s\nwant %s with %q", res.String(), tc.want, tc.header)
			}
		})
	}
}
