package media

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/switchboard-voip/switchboard/internal/testports"
)

var loopback = netip.MustParseAddr("127.0.0.1")

// mediaPorts is this package's block of the test port plan (internal/testports).
var mediaPorts = testports.Media()

// freeRange returns the range for NewPorts of pairs RTP/RTCP pairs in a row on loopback, the
// next ones of the package's fixed block that are free (below the Linux ephemeral range, so
// sockets bound to port 0 elsewhere in the tests cannot take them between the probe and the use).
func freeRange(t testing.TB, pairs int) (minPort, maxPort int) {
	t.Helper()
	base := mediaPorts.TakeFree(t, 2*pairs, probe)
	return base, base + 2*pairs - 1
}

func probe(base, n int) bool {
	var conns []*net.UDPConn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for port := base; port < base+n; port++ {
		c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, uint16(port))))
		if err != nil {
			return false
		}
		conns = append(conns, c)
	}
	return true
}

// newPool returns a pool of pairs free pairs and checks at the end of the
// test that every pair came back.
func newPool(t testing.TB, pairs int) *Ports {
	t.Helper()
	minPort, maxPort := freeRange(t, pairs)
	p, err := NewPorts(loopback, minPort, maxPort)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if n := p.InUse(); n != 0 {
			t.Errorf("%d port pairs still in use at the end of the test", n)
		}
		p.Close()
	})
	return p
}

func open(t testing.TB, p *Ports) *Endpoint {
	t.Helper()
	e, err := p.Open()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// listen returns a plain UDP socket on loopback, standing in for a phone's
// RTP or RTCP socket.
func listen(t testing.TB) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, 0)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func addrOf(c *net.UDPConn) netip.AddrPort {
	return c.LocalAddr().(*net.UDPAddr).AddrPort()
}

func rtpAddr(e *Endpoint) netip.AddrPort  { return netip.AddrPortFrom(e.Addr(), uint16(e.Port())) }
func rtcpAddr(e *Endpoint) netip.AddrPort { return netip.AddrPortFrom(e.Addr(), uint16(e.Port()+1)) }

func marshalRTP(t testing.TB, seq uint16, payload []byte) []byte {
	t.Helper()
	pkt := rtp.Packet{
		Header:  rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: seq, Timestamp: uint32(seq) * 160, SSRC: 0x5eed},
		Payload: payload,
	}
	b, err := pkt.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rtpFrom builds a 160-byte PCMU packet of the given numbering, its payload
// all fill so that the test can tell the senders apart on the wire.
func rtpFrom(ssrc uint32, seq uint16, ts uint32, fill byte) []byte {
	b := make([]byte, rtpHeaderSize+FrameSamples)
	b[0] = 0x80
	binary.BigEndian.PutUint16(b[2:], seq)
	binary.BigEndian.PutUint32(b[4:], ts)
	binary.BigEndian.PutUint32(b[8:], ssrc)
	for i := rtpHeaderSize; i < len(b); i++ {
		b[i] = fill
	}
	return b
}

func send(t testing.TB, from *net.UDPConn, to netip.AddrPort, b []byte) {
	t.Helper()
	if _, err := from.WriteToUDPAddrPort(b, to); err != nil {
		t.Fatal(err)
	}
}

// recv reads one datagram, failing the test if none comes within wait.
func recv(t testing.TB, c *net.UDPConn, wait time.Duration) []byte {
	t.Helper()
	b, ok := tryRecv(t, c, wait)
	if !ok {
		t.Fatalf("%v received nothing within %v", addrOf(c), wait)
	}
	return b
}

// tryRecv reads one datagram if one comes within wait.
func tryRecv(t testing.TB, c *net.UDPConn, wait time.Duration) ([]byte, bool) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 2048)
	n, _, err := c.ReadFromUDPAddrPort(buf)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return nil, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf[:n], true
}

func recvRTP(t testing.TB, c *net.UDPConn) rtp.Packet {
	t.Helper()
	var pkt rtp.Packet
	if err := pkt.Unmarshal(recv(t, c, 2*time.Second)); err != nil {
		t.Fatal(err)
	}
	return pkt
}

// checkGoroutines fails the test if goroutines started during it are still
// running when it ends (pion's test.CheckRoutines, without the dependency).
func checkGoroutines(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(2 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<16)
				t.Errorf("goroutines leaked: %d before, %d after\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// mustConn is the socket as a *net.UDPConn, for a test's phone that reads and writes it.
func (s *socket) mustConn() *net.UDPConn {
	c, err := s.udp.conn()
	if err != nil {
		panic(err)
	}
	return c
}
