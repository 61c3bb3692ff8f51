package media

import (
	"bytes"
	"context"
	"net/netip"
	"testing"
	"time"
)

// call is two phones talking through the switch: phone A's sockets are the
// pair of phoneA, which the switch reaches through endpoint a; likewise B.
type call struct {
	a, b           *Endpoint
	phoneA, phoneB *Endpoint // used only for their sockets, as the phones'
	relay          *Relay
}

// newCall sets up endpoints, remotes as the phones' SDP would give them, and
// a started relay, all torn down at the end of the test.
func newCall(t testing.TB, timeout time.Duration) *call {
	t.Helper()
	p := newPool(t, 4)
	c := &call{a: open(t, p), b: open(t, p), phoneA: open(t, p), phoneB: open(t, p)}
	c.a.SetRemote(rtpAddr(c.phoneA))
	c.b.SetRemote(rtpAddr(c.phoneB))
	c.relay = NewRelay(c.a, c.b, timeout)
	c.relay.Start(context.Background())
	t.Cleanup(c.relay.Stop)
	return c
}

// talk has each phone send n RTP packets of 160 bytes to the other, one at a time, and checks
// that each arrives unchanged.
func (c *call) talk(t *testing.T, n int) {
	t.Helper()
	for i := range n {
		seq := uint16(1000 + i)
		payloadA := bytes.Repeat([]byte{byte(i)}, 160)
		payloadB := bytes.Repeat([]byte{byte(255 - i)}, 160)
		send(t, c.phoneA.rtp.mustConn(), rtpAddr(c.a), marshalRTP(t, seq, payloadA))
		send(t, c.phoneB.rtp.mustConn(), rtpAddr(c.b), marshalRTP(t, seq, payloadB))

		got := recvRTP(t, c.phoneB.rtp.mustConn())
		if got.SequenceNumber != seq || !bytes.Equal(got.Payload, payloadA) {
			t.Fatalf("B got seq %d payload %x..., want seq %d payload %x...", got.SequenceNumber, got.Payload[:4], seq, payloadA[:4])
		}
		got = recvRTP(t, c.phoneA.rtp.mustConn())
		if got.SequenceNumber != seq || !bytes.Equal(got.Payload, payloadB) {
			t.Fatalf("A got seq %d payload %x..., want seq %d payload %x...", got.SequenceNumber, got.Payload[:4], seq, payloadB[:4])
		}
	}
}

func TestRelayRTPFlowsBothWaysUnchanged(t *testing.T) {
	checkGoroutines(t)
	c := newCall(t, 0)
	const n = 50
	c.talk(t, n)
	st := c.relay.Stats()
	wantBytes := uint64(n * (12 + 160))
	for name, d := range map[string]DirectionStats{"A to B": st.RTPAToB, "B to A": st.RTPBToA} {
		if d.Packets != n || d.Bytes != wantBytes || d.Dropped != 0 {
			t.Errorf("RTP %s: %+v, want %d packets, %d bytes, 0 dropped", name, d, n, wantBytes)
		}
	}
}

func TestRelayRTCPFlowsBothWays(t *testing.T) {
	c := newCall(t, 0)
	// A receiver report header; the relay does not parse RTCP.
	rrA := []byte{0x80, 201, 0, 1, 0, 0, 0xa, 0xa}
	rrB := []byte{0x80, 201, 0, 1, 0, 0, 0xb, 0xb}
	send(t, c.phoneA.rtcp.mustConn(), rtcpAddr(c.a), rrA)
	send(t, c.phoneB.rtcp.mustConn(), rtcpAddr(c.b), rrB)
	if got := recv(t, c.phoneB.rtcp.mustConn(), 2*time.Second); !bytes.Equal(got, rrA) {
		t.Errorf("B got RTCP %x, want %x", got, rrA)
	}
	if got := recv(t, c.phoneA.rtcp.mustConn(), 2*time.Second); !bytes.Equal(got, rrB) {
		t.Errorf("A got RTCP %x, want %x", got, rrB)
	}
	st := c.relay.Stats()
	if st.RTCPAToB.Packets != 1 || st.RTCPBToA.Packets != 1 || st.RTPAToB.Packets != 0 {
		t.Errorf("stats %+v, want one RTCP packet each way and no RTP", st)
	}
}

