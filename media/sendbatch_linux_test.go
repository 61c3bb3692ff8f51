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
	calls, segmented, gso := 0, 0, false
	for _, w := range p.readers.workers {
		calls += w.batch.calls
		segmented += w.batch.segmented
		gso = gso || w.batch.gso
	}
	if calls != 1 {
		t.Errorf("the burst of %d packets went out in %d sendmmsg calls, want 1", burst, calls)
	}
	if gso && segmented != 1 {
		t.Errorf("the burst of %d packets of one size went out as %d segmented datagrams, want 1", burst, segmented)
	}
}

// batchFixture is a relay direction from a to b, b sending to phone, and a read's worth of
// datagrams to hand the direction's sendBatch.
type batchFixture struct {
	f     *flow
	phone *Endpoint
	b     *Endpoint
	bufs  [pollBurst][relayBufSize]byte
	msgs  [pollBurst]mmsghdr
	froms [pollBurst]unix.RawSockaddrAny
}

func newBatchFixture(t testing.TB) *batchFixture {
	t.Helper()
	p := newPool(t, 3)
	a, b, phone := open(t, p), open(t, p), open(t, p)
	b.SetRemote(rtpAddr(phone))
	x := &batchFixture{f: &flow{in: &a.rtp, out: &b.rtp, c: &counters{}, cont: &atomic.Pointer[rewriter]{}, rec: &sentRecord{}},
		phone: phone, b: b}
	src := (*unix.RawSockaddrInet4)(unsafe.Pointer(&x.froms[0]))
	src.Family, src.Addr = unix.AF_INET, [4]byte{127, 0, 0, 1}
	return x
}

// read puts datagrams in the read buffers as a recvmmsg would and returns their count.
func (x *batchFixture) read(t testing.TB, pkts [][]byte) int {
	t.Helper()
	for i, pkt := range pkts {
		x.msgs[i].n = uint32(copy(x.bufs[i][:], pkt))
		x.froms[i] = x.froms[0]
	}
	return len(pkts)
}

// receive checks that the phone gets pkts, each its own datagram, in order and unchanged.
func (x *batchFixture) receive(t *testing.T, pkts [][]byte) {
	t.Helper()
	conn := x.phone.rtp.mustConn()
	got := make([]byte, relayBufSize)
	for i, want := range pkts {
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, _, err := conn.ReadFromUDPAddrPort(got)
		if err != nil {
			t.Fatalf("datagram %d of %d: %v", i, len(pkts), err)
		}
		if !bytes.Equal(got[:n], want) {
			t.Fatalf("datagram %d: got %d bytes starting %x, want %d bytes starting %x", i, n, got[:min(n, 16)], len(want), want[:min(len(want), 16)])
		}
	}
}

// packets makes RTP packets with payloads of the given sizes, numbered from seq.
func packets(t testing.TB, seq uint16, sizes ...int) [][]byte {
	var pkts [][]byte
	for i, size := range sizes {
		pkts = append(pkts, marshalRTP(t, seq+uint16(i), bytes.Repeat([]byte{byte(i + 1)}, size)))
	}
	return pkts
}

// A read's packets go out as one segmented datagram per run of one size, a shorter packet
// ending its run and a longer one starting the next, a short run as datagrams of their own,
// all in one system call; the phone gets
// every packet as a datagram of its own, in order and unchanged. A full read of the largest
// packets the relay takes is one segmented datagram too.
func TestSendBatchSegmentsRunsOfOneSize(t *testing.T) {
	x := newBatchFixture(t)
	sb := new(sendBatch)
	sb.init()
	if !sb.gso {
		t.Skip("this kernel does not segment UDP datagrams (UDP_SEGMENT)")
	}
	// Three runs segmented: four 160s ending with a 4 (a DTMF event's size), four 160s (the
	// 300 is longer), three 300s ending with a 20; then a run of two, too short to segment.
	pkts := packets(t, 1, 160, 160, 160, 160, 4, 160, 160, 160, 160, 300, 300, 300, 20, 160, 160)
	sb.relay(x.f, &x.bufs, &x.msgs, &x.froms, x.read(t, pkts))
	x.receive(t, pkts)
	if sb.calls != 1 || sb.m != 5 || sb.segmented != 3 {
		t.Errorf("%d packets went out in %d calls as %d datagrams, %d segmented; want 1 call, 5 datagrams, 3 segmented",
			len(pkts), sb.calls, sb.m, sb.segmented)
	}

	sizes := make([]int, pollBurst)
	for i := range sizes {
		sizes[i] = relayBufSize - 1 - rtpHeaderSize
	}
	pkts = packets(t, 100, sizes...)
	sb.calls, sb.segmented = 0, 0
	sb.relay(x.f, &x.bufs, &x.msgs, &x.froms, x.read(t, pkts))
	x.receive(t, pkts)
	if sb.calls != 1 || sb.segmented != 1 {
		t.Errorf("%d packets of %d bytes went out in %d calls as %d segmented datagrams, want 1 and 1", len(pkts), len(pkts[0]), sb.calls, sb.segmented)
	}
	if st := x.f.c.snapshot(); st.Dropped != 0 {
		t.Errorf("%+v, want none dropped", st)
	}
}

