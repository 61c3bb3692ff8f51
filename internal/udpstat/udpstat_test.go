package udpstat

import (
	"net"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/switchboard-voip/switchboard/internal/poll"
)

// Datagrams sent to a socket nobody reads, past its receive buffer, are counted.
func TestReceiveDropsCountsAFullBuffer(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc/net/snmp")
	}
	before, err := ReceiveDrops()
	if err != nil {
		t.Fatal(err)
	}
	ok := overflow(t, func() bool {
		n, err := ReceiveDrops()
		return err == nil && n > before
	})
	if !ok {
		t.Fatal("no receive drop counted for a full socket buffer")
	}
}

// A socket of this process that drops datagrams counts in Sockets for this process.
func TestSocketsCountsThisProcessDrops(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	pid := os.Getpid()
	sum := func(m map[string]Socket) (n int64) {
		for _, s := range m {
			n += s.Drops
		}
		return n
	}
	first, err := Sockets(pid)
	if err != nil {
		t.Fatal(err)
	}
	before := sum(first)
	ok := overflow(t, func() bool {
		m, err := Sockets(pid)
		return err == nil && sum(m) > before
	})
	if !ok {
		t.Fatal("no drop counted at this process's full socket")
	}
	if _, err := Sockets(1 << 30); err == nil {
		t.Error("a process that does not exist: no error")
	}
}

// overflow sends datagrams to a socket of this process that nobody reads, its receive buffer at
// the kernel's minimum, until counted reports the drops (true) or 5 s pass (false).
func overflow(t *testing.T, counted func() bool) bool {
	t.Helper()
	sink, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	_ = sink.SetReadBuffer(4096)
	src, err := net.DialUDP("udp", nil, sink.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	payload := make([]byte, 1000)
	return poll.Until(5*time.Second, func() bool {
		for range 100 {
			_, _ = src.Write(payload)
		}
		return counted()
	})
}

// What waits in a socket of this process counts in its Queued, and is gone once read.
func TestSocketsCountsWhatWaits(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	sink, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	src, err := net.DialUDP("udp", nil, sink.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	queued := func() int64 {
		t.Helper()
		socks, err := Sockets(os.Getpid())
		if err != nil {
			t.Fatal(err)
		}
		var n int64
		for _, s := range socks {
			n += s.Queued
		}
		return n
	}
	before := queued()
	const n = 10
	for range n {
		if _, err := src.Write(make([]byte, 172)); err != nil {
			t.Fatal(err)
		}
	}
	// On loopback a datagram is in the receiver's queue when the send returns.
	waiting := queued()
	if waiting < before+n*172 {
		t.Fatalf("%d bytes queued with %d datagrams of 172 bytes waiting, %d before", waiting, n, before)
	}
	buf := make([]byte, 1500)
	for range n {
		if _, err := sink.Read(buf); err != nil {
			t.Fatal(err)
		}
	}
	if after := queued(); after >= waiting {
		t.Errorf("%d bytes queued after reading them all, %d before", after, waiting)
	}
}
