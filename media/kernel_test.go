package media

import (
	"bytes"
	"context"
	"errors"
	"os"
	"runtime"
	"testing"
	"time"
)

// newKernelPool is newPool relaying plain RTP in the kernel; the test is skipped where this
// process may not (no CAP_BPF and CAP_NET_ADMIN, not Linux).
func newKernelPool(t testing.TB, pairs int) *Ports {
	t.Helper()
	p := newPool(t, pairs)
	if err := p.RelayInKernel(); err != nil {
		if errors.Is(err, os.ErrPermission) || runtime.GOOS != "linux" {
			t.Skip(err)
		}
		t.Fatal(err)
	}
	return p
}

// newKernelCall is newCall on a pool that relays in the kernel.
func newKernelCall(t testing.TB) *call {
	t.Helper()
	p := newKernelPool(t, 4)
	c := &call{a: open(t, p), b: open(t, p), phoneA: open(t, p), phoneB: open(t, p)}
	c.a.SetRemote(rtpAddr(c.phoneA))
	c.b.SetRemote(rtpAddr(c.phoneB))
	c.relay = NewRelay(c.a, c.b, 0)
	c.relay.Start(context.Background())
	t.Cleanup(c.relay.Stop)
	return c
}

// inKernel is how many packets of each RTP direction (A to B, B to A) the kernel relayed and
// still holds.
func (c *call) inKernel() (ab, ba uint64) {
	ab, _ = c.relay.flows[0].inKernel()
	ba, _ = c.relay.flows[1].inKernel()
	return ab, ba
}

// aToB sends RTP seq with payload from phone A and checks that phone B gets it unchanged.
func (c *call) aToB(t *testing.T, seq uint16, payload string) {
	t.Helper()
	send(t, c.phoneA.rtp.mustConn(), rtpAddr(c.a), marshalRTP(t, seq, []byte(payload)))
	if got := recvRTP(t, c.phoneB.rtp.mustConn()); got.SequenceNumber != seq || string(got.Payload) != payload {
		t.Fatalf("B got seq %d %q, want seq %d %q", got.SequenceNumber, got.Payload, seq, payload)
	}
}

// Once each phone has sent, the kernel relays the rest of a plain call both ways, unchanged,
// and the relay's counters and its activity include what the kernel relayed.
func TestKernelRelaysAPlainCall(t *testing.T) {
	checkGoroutines(t)
	c := newKernelCall(t)
	const n = 50
	c.talk(t, n)
	// The first packet each way reached the switch, which handed the direction over.
	if ab, ba := c.inKernel(); ab != n-1 || ba != n-1 {
		t.Errorf("the kernel relayed %d and %d packets, want %d each", ab, ba, n-1)
	}
	st := c.relay.Stats()
	for name, d := range map[string]DirectionStats{"A to B": st.RTPAToB, "B to A": st.RTPBToA} {
		if d.Packets != n || d.Bytes != n*(12+160) || d.Dropped != 0 || d.InKernel != n-1 {
			t.Errorf("RTP %s: %+v, want %d packets, %d bytes, %d of them by the kernel", name, d, n, n*(12+160), n-1)
		}
	}
	if tot := c.a.pool.RelayTotals().RTP; tot.Packets != 2*n || tot.InKernel != 2*(n-1) {
		t.Errorf("pool's totals %d packets, %d by the kernel; want %d, %d", tot.Packets, tot.InKernel, 2*n, 2*(n-1))
	}
	c.relay.mu.Lock()
	received := c.relay.received()
	c.relay.mu.Unlock()
	if received != 2*n {
		t.Errorf("activity counts %d packets, want %d", received, 2*n)
	}
	// Stopped, the relay gives back what the kernel relayed and the kernel relays no more.
	c.relay.Stop()
	if ab, ba := c.inKernel(); ab != 0 || ba != 0 {
		t.Errorf("after Stop the kernel still holds %d and %d", ab, ba)
	}
	if d := c.relay.Stats().RTPAToB; d.Packets != n || d.InKernel != n-1 {
		t.Errorf("after Stop A to B counts %d packets, %d by the kernel; want %d, %d", d.Packets, d.InKernel, n, n-1)
	}
	if tot := c.a.pool.RelayTotals().RTP; tot.Packets != 2*n || tot.InKernel != 2*(n-1) {
		t.Errorf("after Stop the pool's totals %d packets, %d by the kernel; want %d, %d", tot.Packets, tot.InKernel, 2*n, 2*(n-1))
	}
	send(t, c.phoneA.rtp.mustConn(), rtpAddr(c.a), marshalRTP(t, 9, []byte("after")))
	if got, ok := tryRecv(t, c.phoneB.rtp.mustConn(), 100*time.Millisecond); ok {
		t.Errorf("B got %x after the relay stopped", got)
	}
}

