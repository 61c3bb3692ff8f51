package sip_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	sbsip "github.com/switchboard-voip/switchboard/sip"
)

// dialFrom opens a UDP socket on a loopback address of its own (127.0.0.2, …) to the switch,
// so the switch sees another source address than the test phones' 127.0.0.1.
func dialFrom(t *testing.T, sw *testSwitch, ip net.IP) *net.UDPConn {
	t.Helper()
	remote, err := net.ResolveUDPAddr("udp", sw.srv.Addr("udp"))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialUDP("udp", &net.UDPAddr{IP: ip}, remote)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// TestFloodFromOneAddressLeavesPhonesServed floods the switch from one address with INVITEs
// and garbage as fast as a socket sends them, while a phone on another address registers over
// and over: the phone is never refused or left waiting, the flooder gets no more answers than
// its burst and rate allow, and the switch's goroutines come back to what they were.
func TestFloodFromOneAddressLeavesPhonesServed(t *testing.T) {
	const rate, burst = 50, 100
	sw := startSwitch(t, func(o *switchOpts) { o.Flood = sbsip.FloodLimit{Rate: rate, Burst: burst} })
	p := newPhone(t, sw, "1001", "udp")
	p.mustRegister()
	before := runtime.NumGoroutine()

	flooder := dialFrom(t, sw, net.IPv4(127, 0, 0, 2))
	var answered, sent atomic.Int64
	go func() {
		buf := make([]byte, 4096)
		for {
			if _, err := flooder.Read(buf); err != nil {
				return
			}
			answered.Add(1)
		}
	}()
	ctx, stop := context.WithCancel(context.Background())
	flooding := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(flooding)
		for i := 0; ctx.Err() == nil; i++ {
			msg := "\x16\x03\x01garbage that is no SIP at all"
			if i%2 == 0 {
				msg = rawRequest("INVITE", "UDP", flooder.LocalAddr().String(), "", "")
			}
			if _, err := flooder.Write([]byte(msg)); err == nil {
				sent.Add(1)
			}
		}
	}()
	// Register for as long as the flood needs to show its rate, two seconds.
	var lat []time.Duration
	for len(lat) < 20 || time.Since(start) < 2*time.Second {
		t0 := time.Now()
		if res := p.register(p.pass, 60); res.StatusCode != 200 {
			t.Fatalf("REGISTER during the flood: %d %s", res.StatusCode, res.Reason)
		}
		lat = append(lat, time.Since(t0))
	}
	stop()
	<-flooding
	elapsed := time.Since(start)
	slices.Sort(lat)
	t.Logf("flood: %d datagrams in %s (%.0f/s) from one address; %d answered; phone's REGISTER (challenge + 200) median %s, max %s",
		sent.Load(), elapsed.Round(time.Millisecond), float64(sent.Load())/elapsed.Seconds(), answered.Load(),
		lat[len(lat)/2].Round(time.Microsecond), lat[len(lat)-1].Round(time.Microsecond))
	if sent.Load() < 10*burst {
		t.Fatalf("only %d datagrams sent: no flood to speak of", sent.Load())
	}
	// Answers trail the flood by a round trip at most: wait for them before counting.
	probe := dialFrom(t, sw, net.IPv4(127, 0, 0, 3))
	if !optionsAnswered(t, probe) {
		t.Fatal("the switch does not answer OPTIONS after the flood")
	}
	if allowed := int64(burst + rate*elapsed.Seconds() + rate); answered.Load() > allowed {
		t.Errorf("the flooder got %d answers, more than its burst and rate allow (%d)", answered.Load(), allowed)
	}
	eventually(t, "goroutines back to where they were before the flood", func() bool {
		return runtime.NumGoroutine() <= before+10
	})
}

// optionsAnswered sends an OPTIONS on conn and reports whether a 200 came back.
func optionsAnswered(t *testing.T, conn *net.UDPConn) bool {
	t.Helper()
	req := rawRequest("OPTIONS", "UDP", conn.LocalAddr().String(), "", "")
	id := headerValue(req, "Call-ID", "i")
	if _, err := conn.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	defer func() { _ = conn.SetReadDeadline(time.Time{}) }()
	for {
		n, err := conn.Read(buf)
		if err != nil {
			return false
		}
		if res := string(buf[:n]); strings.Contains(res, id) {
			return strings.HasPrefix(res, "SIP/2.0 200")
		}
	}
}

