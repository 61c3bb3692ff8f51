package sip_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/switchboard-voip/switchboard/internal/clock"
	"github.com/switchboard-voip/switchboard/internal/testcert"
	"github.com/switchboard-voip/switchboard/presence"
	sbsip "github.com/switchboard-voip/switchboard/sip"
	"github.com/switchboard-voip/switchboard/sip/token"
)

// SIP over WebSocket (RFC 7118) as a browser speaks it: one SIP message per text frame on a
// connection that asked for the "sip" subprotocol. These tests speak raw frames, so they see
// exactly what the switch refuses and answers.

// withWebSockets adds a ws listener and a wss one (with a fresh certificate) to a test switch.
func withWebSockets(t *testing.T) (func(*switchOpts), *tls.Config) {
	cert, key, pool := testcert.Write(t, t.TempDir(), "sip")
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	return func(o *switchOpts) {
		o.Listen = append(o.Listen,
			sbsip.Listen{Transport: "ws", Addr: "127.0.0.1:0"},
			sbsip.Listen{Transport: "wss", Addr: "127.0.0.1:0",
				TLS: &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}})
	}, &tls.Config{RootCAs: pool, ServerName: "localhost"}
}

// wsClient is a browser's SIP socket.
type wsClient struct {
	t    *testing.T
	conn net.Conn
}

func dialWS(t *testing.T, url string, tlsConf *tls.Config) *wsClient {
	t.Helper()
	d := ws.Dialer{Protocols: []string{"sip"}, Timeout: 5 * time.Second, TLSConfig: tlsConf}
	conn, _, hs, err := d.Dial(context.Background(), url)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	if hs.Protocol != "sip" {
		t.Fatalf("the switch chose subprotocol %q, want sip", hs.Protocol)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return &wsClient{t: t, conn: conn}
}

// do sends one request and returns the first response's text.
func (c *wsClient) do(req string) string {
	c.t.Helper()
	if err := wsutil.WriteClientText(c.conn, []byte(req)); err != nil {
		c.t.Fatal(err)
	}
	_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		msg, err := wsutil.ReadServerText(c.conn)
		if err != nil {
			c.t.Fatalf("no answer to %q…: %v", strings.SplitN(req, "\r\n", 2)[0], err)
		}
		if !strings.HasPrefix(string(msg), "SIP/2.0 100 ") {
			return string(msg)
		}
	}
}

// request is a REGISTER or OPTIONS as JsSIP writes it (a made-up .invalid host).
func request(method, user, extra string, cseq int) string {
	return fmt.Sprintf("%s sip:127.0.0.1 SIP/2.0\r\n"+
		"Via: SIP/2.0/WS df7jal23ls0d.invalid;branch=z9hG4bK%d%s\r\n"+
		"Max-Forwards: 69\r\nTo: <sip:%s@127.0.0.1>\r\nFrom: <sip:%s@127.0.0.1>;tag=t1\r\n"+
		"Call-ID: ws-%s-%s\r\nCSeq: %d %s\r\n"+
		"Contact: <sip:r4nd0m@df7jal23ls0d.invalid;transport=ws>;expires=600\r\n%sContent-Length: 0\r\n\r\n",
		method, cseq, method, user, user, method, user, cseq, method, extra)
}

