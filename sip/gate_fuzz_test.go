package sip

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/emiago/sipgo/sip"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/switchboard-voip/switchboard/internal/clock"
)

// capturePacketConn records what the gate answers instead of sending it.
type capturePacketConn struct {
	net.PacketConn
	mu    sync.Mutex
	wrote [][]byte
}

func (c *capturePacketConn) WriteTo(p []byte, _ net.Addr) (int, error) {
	c.mu.Lock()
	c.wrote = append(c.wrote, append([]byte(nil), p...))
	c.mu.Unlock()
	return len(p), nil
}

func (c *capturePacketConn) LocalAddr() net.Addr {
	return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5060}
}

// AddTortureSeeds adds RFC 4475's messages to a fuzzer's seeds. It is exported for the sip_test
// package's fuzzer, which compiles with this file.
func AddTortureSeeds(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "rfc4475", "*.dat"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// gateSeeds are the RFC 4475 messages and a few a phone sends.
func gateSeeds(f *testing.F) {
	AddTortureSeeds(f)
	f.Add([]byte("REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1;rport\r\n" +
		"From: <sip:1001@127.0.0.1>;tag=a\r\nTo: <sip:1001@127.0.0.1>\r\nCall-ID: r1\r\nCSeq: 1 REGISTER\r\n" +
		"Contact: <sip:1001@127.0.0.1:5070>\r\nExpires: 3600\r\nContent-Length: 0\r\n\r\n"))
	f.Add([]byte("\r\n\r\n"))
	f.Add([]byte("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK2\r\nCSeq: 1 NOTIFY\r\n\r\n"))
}

// FuzzGate: whatever a datagram holds, the gate does not panic; the requests it lets through
// sipgo parses and they pass the checks it made (so handlers see only well-formed requests); what it
// answers is one SIP response with a 4xx or 5xx status, never larger than a datagram.
func FuzzGate(f *testing.F) {
	gateSeeds(f)
	g := newGate(newLiveSources(Sources{}), FloodLimit{}, zapcore.DebugLevel, zap.NewNop(), clock.Real())
	conn := &capturePacketConn{}
	g.listen(conn)
	props := sip.TransportReadProps{Transport: "UDP", LocalAddr: conn.LocalAddr(),
		RemoteAddr: &net.UDPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 5060}}
	f.Fuzz(func(t *testing.T, data []byte) {
		conn.mu.Lock()
		conn.wrote = conn.wrote[:0]
		conn.mu.Unlock()
		out, err := g.filter(props, append([]byte(nil), data...))
		if err != nil {
			t.Fatalf("the gate returned an error for UDP, which would stop the listener: %v", err)
		}
		if len(out) > 0 && len(bytes.Trim(out, "\r\n")) > 0 && !bytes.HasPrefix(out, []byte("SIP/")) {
			msg, err := sip.NewParser().ParseSIP(out)
			if err != nil {
				t.Fatalf("passed a message sipgo cannot parse (%v): %q", err, out)
			}
			if req, ok := msg.(*sip.Request); ok {
				if r := checkRequest(req, "UDP"); r != nil {
					t.Fatalf("passed a request it refuses (%d %s): %q", r.code, r.reason, out)
				}
			}
		}
		conn.mu.Lock()
		defer conn.mu.Unlock()
		if len(conn.wrote) > 1 {
			t.Fatalf("%d answers to one datagram", len(conn.wrote))
		}
		for _, a := range conn.wrote {
			if len(a) > maxDatagram || !bytes.HasPrefix(a, []byte("SIP/2.0 ")) || len(a) < 12 || (a[8] != '4' && a[8] != '5') {
				t.Fatalf("answer %.60q", a)
			}
		}
	})
}

// FuzzParseReplaces: a Replaces value (RFC 3891) from a phone never panics the parser, and a
// value it accepts names a dialog fully.
func FuzzParseReplaces(f *testing.F) {
	for _, s := range []string{"abc@host;to-tag=1;from-tag=2", "abc;from-tag=2;to-tag=1;early-only", ";;", "x;to-tag=", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		rp, ok := parseReplaces(v)
		if ok && (rp.callID == "" || rp.toTag == "" || rp.fromTag == "") {
			t.Fatalf("accepted %q as %+v", v, rp)
		}
	})
}

// FuzzParseReferTo: any Refer-To value gets a target or a 4xx, never a panic.
func FuzzParseReferTo(f *testing.F) {
	for _, s := range []string{"<sip:1003@127.0.0.1>", "sip:1003@pbx", "<sip:1003@pbx?Replaces=abc%3Bto-tag%3D1%3Bfrom-tag%3D2>",
		"<tel:+15551234>", "<http://example.com>", "<sip:@>", "<<sip:1>>", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		req := sip.NewRequest(sip.REFER, sip.Uri{Scheme: "sip", User: "1002", Host: "127.0.0.1"})
		req.AppendHeader(sip.NewHeader("Refer-To", v))
		_, code, reason := parseReferTo(req)
		if code != 0 && (code < 400 || code > 499 || reason == "") {
			t.Fatalf("Refer-To %q: %d %q", v, code, reason)
		}
	})
}
