//go:build linux

package media

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A burst waiting in a leg's socket when its reader comes to it (a reader that fell behind)
// goes out of the other leg with one system call, in order and unchanged, every packet
// counted and the last one recorded for Sent.
func TestRelaySendsABurstWithOneCall(t *testing.T) {
	p := newPool(t, 4)
	c := &call{a: open(t, p), b: open(t, p), phoneA: open(t, p), phoneB: open(t, p)}
	c.a.SetRemote(rtpAddr(c.phoneA))
	c.b.SetRemote(rtpAddr(c.phoneB))
	const burst = 20 // fewer than a read takes (pollBurst)
	payload := func(i int) []byte { return bytes.Repeat([]byte{byte(i)}, 160) }
	for i := range burst {
		// On loopback the datagram is in a's queue when the send returns.
		send(t, c.phoneA.rtp.mustConn(), rtpAddr(c.a), marshalRTP(t, uint16(100+i), payload(i)))
	}
	c.relay = NewRelay(c.a, c.b, 0)
	c.relay.Start(context.Background())
	t.Cleanup(c.relay.Stop)
	for i := range burst {
		got := recvRTP(t, c.phoneB.rtp.mustConn())
		if got.SequenceNumber != uint16(100+i) || !bytes.Equal(got.Payload, payload(i)) {
			t.Fatalf("packet %d: B got seq %d payload %x..., want seq %d", i, got.SequenceNumber, got.Payload[:4], 100+i)
		}
	}
	c.relay.Stop()
	if st := c.relay.Stats().RTPAToB; st.Packets != burst || st.Dropped != 0 {
		t.Errorf("A to B: %+v, want %d packets, 0 dropped", st, burst)
	}
	if n, ok := c.relay.Sent(c.b); !ok || n.Seq != 100+burst-1 {
		t.Errorf("Sent(b) = %+v, %v; want the burst's last packet", n, ok)
	}
	calls := 0
	for _, w := range p.readers.workers {
		calls += w.batch.calls
	}
	if calls != 1 {
		t.Errorf("the burst of %d packets went out in %d sendmmsg calls, want 1", burst, calls)
	}
}

// Sending a read's packets on together allocates nothing.
func TestSendBatchDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	p := newPool(t, 3)
	a, b, phone := open(t, p), open(t, p), open(t, p)
	b.SetRemote(rtpAddr(phone))
	f := &flow{in: &a.rtp, out: &b.rtp, c: &counters{}, cont: &atomic.Pointer[rewriter]{}, rec: &sentRecord{}}
	sb := new(sendBatch)
	sb.init()
	var bufs [pollBurst][relayBufSize]byte
	var msgs [pollBurst]mmsghdr
	var froms [pollBurst]unix.RawSockaddrAny
	const n = 5
	src := (*unix.RawSockaddrInet4)(unsafe.Pointer(&froms[0]))
	src.Family, src.Addr = unix.AF_INET, [4]byte{127, 0, 0, 1}
	for i := range n {
		msgs[i].n = uint32(copy(bufs[i][:], marshalRTP(t, uint16(i), make([]byte, 160))))
		froms[i] = froms[0]
	}
	got := make([]byte, 2048)
	phone.rtp.mustConn().SetReadDeadline(time.Now().Add(10 * time.Second))
	var failed error
	allocs := testing.AllocsPerRun(100, func() {
		sb.relay(f, &bufs, &msgs, &froms, n)
		for range n {
			if _, _, err := phone.rtp.mustConn().ReadFromUDPAddrPort(got); err != nil {
				failed = err
			}
		}
	})
	if failed != nil {
		t.Fatal(failed)
	}
	if allocs != 0 {
		t.Errorf("%v allocations per batch of %d, want 0", allocs, n)
	}
	if st := f.c.snapshot(); st.Dropped != 0 || st.Packets != 101*n {
		t.Errorf("%+v, want %d packets, none dropped", st, 101*n)
	}
}