func TestWebSocketServesSIP(t *testing.T) {
	tune, clientTLS := withWebSockets(t)
	sw := startSwitch(t, tune)
	for _, c := range []struct {
		scheme string
		conf   *tls.Config
	}{{"ws", nil}, {"wss", clientTLS}} {
		t.Run(c.scheme, func(t *testing.T) {
			cl := dialWS(t, c.scheme+"://"+sw.srv.Addr(c.scheme), c.conf)
			if res := cl.do(request("OPTIONS", "1001", "", 1)); !strings.HasPrefix(res, "SIP/2.0 200 ") {
				t.Fatalf("OPTIONS over %s: %s", c.scheme, res)
			}
			// REGISTER with digest: a phone like any other, reached through its socket.
			res := cl.do(request("REGISTER", "1001", "", 2))
			if !strings.HasPrefix(res, "SIP/2.0 401 ") {
				t.Fatalf("REGISTER without credentials: %s", res)
			}
			chal := headerOf(res, "WWW-Authenticate")
			auth := digestFor(t, chal, "REGISTER", "sip:127.0.0.1", "1001", testUsers["1001"])
			res = cl.do(request("REGISTER", "1001", "Authorization: "+auth+"\r\n", 3))
			if !strings.HasPrefix(res, "SIP/2.0 200 ") {
				t.Fatalf("REGISTER with credentials: %s", res)
			}
			eventually(t, "1001 registered", func() bool {
				bs := sw.locs.Lookup("1001")
				return len(bs) == 1 && bs[0].Transport == strings.ToUpper(c.scheme)
			})
			// The socket closes (a tab closed): nothing can reach the phone, it is unregistered.
			_ = cl.conn.Close()
			eventually(t, "1001 unregistered with its socket", func() bool { return !sw.locs.Registered("1001") })
		})
	}
}

// headerOf is one header's value in a SIP message's text.
func headerOf(msg, name string) string {
	for _, line := range strings.Split(msg, "\r\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(strings.TrimSpace(k), name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// TestWebSocketRefusesBadHandshakes: no "sip" subprotocol, a plain GET and garbage get 400; a
// client that never finishes its handshake holds nobody up; a good client is served after
// each of them.
func TestWebSocketRefusesBadHandshakes(t *testing.T) {
	tune, _ := withWebSockets(t)
	sw := startSwitch(t, tune)
	addr := sw.srv.Addr("ws")

	silent, err := net.Dial("tcp", addr) // says nothing at all, and stays
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()

	for name, raw := range map[string]string{
		"no subprotocol": "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
			"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
		"another subprotocol": "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
			"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: chat\r\n\r\n",
		"plain GET": "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"garbage":   "\x16\x03\x01 not http at all\r\n\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.WriteString(c, raw); err != nil {
				t.Fatal(err)
			}
			res, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatalf("no HTTP answer: %v", err)
			}
			_ = res.Body.Close()
			if res.StatusCode != http.StatusBadRequest {
				t.Fatalf("answered %s, want 400", res.Status)
			}
			// Still serving, the silent connection notwithstanding.
			cl := dialWS(t, "ws://"+addr, nil)
			if res := cl.do(request("OPTIONS", "1001", "", 1)); !strings.HasPrefix(res, "SIP/2.0 200 ") {
				t.Fatalf("OPTIONS after a refused handshake: %s", res)
			}
		})
	}
}

// TestWebPhoneCredential: the web phone registers with a short-lived credential from its
// session (sip/token) instead of the password: for its own extension only, and not once expired.
func TestWebPhoneCredential(t *testing.T) {
	tune, _ := withWebSockets(t)
	fake := clock.NewFake(time.Now())
	keys, err := token.New(fake)
	if err != nil {
		t.Fatal(err)
	}
	sw := startSwitch(t, tune, func(o *switchOpts) { o.Tokens = keys })
	cl := dialWS(t, "ws://"+sw.srv.Addr("ws"), nil)
	register := func(aor string, cred token.Credential, cseq int) string {
		res := cl.do(request("REGISTER", aor, "", cseq))
		auth := digestFor(t, headerOf(res, "WWW-Authenticate"), "REGISTER", "sip:127.0.0.1", cred.User, cred.Password)
		return cl.do(request("REGISTER", aor, "Authorization: "+auth+"\r\n", cseq+1))
	}
	alice := keys.Issue("1001", time.Hour)
	if res := register("1001", alice, 1); !strings.HasPrefix(res, "SIP/2.0 200 ") {
		t.Fatalf("REGISTER 1001 with its credential: %s", res)
	}
	if res := register("1002", alice, 3); !strings.HasPrefix(res, "SIP/2.0 403 ") {
		t.Fatalf("REGISTER 1002 with 1001's credential: %s", res)
	}
	forged := alice
	forged.User = "1002" + alice.User[4:]
	if res := register("1002", forged, 5); !strings.HasPrefix(res, "SIP/2.0 401 ") {
		t.Fatalf("REGISTER 1002 with a forged credential: %s", res)
	}
	fake.Advance(time.Hour)
	if res := register("1001", alice, 7); !strings.HasPrefix(res, "SIP/2.0 401 ") {
		t.Fatalf("REGISTER with an expired credential: %s", res)
	}
	if res := register("1001", token.Credential{User: "1001", Password: testUsers["1001"]}, 9); !strings.HasPrefix(res, "SIP/2.0 200 ") {
		t.Fatalf("REGISTER with the password, as phones do: %s", res)
	}
}