// A phone behind NAT advertises one address in SDP and sends from another;
// once it has sent, packets for it go to where it really is.
func TestRelayLatchesToPhoneSourceAddress(t *testing.T) {
	c := newCall(t, 0)
	sdpSocket := listen(t)  // what A's SDP claims
	realSocket := listen(t) // what A's NAT really uses
	c.a.SetRemote(addrOf(sdpSocket))

	send(t, c.phoneB.rtp.mustConn(), rtpAddr(c.b), marshalRTP(t, 1, []byte("before")))
	if got := recv(t, sdpSocket, 2*time.Second); !bytes.Contains(got, []byte("before")) {
		t.Fatalf("before latching, the SDP address got %q", got)
	}

	send(t, realSocket, rtpAddr(c.a), marshalRTP(t, 2, []byte("from A")))
	recvRTP(t, c.phoneB.rtp.mustConn())

	send(t, c.phoneB.rtp.mustConn(), rtpAddr(c.b), marshalRTP(t, 3, []byte("after")))
	if got := recvRTP(t, realSocket); string(got.Payload) != "after" {
		t.Errorf("A's real address got %q, want %q", got.Payload, "after")
	}
	if got, ok := tryRecv(t, sdpSocket, 50*time.Millisecond); ok {
		t.Errorf("A's SDP address still got %q after latching", got)
	}
	if got, ok := c.a.Remote(); !ok || got != addrOf(realSocket) {
		t.Errorf("Remote() = %v, %v; want %v", got, ok, addrOf(realSocket))
	}
}

// holdB puts B on hold (c=0.0.0.0 in its re-INVITE) and sends RTP seq from A: B gets nothing,
// and A to B has then counted packets in all, one of them dropped.
func (c *call) holdB(t *testing.T, seq uint16, packets uint64) {
	t.Helper()
	c.b.SetRemote(netip.AddrPortFrom(netip.IPv4Unspecified(), uint16(c.phoneB.Port())))
	send(t, c.phoneA.rtp.mustConn(), rtpAddr(c.a), marshalRTP(t, seq, []byte("on hold")))
	if got, ok := tryRecv(t, c.phoneB.rtp.mustConn(), 100*time.Millisecond); ok {
		t.Fatalf("B on hold received %q", got)
	}
	if d := c.relay.Stats().RTPAToB; d.Packets != packets || d.Dropped != 1 {
		t.Errorf("A to B while on hold: %+v, want %d packets, 1 dropped", d, packets)
	}
}

// c=0.0.0.0 in B's re-INVITE: nothing goes to B, until B resumes.
func TestRelayHoldSendsNothingUntilResumed(t *testing.T) {
	c := newCall(t, 0)
	c.holdB(t, 1, 1)
	if _, ok := c.b.Remote(); ok {
		t.Error("Remote() reports an address while on hold")
	}

	c.b.SetRemote(rtpAddr(c.phoneB))
	send(t, c.phoneA.rtp.mustConn(), rtpAddr(c.a), marshalRTP(t, 2, []byte("resumed")))
	if got := recvRTP(t, c.phoneB.rtp.mustConn()); string(got.Payload) != "resumed" {
		t.Errorf("B got %q after resume, want %q", got.Payload, "resumed")
	}
}

func TestRelayStopReturnsPromptlyAndLeavesEndpointsOpen(t *testing.T) {
	checkGoroutines(t)
	c := newCall(t, time.Hour)
	start := time.Now()
	c.relay.Stop()
	c.relay.Stop() // idempotent
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("Stop took %v", d)
	}
	// The owner may run another relay on the same endpoints (a transfer).
	r2 := NewRelay(c.a, c.b, 0)
	r2.Start(context.Background())
	defer r2.Stop()
	send(t, c.phoneA.rtp.mustConn(), rtpAddr(c.a), marshalRTP(t, 1, []byte("again")))
	if got := recvRTP(t, c.phoneB.rtp.mustConn()); string(got.Payload) != "again" {
		t.Errorf("B got %q through a second relay, want %q", got.Payload, "again")
	}
}

func TestRelayEndsWithContext(t *testing.T) {
	checkGoroutines(t)
	p := newPool(t, 2)
	a, b := open(t, p), open(t, p)
	r := NewRelay(a, b, 0)
	ctx, cancel := context.WithCancel(context.Background())
	r.Start(ctx)
	cancel()
	done := make(chan struct{})
	go func() { r.Stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Second):
		t.Fatal("Stop did not return after the context ended")
	}
}

func TestRelayEndsWhenOwnerClosesEndpoints(t *testing.T) {
	checkGoroutines(t)
	p := newPool(t, 2)
	a, b := open(t, p), open(t, p)
	r := NewRelay(a, b, 0)
	r.Start(context.Background())
	a.Close()
	b.Close()
	r.Stop()
}

func TestRelayStopBeforeStart(t *testing.T) {
	checkGoroutines(t)
	p := newPool(t, 2)
	r := NewRelay(open(t, p), open(t, p), 0)
	r.Stop()
	r.Start(context.Background()) // no-op after Stop
	r.Stop()
}

func TestRelayInactiveAfterTimeoutWithoutTraffic(t *testing.T) {
	const timeout = 200 * time.Millisecond
	c := newCall(t, timeout)
	start := time.Now()
	select {
	case <-c.relay.Inactive():
		// The relay's clock started a moment before ours.
		if d := time.Since(start); d < timeout*3/4 {
			t.Errorf("Inactive after %v, well before the %v timeout", d, timeout)
		}
	case <-time.After(5 * timeout):
		t.Fatal("Inactive not closed without traffic")
	}
}

