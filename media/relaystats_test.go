package media

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/pion/rtcp"
)

// reportsPacket is a compound RTCP packet as a phone sends it: an SR with one reception report,
// an RR with two, and an SDES, which carries none.
func reportsPacket(t testing.TB) []byte {
	t.Helper()
	b, err := rtcp.Marshal([]rtcp.Packet{
		&rtcp.SenderReport{SSRC: 1, NTPTime: 7, RTPTime: 160, PacketCount: 50, OctetCount: 8000,
			Reports: []rtcp.ReceptionReport{{SSRC: 2, FractionLost: 64, TotalLost: 3, Jitter: 80}}},
		&rtcp.ReceiverReport{SSRC: 1, Reports: []rtcp.ReceptionReport{
			{SSRC: 3, FractionLost: 0, Jitter: 160}, {SSRC: 4, FractionLost: 128, Jitter: 240}}},
		&rtcp.SourceDescription{Chunks: []rtcp.SourceDescriptionChunk{{Source: 1,
			Items: []rtcp.SourceDescriptionItem{{Type: rtcp.SDESCNAME, Text: "phone"}}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The relay reads the reception reports of the RTCP it relays, and relays the packet unchanged;
// the pool's totals count running relays and keep a stopped one's counters.
func TestRelayReadsRTCPReports(t *testing.T) {
	c := newCall(t, 0)
	pkt := reportsPacket(t)
	send(t, c.phoneA.rtcp.mustConn(), rtcpAddr(c.a), pkt)
	if got := recv(t, c.phoneB.rtcp.mustConn(), 5*time.Second); !bytes.Equal(got, pkt) {
		t.Fatalf("relayed RTCP %x, want %x", got, pkt)
	}
	send(t, c.phoneA.rtp.mustConn(), rtpAddr(c.a), marshalRTP(t, 1, make([]byte, 160)))
	recv(t, c.phoneB.rtp.mustConn(), 5*time.Second)

	want := DirectionStats{Packets: 1, Bytes: uint64(len(pkt)), Reports: 3, FractionLost: 192, Jitter: 480}
	if got := c.relay.Stats().RTCPAToB; got != want {
		t.Errorf("RTCP a→b %+v, want %+v", got, want)
	}
	pool := c.a.pool
	check := func(when string) {
		t.Helper()
		tot := pool.RelayTotals()
		if tot.RTCP != want || tot.RTP.Packets != 1 || tot.RTP.Bytes != 172 {
			t.Errorf("%s: totals %+v", when, tot)
		}
	}
	check("running")
	c.relay.Stop()
	c.relay.Stop()
	check("stopped twice")
}

// Packets readReports cannot walk are read as far as they go, never past their end.
func TestReadReportsBadPackets(t *testing.T) {
	good := reportsPacket(t)
	for name, b := range map[string][]byte{
		"empty":           nil,
		"short":           good[:3],
		"version 1":       append([]byte{0x41}, good[1:]...),
		"length too long": append([]byte{0x81, 200, 0xff, 0xff}, make([]byte, 40)...),
		"count past end":  {0x9f, 201, 0, 1, 0, 0, 0, 1},
		"truncated SR":    good[:40],
	} {
		var c counters
		readReports(b, &c)
		if n := c.reports.Load(); n != 0 {
			t.Errorf("%s: %d reports read", name, n)
		}
	}
}

// Relaying RTCP and reading its reports allocates nothing, like RTP (TestRelayPacketDoesNotAllocate).
func TestRelayRTCPDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	c := newCall(t, time.Hour)
	pkt := reportsPacket(t)
	buf := make([]byte, 2048)
	dst := rtcpAddr(c.a)
	in, out := c.phoneA.rtcp.mustConn(), c.phoneB.rtcp.mustConn()
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
		t.Errorf("%v allocations per relayed RTCP packet, want 0", allocs)
	}
	if n := c.relay.Stats().RTCPAToB.Reports; n < 3*1000 {
		t.Errorf("%d reports read, want at least 3,000", n)
	}
}

// BenchmarkRelayTotals is what a scrape pays for the media figures with 200 calls up (the
// package's test port block holds 250); the cost grows with the calls, linearly.
func BenchmarkRelayTotals(b *testing.B) {
	const calls = 200
	p := newPool(b, 2*calls)
	for range calls {
		a, c := open(b, p), open(b, p)
		r := NewRelay(a, c, 0)
		r.Start(context.Background())
		b.Cleanup(func() { r.Stop(); a.Close(); c.Close() })
	}
	b.ReportAllocs()
	for b.Loop() {
		p.RelayTotals()
	}
}
