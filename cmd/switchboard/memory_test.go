package main

import (
	"context"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

func TestTuneGCLeavesTheOperatorsSetting(t *testing.T) {
	prev := debug.SetGCPercent(100)
	defer debug.SetGCPercent(prev)

	tuneGC(func(string) string { return "200" })
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("with GOGC set, the GC percent became %d, want it left at 100", got)
	}
	tuneGC(func(string) string { return "" })
	if got := debug.SetGCPercent(100); got != defaultGCPercent {
		t.Errorf("without GOGC, the GC percent is %d, want %d", got, defaultGCPercent)
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
	go func() { defer close(done); trimMemory(ctx, 20*time.Millisecond) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		runtime.ReadMemStats(&ms)
		if ms.HeapReleased >= before+32<<20 && heldUnused(&ms) <= trimSlack {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("heap held unused %d MB, released %d MB more; want the burst returned",
				heldUnused(&ms)>>20, (ms.HeapReleased-before)>>20)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
}