func TestRelayNotInactiveWhileTrafficFlows(t *testing.T) {
	const timeout = 200 * time.Millisecond
	c := newCall(t, timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	end := time.After(3 * timeout)
	for seq := uint16(0); ; seq++ {
		select {
		case <-c.relay.Inactive():
			t.Fatal("Inactive closed while RTP was flowing")
		case <-end:
			// Only RTCP from B from now on still counts as traffic.
			for range 5 {
				send(t, c.phoneB.rtcp.mustConn(), rtcpAddr(c.b), []byte{0x80, 201, 0, 1, 0, 0, 0, 1})
				select {
				case <-c.relay.Inactive():
					t.Fatal("Inactive closed while RTCP was flowing")
				case <-time.After(timeout / 2):
				}
			}
			select {
			case <-c.relay.Inactive():
			case <-time.After(5 * timeout):
				t.Fatal("Inactive not closed after traffic stopped")
			}
			return
		case <-tick.C:
			send(t, c.phoneA.rtp.mustConn(), rtpAddr(c.a), marshalRTP(t, seq, make([]byte, 160)))
		}
	}
}

// The steady state of the per-packet path allocates nothing, anywhere: the
// count covers the relay's goroutines too.
func TestRelayPacketDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	c := newCall(t, time.Hour)
	pkt := marshalRTP(t, 1, make([]byte, 160))
	buf := make([]byte, 2048)
	dst := rtpAddr(c.a)
	in, out := c.phoneA.rtp.mustConn(), c.phoneB.rtp.mustConn()
	out.SetReadDeadline(time.Now().Add(10 * time.Second))
	var failed error
	allocs := testing.AllocsPerRun(1000, func() {
		if _, err := in.WriteToUDPAddrPort(pkt, dst); err != nil {
			failed = err
		}
		if _, _, err := out.ReadFromUDPAddrPort(buf); err != nil {
			failed = err
		}
	})
	if failed != nil {
		t.Fatal(failed)
	}
	if allocs != 0 {
		t.Errorf("%v allocations per relayed packet, want 0", allocs)
	}
	// The measured packets were recorded for Sent.
	c.relay.Stop()
	if n, ok := c.relay.Sent(c.b); !ok || n.SSRC != 0x5eed || n.Seq != 1 || n.TS != 160 {
		t.Errorf("Sent(b) = %+v, %v; want the relayed packet's numbering", n, ok)
	}
}

// Sent follows the highest sequence number of an SSRC, so that a stream
// carrying on from it never goes backwards; a new SSRC (the far end was
// replaced) starts over; RTCP on the RTP port is not the stream.
func TestRelaySentIgnoresReorderingAndRTCP(t *testing.T) {
	c := newCall(t, 0)
	relay := func(b []byte) {
		t.Helper()
		send(t, c.phoneB.rtp.mustConn(), rtpAddr(c.b), b)
		recv(t, c.phoneA.rtp.mustConn(), 2*time.Second)
	}
	check := func(ssrc uint32, seq uint16, ts uint32) {
		t.Helper()
		if n, ok := c.relay.Sent(c.a); !ok || n.SSRC != ssrc || n.Seq != seq || n.TS != ts {
			t.Errorf("Sent(a) = %+v, %v; want SSRC %#x seq %d ts %d", n, ok, ssrc, seq, ts)
		}
	}
	relay(rtpFrom(0xaa, 10, 1600, 0))
	relay(rtpFrom(0xaa, 12, 1920, 0))
	relay(rtpFrom(0xaa, 11, 1760, 0)) // late
	relay(rtpFrom(0xaa, 12, 1920, 0)) // duplicate
	relay([]byte{0x80, 200, 0, 6, 0, 0, 0, 0xbb, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	c.relay.Stop()
	check(0xaa, 12, 1920)

	c.relay = NewRelay(c.a, c.b, 0)
	c.relay.Start(context.Background())
	t.Cleanup(c.relay.Stop)
	relay(rtpFrom(0xaa, 500, 80000, 0))
	relay(rtpFrom(0xcc, 3, 480, 0)) // a new far end, numbered lower
	c.relay.Stop()
	check(0xcc, 3, 480)
	if n, ok := c.relay.Sent(c.b); ok {
		t.Errorf("Sent(b) = %+v, true; nothing was sent out of b", n)
	}
}

func BenchmarkRelayPacket(b *testing.B) {
	c := newCall(b, time.Hour)
	pkt := marshalRTP(b, 1, make([]byte, 160))
	buf := make([]byte, 2048)
	dst := rtpAddr(c.a)
	in, out := c.phoneA.rtp.mustConn(), c.phoneB.rtp.mustConn()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := in.WriteToUDPAddrPort(pkt, dst); err != nil {
			b.Fatal(err)
		}
		if _, _, err := out.ReadFromUDPAddrPort(buf); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if st := c.relay.Stats().RTPAToB; st.Dropped != 0 {
		b.Fatalf("%d packets dropped", st.Dropped)
	}
}