// An empty datagram among a read's packets (anyone can send one to a relay's port) goes on as
// an empty datagram, between the runs around it; the reader does not fail on it.
func TestSendBatchPassesEmptyDatagrams(t *testing.T) {
	x := newBatchFixture(t)
	sb := new(sendBatch)
	sb.init()
	run := packets(t, 1, 160, 160, 160, 160)
	pkts := append(append(append([][]byte{{}}, run...), []byte{}, []byte{}, []byte{}, []byte{}), run...)
	sb.relay(x.f, &x.bufs, &x.msgs, &x.froms, x.read(t, pkts))
	x.receive(t, pkts)
	if st := x.f.c.snapshot(); st.Dropped != 0 || st.Packets != uint64(len(pkts)) {
		t.Errorf("%+v, want %d packets, none dropped", st, len(pkts))
	}
}

// Where the route refuses segmented datagrams (a device that cannot checksum them: EIO), the
// batch goes out packet by packet at once, none lost, and the leg does not try again.
func TestSendBatchSendsOneByOneWhereSegmentsAreRefused(t *testing.T) {
	x := newBatchFixture(t)
	sb := new(sendBatch)
	sb.init()
	sb.gso = true // whatever this kernel does: the refusal is the test's
	refused := 0
	sb.sendmmsg = func(fd int, msgs *mmsghdr, n int) (int, unix.Errno) {
		for _, m := range unsafe.Slice(msgs, n) {
			if m.hdr.Controllen != 0 {
				refused++
				return 0, unix.EIO
			}
		}
		return sendmmsg(fd, msgs, n)
	}
	pkts := packets(t, 1, 160, 160, 160, 4, 160, 160)
	sb.relay(x.f, &x.bufs, &x.msgs, &x.froms, x.read(t, pkts))
	x.receive(t, pkts)
	if refused != 1 || !x.b.rtp.unsegmented.Load() {
		t.Fatalf("refused %d times, leg unsegmented %v; want once, and the leg marked", refused, x.b.rtp.unsegmented.Load())
	}
	pkts = packets(t, 10, 160, 160, 160)
	sb.relay(x.f, &x.bufs, &x.msgs, &x.froms, x.read(t, pkts))
	x.receive(t, pkts)
	if refused != 1 {
		t.Errorf("the leg tried a segmented datagram again (%d refusals)", refused)
	}
	if st := x.f.c.snapshot(); st.Dropped != 0 || st.Packets != 9 {
		t.Errorf("%+v, want 9 packets, none dropped", st)
	}
}

// Sending a read's packets on together allocates nothing.
func TestSendBatchDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	x := newBatchFixture(t)
	sb := new(sendBatch)
	sb.init()
	const n = 5
	pkts := make([][]byte, n)
	for i := range pkts {
		pkts[i] = marshalRTP(t, uint16(i), make([]byte, 160))
	}
	x.read(t, pkts)
	got := make([]byte, 2048)
	x.phone.rtp.mustConn().SetReadDeadline(time.Now().Add(10 * time.Second))
	var failed error
	allocs := testing.AllocsPerRun(100, func() {
		sb.relay(x.f, &x.bufs, &x.msgs, &x.froms, n)
		for range n {
			if _, _, err := x.phone.rtp.mustConn().ReadFromUDPAddrPort(got); err != nil {
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
	if st := x.f.c.snapshot(); st.Dropped != 0 || st.Packets != 101*n {
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

// The segment size sits where the kernel reads a control message's data, and the message fits
// the room the batch gives it.
func TestSegmentControlLayout(t *testing.T) {
	var c segmentControl
	if off, want := unsafe.Offsetof(c.size), uintptr(unix.CmsgLen(0)); off != want {
		t.Errorf("size at offset %d, CMSG_DATA at %d", off, want)
	}
	if size, want := unsafe.Sizeof(c), uintptr(unix.CmsgSpace(2)); size < want {
		t.Errorf("control message room %d bytes, CMSG_SPACE(2) is %d", size, want)
	}
}