// TestWebSocketSubscriberGetsNotifies: a browser's presence subscription over its WebSocket
// (after the 407 challenge) gets its NOTIFYs back over the same socket: the first at once, the
// next when the watched user's status changes.
func TestWebSocketSubscriberGetsNotifies(t *testing.T) {
	tune, _ := withWebSockets(t)
	table, err := presence.NewTable([]presence.User{{Ext: "1001", Name: "Alice"}, {Ext: "1002", Name: "Bob"}},
		&presence.MemoryStore{})
	if err != nil {
		t.Fatal(err)
	}
	sw := startSwitch(t, tune, func(o *switchOpts) { o.Presence = table })
	cl := dialWS(t, "ws://"+sw.srv.Addr("ws"), nil)
	subscribe := func(extra string, cseq int) string {
		return cl.do(fmt.Sprintf("SUBSCRIBE sip:1002@127.0.0.1 SIP/2.0\r\n"+
			"Via: SIP/2.0/WS df7jal23ls0d.invalid;branch=z9hG4bKsub%d\r\n"+
			"Max-Forwards: 69\r\nTo: <sip:1002@127.0.0.1>\r\nFrom: <sip:1001@127.0.0.1>;tag=w1\r\n"+
			"Call-ID: ws-sub-1\r\nCSeq: %d SUBSCRIBE\r\nEvent: presence\r\nAccept: application/pidf+xml\r\n"+
			"Expires: 600\r\nContact: <sip:r4nd0m@df7jal23ls0d.invalid;transport=ws>\r\n%sContent-Length: 0\r\n\r\n",
			cseq, cseq, extra))
	}
	res := subscribe("", 1)
	if !strings.HasPrefix(res, "SIP/2.0 407 ") {
		t.Fatalf("SUBSCRIBE without credentials: %s", res)
	}
	auth := digestFor(t, headerOf(res, "Proxy-Authenticate"), "SUBSCRIBE", "sip:1002@127.0.0.1", "1001", testUsers["1001"])
	if res := subscribe("Proxy-Authorization: "+auth+"\r\n", 2); !strings.HasPrefix(res, "SIP/2.0 200 ") &&
		!strings.HasPrefix(res, "SIP/2.0 202 ") {
		t.Fatalf("SUBSCRIBE with credentials: %s", res)
	}
	notify := func(want string) {
		t.Helper()
		_ = cl.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		for {
			msg, err := wsutil.ReadServerText(cl.conn)
			if err != nil {
				t.Fatalf("no NOTIFY with %q over the WebSocket: %v", want, err)
			}
			text := string(msg)
			if !strings.HasPrefix(text, "NOTIFY ") {
				continue
			}
			ok := fmt.Sprintf("SIP/2.0 200 OK\r\nVia: %s\r\nFrom: %s\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: %s\r\nContent-Length: 0\r\n\r\n",
				headerOf(text, "Via"), headerOf(text, "From"), headerOf(text, "To"), headerOf(text, "Call-ID"), headerOf(text, "CSeq"))
			if err := wsutil.WriteClientText(cl.conn, []byte(ok)); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(text, want) {
				return
			}
		}
	}
	notify("<basic>open</basic>")
	if _, err := table.SetDND("1002", true); err != nil {
		t.Fatal(err)
	}
	notify("Do Not Disturb")
}

// readSIP reads one SIP message from a stream (headers, then Content-Length bytes of body).
func readSIP(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	var b strings.Builder
	length := 0
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("reading a SIP message: %v (so far %q)", err, b.String())
		}
		b.WriteString(line)
		if line == "\r\n" {
			break
		}
		if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(strings.TrimSpace(k), "Content-Length") {
			_, _ = fmt.Sscan(strings.TrimSpace(v), &length)
		}
	}
	body := make([]byte, length)
	if _, err := io.ReadFull(r, body); err != nil {
		t.Fatal(err)
	}
	return b.String() + string(body)
}

