//go:build linux

package offload

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// open opens an Offload for addr, skipping the test where this process may not load programs.
func open(t *testing.T, addr netip.Addr) *Offload {
	t.Helper()
	o, err := Open(addr, 64)
	if errors.Is(err, os.ErrPermission) {
		t.Skipf("kernel relaying needs CAP_BPF and CAP_NET_ADMIN: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := o.Close(); err != nil {
			t.Error(err)
		}
	})
	return o
}

func listen(t *testing.T, addr netip.Addr) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(addr, 0)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func addrOf(c *net.UDPConn) netip.AddrPort { return c.LocalAddr().(*net.UDPAddr).AddrPort() }

// rtp is an RTP packet of PCMU with seq, and a payload of n bytes.
func rtp(seq uint16, n int) []byte {
	b := make([]byte, 12+n)
	b[0], b[1] = 0x80, 0
	binary.BigEndian.PutUint16(b[2:], seq)
	binary.BigEndian.PutUint32(b[4:], uint32(seq)*160)
	binary.BigEndian.PutUint32(b[8:], 0x5eed)
	return b
}

// expect reads one datagram from c and checks who sent it and what it holds.
func expect(t *testing.T, c *net.UDPConn, from netip.AddrPort, want []byte) {
	t.Helper()
	buf := make([]byte, 2048)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, src, err := c.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatalf("waiting at %v for %x from %v: %v", addrOf(c), want, from, err)
	}
	if src != from || string(buf[:n]) != string(want) {
		t.Fatalf("%v got %x from %v, want %x from %v", addrOf(c), buf[:n], src, want, from)
	}
}

func send(t *testing.T, c *net.UDPConn, to netip.AddrPort, b []byte) {
	t.Helper()
	if _, err := c.WriteToUDPAddrPort(b, to); err != nil {
		t.Fatal(err)
	}
}

func monotonic() int64 {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

// A phone's RTP to one leg's socket reaches the other leg's phone from the other socket,
// unchanged, without the first socket seeing it; anything from another source still reaches
// the socket; the counts and the last RTP header are the kernel's; once removed the socket
// gets the phone's datagrams again.
func TestKernelRelaysTheLatchedPeersRTP(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	o := open(t, lo)
	caller, a, b, callee := listen(t, lo), listen(t, lo), listen(t, lo), listen(t, lo)
	if err := o.Add(addrOf(a), addrOf(caller), addrOf(b), addrOf(callee)); err != nil {
		t.Fatal(err)
	}
	before := monotonic()
	for seq := range uint16(3) {
		send(t, caller, addrOf(a), rtp(seq, 160))
		expect(t, callee, addrOf(b), rtp(seq, 160))
	}
	// RTCP multiplexed on the port is relayed but is not the stream's numbering.
	sr := []byte{0x80, 200, 0, 1, 0, 0, 0x5e, 0xed}
	send(t, caller, addrOf(a), sr)
	expect(t, callee, addrOf(b), sr)

	stranger := listen(t, lo)
	send(t, stranger, addrOf(a), []byte("not the peer"))
	expect(t, a, addrOf(stranger), []byte("not the peer"))

	c, err := o.Counts(addrOf(a))
	if err != nil {
		t.Fatal(err)
	}
	if c.Packets != 4 || c.Bytes != 3*172+8 {
		t.Errorf("counts %d packets, %d bytes; want 4, %d", c.Packets, c.Bytes, 3*172+8)
	}
	if h := rtp(2, 0); string(c.Header[:]) != string(h) {
		t.Errorf("last RTP header %x, want %x", c.Header, h)
	}
	if c.At < before || c.At > monotonic() {
		t.Errorf("last RTP at %d, not between %d and now", c.At, before)
	}

	if _, err := o.Remove(addrOf(a)); err != nil {
		t.Fatal(err)
	}
	send(t, caller, addrOf(a), rtp(3, 160))
	expect(t, a, addrOf(caller), rtp(3, 160))
	if _, err := o.Counts(addrOf(a)); err == nil {
		t.Error("a removed socket still has counts")
	}
}

func TestAddRefusesIPv6(t *testing.T) {
	o := open(t, netip.MustParseAddr("127.0.0.1"))
	v4 := netip.MustParseAddrPort("127.0.0.1:4000")
	v6 := netip.MustParseAddrPort("[::1]:4000")
	if err := o.Add(v4, v6, v4, v4); err == nil {
		t.Error("an IPv6 peer was taken")
	}
	if _, err := Open(netip.MustParseAddr("::1"), 8); err == nil {
		t.Error("an IPv6 media address was taken")
	}
}

func TestRouteToTakesTheMostSpecificUsableRoute(t *testing.T) {
	for dst, want := range map[string]string{
		"192.0.2.77": "eth0", // on-link /24 beats the defaults
		"8.8.8.8":    "eth1", // default, lower metric
		"192.0.3.5":  "eth1", // the /24 is down: default
		"10.1.2.3":   "eth1", // the /8 rejects: default
		"10.0.0.200": "wg0",  // /25 inside the rejected /8
	} {
		got, err := routeTo("testdata/route", netip.MustParseAddr(dst))
		if err != nil || got != want {
			t.Errorf("route to %s: %q, %v; want %q", dst, got, err, want)
		}
	}
	if _, err := routeTo("testdata/missing", netip.MustParseAddr("1.2.3.4")); err == nil {
		t.Error("a missing table gave a route")
	}
	// Without a default route, an address off every link has none.
	table := filepath.Join(t.TempDir(), "route")
	b, _ := os.ReadFile("testdata/route")
	lines := strings.Split(string(b), "\n")
	os.WriteFile(table, []byte(strings.Join(append(lines[:1], lines[3:]...), "\n")), 0o600)
	if got, err := routeTo(table, netip.MustParseAddr("8.8.8.8")); err == nil {
		t.Errorf("without a default route 8.8.8.8 went by %q", got)
	}
}
