package main

import (
	"context"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// The collector's target follows the live heap. Past bigHeap (thousands of calls), 50: the
// heap may grow to 1.5 times what is live rather than Go's default twice. Measured on the
// 3,000-call load of make bench-peer: RSS 225 MB at 100, 200 MB at 50, 186 MB at 25, with the
// collector's CPU under 1 % at each (a call's memory is long-lived signalling state, little
// garbage per second), so 50 buys a ninth of the memory for nothing anyone would notice. Below
// it, Go's 100: memory is cheap there, and a low target on a small heap makes the collector run
// often (at 50 every 2 MB allocated: eight times in one 1,000-watcher presence fan-out, whose
// p99 went from 47 ms to 54 ms). smallHeap below bigHeap keeps a heap near the line from
// switching at every look.
const (
	bigHeapGCPercent   = 50
	smallHeapGCPercent = 100
	bigHeap            = 64 << 20
	smallHeap          = 48 << 20
)

// gcPercentFor is the collector's target for a live heap of the given size, cur being the
// target in force.
func gcPercentFor(cur int, live uint64) int {
	switch {
	case live >= bigHeap:
		return bigHeapGCPercent
	case live < smallHeap:
		return smallHeapGCPercent
	}
	return cur
}

// tuneGC sets the collector's starting target and reports whether the switch manages it: not
// when the operator set GOGC (GOGC and GOMEMLIMIT keep their usual meaning).
func tuneGC(getenv func(string) string) bool {
	if getenv("GOGC") != "" {
		return false
	}
	debug.SetGCPercent(smallHeapGCPercent)
	return true
}

// followHeap sets the collector's target for the live heap (gcPercentFor) every interval until
// ctx ends. A second is short enough: a load of 1,200 calls a second takes the heap past bigHeap
// in a few, and looked at every 10 s it ran at 100 long enough to peak at 400 MB, not 300.
func followHeap(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	percent := smallHeapGCPercent
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if p := gcPercentFor(percent, liveHeap()); p != percent {
			debug.SetGCPercent(p)
			percent = p
		}
	}
}

// liveHeap is the heap that was live at the end of the last collection.
func liveHeap() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

// trimMemory gives memory back to the OS once a load is over, until ctx ends. Go returns
// freed heap to the OS only gradually, and only after a collection, which an idle switch does
// not run for minutes: after a burst of calls the process kept its peak. Every interval it
// looks at the heap, and when more than trimSlack is held unused it collects and returns that
// memory now (debug.FreeOSMemory: a few milliseconds at this size, at most once an interval)
// if either no collection has run since the last look (the switch is quiet: a loaded one
// collects every few seconds) or more is held unused than is allocated (the load has dropped:
// under a steady one the collector's headroom is at most what is live: half of it at GOGC 50, as
// much at 100).
func trimMemory(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	var lastGC uint32
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		quiet := ms.NumGC == lastGC
		lastGC = ms.NumGC
		if unused := heldUnused(&ms); unused > trimSlack && (quiet || unused > ms.HeapAlloc) {
			debug.FreeOSMemory()
			runtime.ReadMemStats(&ms)
			lastGC = ms.NumGC
		}
	}
}

// trimSlack is how much unused heap an idle switch may keep for the next burst.
const trimSlack = 8 << 20

// heldUnused is heap memory the process holds from the OS without objects in it: idle spans
// not yet returned, and the free room inside the spans in use.
func heldUnused(ms *runtime.MemStats) uint64 {
	return ms.HeapIdle - ms.HeapReleased + ms.HeapInuse - ms.HeapAlloc
}