// A relayed socket is watched by its reader's epoll set alone: Go's own poller, which would
// queue an event for every datagram in and out that nobody waits for, never sees it.
func TestRelaySocketsAreOnlyInTheirReadersSet(t *testing.T) {
	c := newCall(t, 0)
	sets := epollSets(t)
	var readers []int
	for _, w := range c.a.pool.readers.workers {
		readers = append(readers, w.epfd)
	}
	for name, s := range map[string]*socket{"a RTP": &c.a.rtp, "a RTCP": &c.a.rtcp, "b RTP": &c.b.rtp, "b RTCP": &c.b.rtcp} {
		var in []int
		for epfd, fds := range sets {
			if fds[s.udp.fd] {
				in = append(in, epfd)
			}
		}
		if len(in) != 1 || !slices.Contains(readers, in[0]) {
			t.Errorf("%s socket (descriptor %d) is in the epoll sets %v; want one of the readers' %v", name, s.udp.fd, in, readers)
		}
	}
}

// epollSets is the descriptors each epoll set of this process watches, by the set's descriptor
// (from /proc/self/fdinfo).
func epollSets(t *testing.T) map[int]map[int]bool {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip(err)
	}
	sets := make(map[int]map[int]bool)
	for _, e := range fds {
		if target, _ := os.Readlink("/proc/self/fd/" + e.Name()); target != "anon_inode:[eventpoll]" {
			continue
		}
		epfd, _ := strconv.Atoi(e.Name())
		info, err := os.ReadFile("/proc/self/fdinfo/" + e.Name())
		if err != nil {
			continue
		}
		sets[epfd] = make(map[int]bool)
		for line := range strings.SplitSeq(string(info), "\n") {
			// tfd:       12 events:       19 data: ...
			if f := strings.Fields(line); len(f) > 1 && f[0] == "tfd:" {
				fd, _ := strconv.Atoi(f[1])
				sets[epfd][fd] = true
			}
		}
	}
	if len(sets) == 0 {
		t.Skip("no epoll sets in /proc/self/fdinfo")
	}
	return sets
}

// On IPv6 the relay's sockets (made with socket(2), not package net) bind, read and send the
// same: a burst and single packets cross both ways over ::1.
func TestRelayOverIPv6(t *testing.T) {
	probe, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	probe.Close()
	minPort, maxPort := freeRange(t, 4) // free on IPv4; a port taken on ::1 is skipped by Open
	p, err := NewPorts(netip.IPv6Loopback(), minPort, maxPort+200)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	c := &call{a: open(t, p), b: open(t, p), phoneA: open(t, p), phoneB: open(t, p)}
	for _, e := range []*Endpoint{c.a, c.b, c.phoneA, c.phoneB} {
		t.Cleanup(func() { e.Close() })
	}
	c.a.SetRemote(rtpAddr(c.phoneA))
	c.b.SetRemote(rtpAddr(c.phoneB))
	const burst = 5
	for i := range burst {
		send(t, c.phoneA.rtp.mustConn(), rtpAddr(c.a), marshalRTP(t, uint16(i), make([]byte, 160)))
	}
	c.relay = NewRelay(c.a, c.b, 0)
	c.relay.Start(context.Background())
	t.Cleanup(c.relay.Stop)
	for i := range burst {
		if got := recvRTP(t, c.phoneB.rtp.mustConn()); got.SequenceNumber != uint16(i) {
			t.Fatalf("B got seq %d, want %d", got.SequenceNumber, i)
		}
	}
	send(t, c.phoneB.rtp.mustConn(), rtpAddr(c.b), marshalRTP(t, 99, make([]byte, 160)))
	if got := recvRTP(t, c.phoneA.rtp.mustConn()); got.SequenceNumber != 99 {
		t.Fatalf("A got seq %d, want 99", got.SequenceNumber)
	}
	if got, ok := c.a.Remote(); !ok || !got.Addr().Is6() {
		t.Errorf("a's remote %v, %v: want phone A's IPv6 address", got, ok)
	}
}
