//go:build linux

package media

import (
	"bytes"
	"context"
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
		send(t, c.phoneA.rtp.conn, rtpAddr(c.a), marshalRTP(t, uint16(100+i), payload(i)))
	}
	c.relay = NewRelay(c.a, c.b, 0)
	c.relay.Start(context.Background())
	t.Cleanup(c.relay.Stop)
	for i := range burst {
		got := recvRTP(t, c.phoneB.rtp.conn)
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
	phone.rtp.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var failed error
	allocs := testing.AllocsPerRun(100, func() {
		sb.relay(f, &bufs, &msgs, &froms, n)
		for range n {
			if _, _, err := phone.rtp.conn.ReadFromUDPAddrPort(got); err != nil {
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
