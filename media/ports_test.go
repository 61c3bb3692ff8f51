package media

import (
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"
)

func TestPortsHandsOutEvenRTPAndRTCPOneAbove(t *testing.T) {
	p := newPool(t, 4)
	for range 4 {
		e := open(t, p)
		if e.Port()%2 != 0 {
			t.Errorf("RTP port %d is odd", e.Port())
		}
		if got := addrOf(e.rtp.mustConn()); got != rtpAddr(e) {
			t.Errorf("RTP socket on %v, want %v", got, rtpAddr(e))
		}
		if got := addrOf(e.rtcp.mustConn()); got != rtcpAddr(e) {
			t.Errorf("RTCP socket on %v, want %v", got, rtcpAddr(e))
		}
		if e.Addr() != loopback {
			t.Errorf("Addr() = %v, want %v", e.Addr(), loopback)
		}
	}
	if n := p.InUse(); n != 4 {
		t.Errorf("InUse() = %d, want 4", n)
	}
}

func TestPortsRoundRobinDoesNotReuseJustFreedPair(t *testing.T) {
	p := newPool(t, 3)
	var got []int
	for range 4 {
		e := open(t, p)
		got = append(got, e.Port())
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
	}
	first := got[0]
	want := []int{first, first + 2, first + 4, first}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("ports handed out %v, want %v", got, want)
		}
	}
	if n := p.InUse(); n != 0 {
		t.Errorf("InUse() = %d after closing everything, want 0", n)
	}
}

func TestPortsExhausted(t *testing.T) {
	p := newPool(t, 2)
	a := open(t, p)
	open(t, p)
	if _, err := p.Open(); !errors.Is(err, ErrPortsExhausted) {
		t.Fatalf("Open on a full pool: err = %v, want ErrPortsExhausted", err)
	}
	a.Close()
	c, err := p.Open()
	if err != nil {
		t.Fatalf("Open after a Close: %v", err)
	}
	if c.Port() != a.Port() {
		t.Errorf("got port %d, want the freed %d", c.Port(), a.Port())
	}
	c.Close()
	if n := p.InUse(); n != 1 {
		t.Errorf("InUse() = %d, want 1", n)
	}
}

func TestPortsSkipPairHeldByAnotherProcess(t *testing.T) {
	for name, offset := range map[string]int{"RTP port held": 2, "RTCP port held": 3} {
		t.Run(name, func(t *testing.T) {
			minPort, maxPort := freeRange(t, 3)
			p, err := NewPorts(loopback, minPort, maxPort)
			if err != nil {
				t.Fatal(err)
			}
			held, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, uint16(minPort+offset))))
			if err != nil {
				t.Fatal(err)
			}
			defer held.Close()

			a, err := p.Open()
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			b, err := p.Open()
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			if a.Port() != minPort || b.Port() != minPort+4 {
				t.Errorf("got ports %d and %d, want %d and %d", a.Port(), b.Port(), minPort, minPort+4)
			}
			if _, err := p.Open(); !errors.Is(err, ErrPortsExhausted) {
				t.Errorf("Open with the last pair held: err = %v, want ErrPortsExhausted", err)
			}
			if n := p.InUse(); n != 2 {
				t.Errorf("InUse() = %d, want 2 (the held pair is not out)", n)
			}
			a.Close()
			b.Close()
			if n := p.InUse(); n != 0 {
				t.Errorf("InUse() = %d after closing, want 0", n)
			}
		})
	}
}

func TestEndpointCloseIsIdempotent(t *testing.T) {
	p := newPool(t, 2)
	e := open(t, p)
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if n := p.InUse(); n != 0 {
		t.Errorf("InUse() = %d, want 0", n)
	}
}

func TestNewPortsRejectsBadRange(t *testing.T) {
	tests := map[string]struct {
		addr             netip.Addr
		minPort, maxPort int
	}{
		"zero address":  {netip.Addr{}, 10000, 10001},
		"min above max": {loopback, 10002, 10000},
		"no whole pair": {loopback, 10001, 10002},
		"port 0":        {loopback, 0, 10},
		"above 65535":   {loopback, 65534, 65536},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := NewPorts(tc.addr, tc.minPort, tc.maxPort); err == nil {
				t.Error("NewPorts succeeded, want an error")
			}
		})
	}
}

func TestNewPortsRoundsOddMinUp(t *testing.T) {
	p, err := NewPorts(loopback, 10001, 10005)
	if err != nil {
		t.Fatal(err)
	}
	if p.first != 10002 || len(p.used) != 2 {
		t.Errorf("first = %d, pairs = %d; want 10002 and 2", p.first, len(p.used))
	}
}

// TestEndpointOnCloseRunsOnceWithClose: what serves an endpoint's peer ends with it, once,
// and at once when it is registered on an endpoint already closed.
func TestEndpointOnCloseRunsOnceWithClose(t *testing.T) {
	p := newPool(t, 2)
	e := open(t, p)
	var ran int
	e.OnClose(func() { ran++ })
	if ran != 0 {
		t.Fatal("OnClose ran before Close")
	}
	_ = e.Close()
	_ = e.Close()
	if ran != 1 {
		t.Fatalf("ran %d times after two Closes, want 1", ran)
	}
	e.OnClose(func() { ran++ })
	if ran != 2 {
		t.Fatal("OnClose on a closed endpoint did not run at once")
	}
}

// A burst of a call's audio that arrives while nothing reads the endpoint (its reader is behind)
// waits in the RTP socket: 3 s of 20 ms packets, more than the kernel's default buffer holds
// (about 80 on loopback), all come out in order.
func TestEndpointHoldsABurstOfAudio(t *testing.T) {
	ep, err := newPool(t, 1).Open()
	if err != nil {
		t.Fatal(err)
	}
	defer ep.Close()
	phone, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer phone.Close()
	const burst = 400
	to := net.UDPAddrFromAddrPort(netip.AddrPortFrom(ep.Addr(), uint16(ep.Port())))
	pkt := make([]byte, 172) // a G.711 packet: 12 bytes of header, 160 of audio
	for i := range burst {
		pkt[2], pkt[3] = byte(i>>8), byte(i)
		if _, err := phone.WriteToUDP(pkt, to); err != nil {
			t.Fatal(err)
		}
	}
	rtp, _, err := ep.Sockets()
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	for i := range burst {
		if err := rtp.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
			t.Fatal(err)
		}
		n, _, err := rtp.ReadFromUDP(buf)
		if err != nil {
			t.Fatalf("packet %d of %d: %v (the socket dropped the rest of the burst)", i, burst, err)
		}
		if got := int(buf[2])<<8 | int(buf[3]); n != len(pkt) || got != i {
			t.Fatalf("packet %d: got sequence %d, %d bytes", i, got, n)
		}
	}
}

// The *net.UDPConn made over an endpoint's socket for a goroutine reader closes with the
// endpoint: a read blocked on it ends with net.ErrClosed.
func TestEndpointCloseClosesItsConns(t *testing.T) {
	ep, err := newPool(t, 1).Open()
	if err != nil {
		t.Fatal(err)
	}
	rtp, rtcp, err := ep.Sockets()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 2)
	for _, c := range []*net.UDPConn{rtp, rtcp} {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		go func() {
			_, _, err := c.ReadFromUDP(make([]byte, 1500))
			done <- err
		}()
	}
	ep.Close()
	for range 2 {
		if err := <-done; !errors.Is(err, net.ErrClosed) {
			t.Errorf("read after Close: %v, want net.ErrClosed", err)
		}
	}
}
