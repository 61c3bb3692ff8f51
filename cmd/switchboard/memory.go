package main

import (
	"context"
	"runtime"
	"runtime/debug"
	"time"
)

// defaultGCPercent is the collector's target for a switch: the heap may grow to 1.5 times
// what is live rather than Go's default twice. Measured on the 3,000-call load of make
// bench-peer: RSS 225 MB at 100, 200 MB at 50, 186 MB at 25, with the collector's CPU under
// 1 % at each (a call's memory is long-lived signalling state, little garbage per second), so
// 50 buys a ninth of the memory for nothing anyone would notice.
const defaultGCPercent = 50

// tuneGC sets the collector's target unless the operator set one: GOGC and GOMEMLIMIT in
// the environment keep their usual meaning.
func tuneGC(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
}

// trimMemory gives memory back to the OS once a load is over, until ctx ends. Go returns
// freed heap to the OS only gradually, and only after a collection, which an idle switch does
// not run for minutes: after a burst of calls the process kept its peak. Every interval it
// looks at the heap, and when more than trimSlack is held unused it collects and returns that
// memory now (debug.FreeOSMemory: a few milliseconds at this size, at most once an interval)
// if either no collection has run since the last look (the switch is quiet: a loaded one
// collects every few seconds) or more is held unused than is allocated (the load has dropped:
// under a steady one the collector's headroom is half of what is live, at GOGC 50).
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
