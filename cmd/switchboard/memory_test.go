package main

import (
	"context"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/switchboard-voip/switchboard/internal/poll"
)

func TestTuneGCLeavesTheOperatorsSetting(t *testing.T) {
	prev := debug.SetGCPercent(100)
	defer debug.SetGCPercent(prev)

	debug.SetGCPercent(200)
	if tuneGC(func(string) string { return "200" }) {
		t.Error("with GOGC set, the switch says it manages the collector")
	}
	if got := debug.SetGCPercent(100); got != 200 {
		t.Errorf("with GOGC set, the GC percent became %d, want it left at 200", got)
	}
	if !tuneGC(func(string) string { return "" }) {
		t.Error("without GOGC, the switch says it leaves the collector alone")
	}
	if got := debug.SetGCPercent(100); got != maxGCPercent {
		t.Errorf("without GOGC, the GC percent is %d, want %d", got, maxGCPercent)
	}
}

// Between collections the heap may grow by 16 MB, a quarter of what is live, or a second of
// allocation, whichever is most: 100 for a small heap or a fast-allocating load, 25 for a big
// heap that changes slowly, in between in steps of 5.
func TestGCPercentFollowsTheLiveHeap(t *testing.T) {
	const mb = 1 << 20
	for _, c := range []struct {
		live, rate uint64
		want       int
	}{
		{0, 0, 100},
		{4 * mb, 0, 100},
		{16 * mb, 0, 100},
		{20 * mb, 0, 80},
		{30 * mb, 0, 50}, // 53.3, stepped down
		{32 * mb, 0, 50},
		{48 * mb, 0, 30}, // 33.3
		{64 * mb, 0, 25},
		{400 * mb, 0, 25},
		{64 * mb, 8 * mb, 25},   // streaming calls: little garbage
		{100 * mb, 20 * mb, 25}, // a second of allocation is less than a quarter
		{100 * mb, 40 * mb, 40},
		{100 * mb, 120 * mb, 100},
		{400 * mb, 1 << 40, 100}, // no overflow
	} {
		if got := gcPercentFor(c.live, c.rate); got != c.want {
			t.Errorf("gcPercentFor(%d MB live, %d MB/s) = %d, want %d", c.live/mb, c.rate/mb, got, c.want)
		}
	}
	runtime.GC()
	if readUint64(heapLive) == 0 || readUint64(heapAllocs) == 0 {
		t.Error("a heap figure read 0: a runtime/metrics name is wrong")
	}
	// Those trimMemory reads, which a collection has made non-zero (a heap in use has free
	// room in its spans, and idle spans the scavenger has not returned yet, which need not be).
	if h := readHeap(); h.unused == 0 || h.objects == 0 || h.goal == 0 || h.allocs == 0 || h.cycles == 0 {
		t.Errorf("a heap figure read 0: a runtime/metrics name is wrong: %+v", h)
	}
}

// After a burst, an idle process gives the burst's heap back to the OS within a few
// intervals instead of keeping it until Go's own scavenger gets round to it.
func TestTrimMemoryReturnsAnIdleBurst(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	burst := make([][]byte, 0, 64)
	for range 64 {
		burst = append(burst, make([]byte, 1<<20))
	}
	runtime.KeepAlive(burst)
	burst = nil
	runtime.GC() // the burst is now free, but held: idle spans not yet returned
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	before := ms.HeapReleased

	done := make(chan struct{})
	go func() { defer close(done); trimMemory(ctx, 20*time.Millisecond, 2) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		runtime.ReadMemStats(&ms)
		// Idle spans are what trimming returns; the free room inside spans still in use
		// (the rest of what is held unused) depends on what earlier tests of this process left live.
		if idle := ms.HeapIdle - ms.HeapReleased; ms.HeapReleased >= before+32<<20 && idle <= trimSlack {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("idle heap held %d MB (unused in all %d MB), released %d MB more; want the burst returned",
				(ms.HeapIdle-ms.HeapReleased)>>20, (ms.HeapIdle-ms.HeapReleased+ms.HeapInuse-ms.HeapAlloc)>>20, (ms.HeapReleased-before)>>20)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
}

// shouldTrim returns a quiet switch's unused heap, and under a load only what a heavier load
// left idle beyond what the collector lets the heap grow into; figures in MB, as the bench saw
// them after a step of 1,600 calls a second and during 2,000 streaming calls.
func TestShouldTrim(t *testing.T) {
	const mb = 1 << 20
	for _, c := range []struct {
		name                                          string
		idle, released, inuse, alloc, next, allocated uint64
		quiet                                         bool
		want                                          bool
	}{
		{name: "quiet, the heap held unused", idle: 60, released: 20, inuse: 70, alloc: 40, next: 190, quiet: true, want: true},
		{name: "quiet, little held unused", idle: 10, released: 8, inuse: 44, alloc: 40, next: 50, quiet: true, want: false},
		{name: "a heavier load's heap left idle", idle: 103, released: 37, inuse: 120, alloc: 41, next: 54, allocated: 8, want: true},
		{name: "a steady load's next cycle", idle: 122, released: 111, inuse: 90, alloc: 69, next: 93, allocated: 8, want: false},
		{name: "a heavy load just after a collection", idle: 73, released: 29, inuse: 141, alloc: 53, next: 80, allocated: 60, want: false},
		{name: "surplus under the slack", idle: 16, released: 8, inuse: 60, alloc: 50, next: 52, allocated: 1, want: false},
		{name: "allocation past the goal", idle: 30, released: 0, inuse: 100, alloc: 95, next: 90, allocated: 8, want: true},
	} {
		h := heapFigures{free: (c.idle - c.released) * mb, unused: (c.inuse - c.alloc) * mb, objects: c.alloc * mb,
			goal: c.next * mb}
		if got := shouldTrim(h, c.quiet, c.allocated*mb); got != c.want {
			t.Errorf("%s: shouldTrim = %v, want %v", c.name, got, c.want)
		}
	}
}

// followHeap lowers the collector's target once the live heap is big and raises it again when
// the heap is small.
func TestFollowHeapSetsTheTarget(t *testing.T) {
	prev := debug.SetGCPercent(maxGCPercent)
	defer debug.SetGCPercent(prev)
	gogc := func() uint64 {
		s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
		metrics.Read(s)
		return s[0].Value.Uint64()
	}
	wait := func(want uint64) {
		t.Helper()
		if !poll.Until(10*time.Second, func() bool { return gogc() == want }) {
			t.Fatalf("GC percent %d with %d MB live, want %d", gogc(), readUint64(heapLive)>>20, want)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); followHeap(ctx, 5*time.Millisecond) }()
	defer func() { cancel(); <-done }()

	big := make([][]byte, 0, 80)
	for range 80 {
		big = append(big, make([]byte, 1<<20))
	}
	runtime.GC()
	wait(minGCPercent)
	runtime.KeepAlive(big)
	big = nil
	runtime.GC()
	wait(maxGCPercent)
}