// TestTLSPhoneIsCalledOverItsConnection: a phone registers over SIP TLS; a call to it arrives
// over that same connection; when the connection closes the phone is unregistered.
func TestTLSPhoneIsCalledOverItsConnection(t *testing.T) {
	cert, key, pool := testcert.Write(t, t.TempDir(), "sip")
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	sw := startSwitch(t, func(o *switchOpts) {
		o.Listen = append(o.Listen, sbsip.Listen{Transport: "tls", Addr: "127.0.0.1:0",
			TLS: &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}})
	})
	conn, err := tls.Dial("tcp", sw.srv.Addr("tls"), &tls.Config{RootCAs: pool, ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(conn)
	reg := func(extra string, cseq int) string {
		msg := strings.NewReplacer("SIP/2.0/WS df7jal23ls0d.invalid", "SIP/2.0/TLS 127.0.0.1:5999",
			"r4nd0m@df7jal23ls0d.invalid;transport=ws", "1001@127.0.0.1:5999;transport=tls").
			Replace(request("REGISTER", "1001", extra, cseq))
		if _, err := io.WriteString(conn, msg); err != nil {
			t.Fatal(err)
		}
		for {
			if res := readSIP(t, r); !strings.HasPrefix(res, "SIP/2.0 100 ") {
				return res
			}
		}
	}
	res := reg("", 1)
	auth := digestFor(t, headerOf(res, "WWW-Authenticate"), "REGISTER", "sip:127.0.0.1", "1001", testUsers["1001"])
	if res := reg("Authorization: "+auth+"\r\n", 2); !strings.HasPrefix(res, "SIP/2.0 200 ") {
		t.Fatalf("REGISTER over TLS: %s", res)
	}
	if bs := sw.locs.Lookup("1001"); len(bs) != 1 || bs[0].Transport != "TLS" || bs[0].Dest != conn.LocalAddr().String() {
		t.Fatalf("binding %+v: want it over this TLS connection (%s)", bs, conn.LocalAddr())
	}
	// A SIPS request is at home over TLS (it gets 416 over plain transports).
	opts := strings.NewReplacer("SIP/2.0/WS df7jal23ls0d.invalid", "SIP/2.0/TLS 127.0.0.1:5999",
		"r4nd0m@df7jal23ls0d.invalid;transport=ws", "1001@127.0.0.1:5999;transport=tls", "OPTIONS sip:", "OPTIONS sips:").
		Replace(request("OPTIONS", "1001", "", 3))
	if _, err := io.WriteString(conn, opts); err != nil {
		t.Fatal(err)
	}
	if res := readSIP(t, r); !strings.HasPrefix(res, "SIP/2.0 200 ") {
		t.Fatalf("OPTIONS sips: over TLS: %s", res)
	}

	bob := newPhone(t, sw, "1002", "udp").mustRegister()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go func() { _, _ = bob.call(ctx, "1001") }()
	inv := readSIP(t, r)
	if !strings.HasPrefix(inv, "INVITE ") || !strings.Contains(headerOf(inv, "Via"), "SIP/2.0/TLS") {
		t.Fatalf("over the phone's TLS connection: %s", inv)
	}
	_ = conn.Close()
	eventually(t, "1001 unregistered with its connection", func() bool { return !sw.locs.Registered("1001") })
}

// TestUnknownMethodIs405WithAllow: a method the switch does not implement gets 405 and the list
// of those it does (RFC 3261 §21.4.6).
func TestUnknownMethodIs405WithAllow(t *testing.T) {
	tune, _ := withWebSockets(t)
	sw := startSwitch(t, tune)
	cl := dialWS(t, "ws://"+sw.srv.Addr("ws"), nil)
	res := cl.do(request("MESSAGE", "1001", "", 1))
	if !strings.HasPrefix(res, "SIP/2.0 405 ") || !strings.Contains(headerOf(res, "Allow"), "INVITE") {
		t.Fatalf("MESSAGE: %s", res)
	}
}
