package media

import (
	"context"
	"runtime"
	"testing"
	"time"
)

// BenchmarkRelayMemoryPerCall reports what one relayed call costs in memory: two endpoints (four
// sockets) and a started relay (its registrations with the pool's readers), measured over 200
// calls held at once, as heap plus goroutine stacks. Kernel socket buffers are not counted.
func BenchmarkRelayMemoryPerCall(b *testing.B) {
	const calls = 200
	for i := 0; i < b.N; i++ {
		p := newPool(b, 2*calls)
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		ctx, cancel := context.WithCancel(context.Background())
		relays := make([]*Relay, 0, calls)
		eps := make([]*Endpoint, 0, 2*calls)
		for c := 0; c < calls; c++ {
			a, bb := open(b, p), open(b, p)
			r := NewRelay(a, bb, time.Minute)
			r.Start(ctx)
			relays = append(relays, r)
			eps = append(eps, a, bb)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		used := (after.HeapInuse + after.StackInuse) - (before.HeapInuse + before.StackInuse)
		b.ReportMetric(float64(used)/calls, "B/call")
		b.ReportMetric(float64(runtime.NumGoroutine())/calls, "goroutines/call")
		cancel()
		for _, r := range relays {
			r.Stop()
		}
		for _, e := range eps {
			_ = e.Close()
		}
	}
}