// TestDeniedSourceGetsNothing checks sip.deny and sip.permit: a denied address's datagrams go
// unanswered and its TCP connections are closed at once; a permitted address inside the
// denied network, and every other address, are served.
func TestDeniedSourceGetsNothing(t *testing.T) {
	sw := startSwitch(t, func(o *switchOpts) {
		o.Sources = sbsip.Sources{Deny: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/29")},
			Permit: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}
	})
	denied := dialFrom(t, sw, net.IPv4(127, 0, 0, 2))
	outside := dialFrom(t, sw, net.IPv4(127, 0, 0, 9))
	permitted := dialFrom(t, sw, net.IPv4(127, 0, 0, 1))
	if !optionsAnswered(t, outside) || !optionsAnswered(t, permitted) {
		t.Fatal("an address that is not denied was not answered")
	}
	// The denied OPTIONS goes first: had it been answered, the answer would be in by the
	// time the one after it, from another address, is.
	req := rawRequest("OPTIONS", "UDP", denied.LocalAddr().String(), "", "")
	if _, err := denied.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	if !optionsAnswered(t, outside) {
		t.Fatal("the switch stopped answering")
	}
	_ = denied.SetReadDeadline(time.Now())
	if n, err := denied.Read(make([]byte, 4096)); err == nil {
		t.Fatalf("a denied address was answered: %q", statusLine(string(make([]byte, n))))
	}

	wantTCPClosed(t, sw, net.IPv4(127, 0, 0, 2), "a denied address's TCP connection")
}

// wantTCPClosed connects to the switch's TCP listener from ip and wants the connection closed
// (end of file, or reset) without a byte.
func wantTCPClosed(t *testing.T, sw *testSwitch, ip net.IP, what string) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}}
	c, err := d.Dial("tcp", sw.srv.Addr("tcp"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err != io.EOF && !isReset(err) {
		t.Fatalf("%s: read %v, want it closed", what, err)
	}
}

func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset")
}

// TestConnectionCapsAndIdleTimeout checks sip.max_connections_per_source and sip.idle_timeout:
// past the cap a new connection from that address is closed at once; a connection that says
// nothing is closed after the idle timeout; a phone registered over TCP keeps its connection
// however quiet it is.
func TestConnectionCapsAndIdleTimeout(t *testing.T) {
	sw := startSwitch(t, func(o *switchOpts) {
		o.Connections = sbsip.ConnectionLimits{PerSource: 3, Idle: time.Second}
	})
	p := newPhone(t, sw, "1001", "tcp")
	p.mustRegister()
	src := netip.MustParseAddr("127.0.0.2")
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: src.AsSlice()}}
	var conns []net.Conn
	for range 3 {
		c, err := d.Dial("tcp", sw.srv.Addr("tcp"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	eventually(t, "three connections from 127.0.0.2 admitted", func() bool { return sw.srv.Connections(src) == 3 })
	extra, err := d.Dial("tcp", sw.srv.Addr("tcp"))
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	_ = extra.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := extra.Read(make([]byte, 1)); err != io.EOF && !isReset(err) {
		t.Fatalf("a fourth connection from one address: read %v, want it closed", err)
	}
	// The three silent ones are closed by the idle timeout; the phone's, registered, stays.
	for _, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err != io.EOF && !isReset(err) {
			t.Fatalf("an idle connection: read %v, want it closed after the idle timeout", err)
		}
	}
	eventually(t, "idle connections released", func() bool { return sw.srv.Connections(src) == 0 })
	if n := sw.srv.Connections(netip.MustParseAddr("127.0.0.1")); n != 1 {
		t.Fatalf("%d connections from the registered phone's address after the idle timeout, want its 1", n)
	}
	if res := p.register(p.pass, 60); res.StatusCode != 200 {
		t.Fatalf("the registered phone after the idle timeout: %d", res.StatusCode)
	}
}

// TestGarbageIsLoggedOncePerSource sends a thousand unparseable datagrams from one address:
// one log line, at the level chosen, with the start of the payload and never the whole of it.
func TestGarbageIsLoggedOncePerSource(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	sw := startSwitch(t, func(o *switchOpts) {
		o.Logger = zap.New(core)
		o.GarbageLevel = zap.WarnLevel
	})
	conn := dialFrom(t, sw, net.IPv4(127, 0, 0, 4))
	payload := "NOT SIP " + strings.Repeat("x", 2000)
	for i := range 1000 {
		if _, err := conn.Write([]byte(fmt.Sprintf("%s %d", payload, i))); err != nil {
			t.Fatal(err)
		}
	}
	if !optionsAnswered(t, conn) {
		t.Fatal("the switch stopped answering after the garbage")
	}
	lines := logs.FilterMessage("sip unparseable message").All()
	if len(lines) != 1 {
		t.Fatalf("%d log lines for 1000 garbage datagrams from one address, want 1", len(lines))
	}
	if lines[0].Level != zap.WarnLevel {
		t.Errorf("logged at %s, want the level chosen (warn)", lines[0].Level)
	}
	for _, f := range lines[0].Context {
		if f.Type == zapcore.StringType && len(f.String) > 100 {
			t.Errorf("field %s holds %d bytes of the payload", f.Key, len(f.String))
		}
	}
}