// Hold, resume and a new address in a re-INVITE, and a phone whose NAT moves it: each is the
// switch's to apply, and the kernel takes the call back after.
func TestKernelGivesTheCallBackOnEveryChange(t *testing.T) {
	c := newKernelCall(t)
	c.aToB(t, 1, "first")
	c.aToB(t, 2, "kernel")
	if ab, _ := c.inKernel(); ab != 1 {
		t.Fatalf("the kernel relayed %d packets, want 1", ab)
	}

	// B on hold: nothing reaches it, and the switch counts the drop.
	c.holdB(t, 3, 3)

	// Resumed at a new address.
	moved := listen(t)
	c.b.SetRemote(addrOf(moved))
	for seq := uint16(4); seq < 7; seq++ {
		send(t, c.phoneA.rtp.mustConn(), rtpAddr(c.a), marshalRTP(t, seq, []byte("moved")))
		if got := recvRTP(t, moved); got.SequenceNumber != seq {
			t.Fatalf("B's new address got seq %d, want %d", got.SequenceNumber, seq)
		}
	}
	if ab, _ := c.inKernel(); ab != 2 {
		t.Errorf("after the move the kernel relayed %d packets, want 2", ab)
	}

	// A's NAT gives it a new source: A's packets still reach B, and B's reach A there.
	nat := listen(t)
	send(t, nat, rtpAddr(c.a), marshalRTP(t, 7, []byte("new source")))
	if got := recvRTP(t, moved); got.SequenceNumber != 7 {
		t.Fatalf("B got seq %d from A's new source, want 7", got.SequenceNumber)
	}
	for seq := uint16(1); seq < 4; seq++ {
		send(t, moved, rtpAddr(c.b), marshalRTP(t, seq, []byte("to A")))
		if got := recvRTP(t, nat); got.SequenceNumber != seq {
			t.Fatalf("A's new source got seq %d, want %d", got.SequenceNumber, seq)
		}
	}
	if got, ok := tryRecv(t, c.phoneA.rtp.mustConn(), 50*time.Millisecond); ok {
		t.Errorf("A's old source still got %x", got)
	}
	if _, ba := c.inKernel(); ba != 2 {
		t.Errorf("B to A: the kernel relayed %d packets, want 2", ba)
	}
	if d := c.relay.Stats().RTPAToB; d.Packets != 7 || d.Dropped != 1 {
		t.Errorf("A to B in all: %+v, want 7 packets, 1 dropped", d)
	}
}

// A stream continued into a direction (music on hold carried on into the bridge) is rewritten by
// the switch: the kernel gives it back the moment Continue is called.
func TestKernelGivesBackAContinuedDirection(t *testing.T) {
	c := newKernelCall(t)
	c.aToB(t, 1, "first")
	c.aToB(t, 2, "kernel")

	p := NewPacer(1)
	defer p.Close()
	st := p.NewStream(c.b, pcmu)
	defer st.Close()
	c.relay.Continue(c.b, st)
	send(t, c.phoneA.rtp.mustConn(), rtpAddr(c.a), marshalRTP(t, 3, []byte("continued")))
	got := recvRTP(t, c.phoneB.rtp.mustConn())
	if got.SSRC != st.SSRC() || string(got.Payload) != "continued" {
		t.Errorf("B got SSRC %#x %q, want the stream's %#x", got.SSRC, got.Payload, st.SSRC())
	}
	if ab, _ := c.inKernel(); ab != 0 {
		t.Errorf("the kernel still relays A to B (%d packets)", ab)
	}
}

// SRTP keys given to B's leg mid-call (a re-INVITE with a=crypto): what A sends must reach B
// encrypted by the switch, so the kernel gives the direction back and does not take it again.
func TestKernelGivesBackWhenALegGetsKeys(t *testing.T) {
	c := newKernelCall(t)
	c.aToB(t, 1, "first")
	c.aToB(t, 2, "kernel")
	phoneB := srtpLeg(t, c.b)
	for seq := uint16(3); seq < 6; seq++ {
		send(t, c.phoneA.rtp.mustConn(), rtpAddr(c.a), marshalRTP(t, seq, []byte("secret")))
		sealed := recv(t, c.phoneB.rtp.mustConn(), 2*time.Second)
		plain, err := phoneB.Open(sealed, false)
		if err != nil || !bytes.Contains(plain, []byte("secret")) {
			t.Fatalf("B could not open packet %d: %v (%x)", seq, err, sealed)
		}
	}
	if ab, _ := c.inKernel(); ab != 0 {
		t.Errorf("the kernel relays A to B (%d packets) to a leg with keys", ab)
	}
}
