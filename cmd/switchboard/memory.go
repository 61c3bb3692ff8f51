package main

import (
	"context"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// The collector's target follows the live heap and how fast the switch allocates. Between
// collections the heap may grow by the largest of gcHeadroom, a quarter of what is live, and
// what the switch allocates in gcEvery; GOGC stays between 25 and Go's 100. What a call in
// progress costs is its live state times the target: on a fixed 100 a switch carrying 2,000
// streaming calls held 130 MB of heap for 67 MB live, at 25 it holds 84 MB (94 KB a call in
// RSS became 66 KB). Streaming calls are long-lived signalling state and little garbage (8 MB
// a second at that load: a collection every two seconds). A high call rate is the opposite:
// at 1,200 calls a second the fixed 25 collected so often that set-up p50 went from 8 ms to
// 168 ms; collecting no more often than gcEvery gives the rate the room it needs. A small heap
// keeps 100 (gcHeadroom): memory is cheap there, and a low target on a small heap makes the
// collector run often (at 50 on the 1,000-watcher presence fan-out's heap, eight times in one
// fan-out, whose p99 went from 47 ms to 54 ms).
const (
	gcHeadroom   = 16 << 20
	gcEvery      = time.Second
	minGCPercent = 25
	maxGCPercent = 100
)

// gcPercentFor is the collector's target for a live heap of the given size while the switch
// allocates allocRate bytes a second, in steps of 5 so that a load changing a little does not
// retune the collector at every look.
func gcPercentFor(live, allocRate uint64) int {
	if live == 0 {
		return maxGCPercent
	}
	room := max(gcHeadroom, uint64(float64(allocRate)*gcEvery.Seconds()))
	p := int(min(room*100/live, maxGCPercent))
	return min(maxGCPercent, max(minGCPercent, p-p%5))
}

// tuneGC sets the collector's starting target and reports whether the switch manages it: not
// when the operator set GOGC (GOGC and GOMEMLIMIT keep their usual meaning).
func tuneGC(getenv func(string) string) bool {
	if getenv("GOGC") != "" {
		return false
	}
	debug.SetGCPercent(maxGCPercent)
	return true
}

// followHeap sets the collector's target (gcPercentFor) every interval until ctx ends. A second
// is short enough: a load of 1,200 calls a second doubles the heap in a few, and looked at every
// 10 s the collector ran at 100 long enough to peak at 400 MB, not 300. The allocation rate is
// smoothed over a few looks, so that one quiet second does not drop the target under a load.
func followHeap(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	percent := maxGCPercent
	allocs := readUint64(heapAllocs)
	var rate float64
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := readUint64(heapAllocs)
		rate = (rate + float64(now-allocs)/interval.Seconds()) / 2
		allocs = now
		if p := gcPercentFor(readUint64(heapLive), uint64(rate)); p != percent {
			debug.SetGCPercent(p)
			percent = p
		}
	}
}

// The runtime's figures followHeap reads: the heap live at the end of the last collection,
// and all the heap ever allocated.
const (
	heapLive   = "/gc/heap/live:bytes"
	heapAllocs = "/gc/heap/allocs:bytes"
)

// readUint64 reads one of the runtime's counters (0 if this runtime does not have it).
func readUint64(name string) uint64 {
	s := []metrics.Sample{{Name: name}}
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
// under a steady one the collector's headroom is at most what is live: a quarter of it at GOGC
// 25, as much at 100).
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
