//go:build linux

package media

import (
	"fmt"
	"testing"
)

// BenchmarkSendBatch is the cost of sending a read's worth of G.711 packets (172 bytes) on to
// a phone on loopback, which drains them on another goroutine as a phone would: one sendmmsg,
// with and without segmenting the run (UDP_SEGMENT). On loopback the sender's time includes
// the kernel's delivery into the phone's socket.
func BenchmarkSendBatch(b *testing.B) {
	for _, n := range []int{2, 3, 4, 8, 16} {
		for _, segment := range []bool{false, true} {
			b.Run(fmt.Sprintf("packets=%d/segmented=%v", n, segment), func(b *testing.B) {
				x := newBatchFixture(b)
				sb := new(sendBatch)
				sb.init()
				if segment && !sb.gso {
					b.Skip("this kernel does not segment UDP datagrams (UDP_SEGMENT)")
				}
				sb.gso = segment
				sizes := make([]int, n)
				for i := range sizes {
					sizes[i] = 160
				}
				pkts := packets(b, 1, sizes...)
				conn := x.phone.rtp.mustConn()
				drained := make(chan struct{})
				go func() {
					defer close(drained)
					buf := make([]byte, relayBufSize)
					for {
						if _, _, err := conn.ReadFromUDPAddrPort(buf); err != nil {
							return // closed with the endpoint
						}
					}
				}()
				b.Cleanup(func() { x.phone.Close(); <-drained })
				b.ResetTimer()
				for range b.N {
					sb.relay(x.f, &x.bufs, &x.msgs, &x.froms, x.read(b, pkts))
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/packet")
			})
		}
	}
}
