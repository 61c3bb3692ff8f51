package media

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/ipv4"
)

// BenchmarkRelayStreams relays G.711 both ways on 240 calls at once, as phones send it: a
// packet every 20 ms on each side of each call, 24,000 a second in all, through the pool's
// readers, for 2 s of audio per iteration (run it with -benchtime=1x). It reports the
// process's CPU time per relayed packet (the phones' sending and receiving included: they cost
// the same whatever the relay does, so compare figures of one machine) and the packets lost.
// The phones send and read in batches (sendmmsg, recvmmsg), so most of the CPU is the relay's.
func BenchmarkRelayStreams(b *testing.B) {
	const (
		calls = 240 // four ports a call: what the tests' block of media ports holds
		tick  = 20 * time.Millisecond
		audio = 2 * time.Second
	)
	pool := newPool(b, 2*calls)
	for b.Loop() {
		ctx, cancel := context.WithCancel(context.Background())
		phoneA, phoneB := listen(b), listen(b)
		for _, c := range []*net.UDPConn{phoneA, phoneB} {
			_ = c.SetReadBuffer(8 << 20)
			_ = c.SetWriteBuffer(8 << 20)
		}
		var toA, toB []netip.AddrPort // the relays' sides the phones send to
		var relays []*Relay
		var eps []*Endpoint
		for range calls {
			a, bb := open(b, pool), open(b, pool)
			a.SetRemote(addrOf(phoneA))
			bb.SetRemote(addrOf(phoneB))
			r := NewRelay(a, bb, time.Minute)
			r.Start(ctx)
			relays, eps = append(relays, r), append(eps, a, bb)
			toA, toB = append(toA, rtpAddr(a)), append(toB, rtpAddr(bb))
		}
		var received atomic.Int64
		var wg sync.WaitGroup
		for _, ph := range []*net.UDPConn{phoneA, phoneB} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				readPhone(ph, &received)
			}()
		}
		stop := make(chan struct{})
		var sent atomic.Int64
		for _, side := range []struct {
			from *net.UDPConn
			to   []netip.AddrPort
		}{{phoneA, toA}, {phoneB, toB}} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sent.Add(sendEvery(side.from, side.to, tick, stop))
			}()
		}
		time.Sleep(200 * time.Millisecond) // every call flowing
		r0, cpu0, start := received.Load(), cpuTime(), time.Now()
		time.Sleep(audio)
		relayed, cpu, wall := received.Load()-r0, cpuTime()-cpu0, time.Since(start)
		close(stop)
		// The last packets sent reach the phones or are counted lost: wait for the counts to settle.
		for last := int64(-1); last != received.Load(); time.Sleep(50 * time.Millisecond) {
			last = received.Load()
		}
		phoneA.SetReadDeadline(time.Now())
		phoneB.SetReadDeadline(time.Now())
		wg.Wait() // the senders have added what they sent, the readers what they received
		lost := sent.Load() - received.Load()
		cancel()
		for _, r := range relays {
			r.Stop()
		}
		for _, e := range eps {
			_ = e.Close()
		}
		b.ReportMetric(float64(cpu.Nanoseconds())/1000/float64(relayed), "µs-cpu/packet")
		b.ReportMetric(float64(relayed)/wall.Seconds(), "packets/s")
		b.ReportMetric(float64(lost), "lost")
	}
}

// sendEvery sends one 172-byte RTP packet to each of to every tick, in batches, until stop is
// closed, and returns how many it sent.
func sendEvery(from *net.UDPConn, to []netip.AddrPort, tick time.Duration, stop <-chan struct{}) int64 {
	pc := ipv4.NewPacketConn(from)
	pkt := rtpFrom(0x1234, 1, 160, 0x55)
	msgs := make([]ipv4.Message, len(to))
	for i, dst := range to {
		msgs[i] = ipv4.Message{Buffers: [][]byte{pkt}, Addr: net.UDPAddrFromAddrPort(dst)}
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	var sent int64
	for {
		select {
		case <-stop:
			return sent
		case <-t.C:
		}
		for rest := msgs; len(rest) > 0; {
			n, err := pc.WriteBatch(rest, 0)
			if err != nil {
				return sent
			}
			sent += int64(n)
			rest = rest[n:]
		}
	}
}

// readPhone counts the datagrams c receives until its read deadline passes.
func readPhone(c *net.UDPConn, received *atomic.Int64) {
	pc := ipv4.NewPacketConn(c)
	msgs := make([]ipv4.Message, 64)
	for i := range msgs {
		msgs[i].Buffers = [][]byte{make([]byte, 1500)}
	}
	for {
		n, err := pc.ReadBatch(msgs, 0)
		if err != nil {
			return
		}
		received.Add(int64(n))
	}
}
