package main

import (
	"context"
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
	return sampleUint64(s[0])
}

// sampleUint64 is a sample's value, or 0 if this runtime does not have its metric.
func sampleUint64(s metrics.Sample) uint64 {
	if s.Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s.Value.Uint64()
}

// trimMemory gives memory back to the OS once a load is over or has dropped, until ctx ends.
// Go returns freed heap to the OS only gradually, and only after a collection, which an idle
// switch does not run for minutes: after a burst of calls the process kept its peak. It looks
// at the heap every interval and, when shouldTrim says so, collects and returns the unused
// memory now (debug.FreeOSMemory: a few milliseconds at this size). The switch is quiet once
// the runtime has started no collection for quietLooks looks in a row; the collections
// trimMemory forces do not count.
func trimMemory(ctx context.Context, interval time.Duration, quietLooks int) {
	t := time.NewTicker(interval)
	defer t.Stop()
	h := readHeap()
	lastGC, sinceGC, allocs := h.cycles, 0, h.allocs
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		h = readHeap()
		if h.cycles == lastGC {
			sinceGC++
		} else {
			lastGC, sinceGC = h.cycles, 0
		}
		allocated := h.allocs - allocs
		allocs = h.allocs
		if shouldTrim(h, sinceGC >= quietLooks, allocated) {
			debug.FreeOSMemory()
			h = readHeap()
			lastGC, sinceGC, allocs = h.cycles, 0, h.allocs
		}
	}
}

// shouldTrim says whether to return the heap's unused memory now, given the runtime's figures,
// whether the switch is quiet, and what it allocated since the last look. Quiet, when more than
// trimSlack is held unused. Under a load, when the idle heap beyond what the collector lets the
// heap grow into before its next collection is more than trimSlack and more than the switch
// allocated since the last look: a heavier load left it (after 1,600 calls a second, 53 MB over
// 2,000 streaming calls' needs, which the runtime's scavenger took 20 s to return), and this
// one will not use it. A steady load's idle heap is what its next cycle grows into, and a heavy
// one allocates more in a look than any surplus, so neither is trimmed.
func shouldTrim(h heapFigures, quiet bool, allocated uint64) bool {
	if quiet {
		return h.free+h.unused > trimSlack
	}
	room := h.goal - min(h.goal, h.objects)
	if h.free <= room {
		return false
	}
	surplus := h.free - room
	return surplus > trimSlack && surplus > allocated
}

// heapFigures are the runtime's heap figures trimMemory decides on, in bytes. They are read
// through runtime/metrics, which does not stop the world as runtime.ReadMemStats does: once a
// second under a load that would pause every goroutine relaying audio.
type heapFigures struct {
	free    uint64 // idle spans not returned to the OS (MemStats' HeapIdle − HeapReleased)
	unused  uint64 // free room in the spans in use (HeapInuse − HeapAlloc)
	objects uint64 // in objects, live or not yet collected (HeapAlloc)
	goal    uint64 // the heap size at which the next collection starts (NextGC)
	allocs  uint64 // all the heap ever allocated (TotalAlloc)
	cycles  uint64 // collections, forced ones included (NumGC)
}

// heapMetrics are the runtime/metrics names of heapFigures' fields, in their order.
var heapMetrics = [...]string{
	"/memory/classes/heap/free:bytes",
	"/memory/classes/heap/unused:bytes",
	"/memory/classes/heap/objects:bytes",
	"/gc/heap/goal:bytes",
	heapAllocs,
	"/gc/cycles/total:gc-cycles",
}

// readHeap reads heapFigures (a figure this runtime does not have reads 0).
func readHeap() heapFigures {
	var s [len(heapMetrics)]metrics.Sample
	for i, name := range heapMetrics {
		s[i].Name = name
	}
	metrics.Read(s[:])
	return heapFigures{
		free: sampleUint64(s[0]), unused: sampleUint64(s[1]), objects: sampleUint64(s[2]),
		goal: sampleUint64(s[3]), allocs: sampleUint64(s[4]), cycles: sampleUint64(s[5]),
	}
}

// trimLook and trimQuietLooks are how often trimMemory looks, and how many looks without a
// collection make the switch quiet: a second, so that a load that drops is trimmed before the
// next one grows on its leftovers; ten, so that an idle switch collects at most once in 10 s.
const (
	trimLook       = time.Second
	trimQuietLooks = 10
)

// trimSlack is how much unused heap an idle switch may keep for the next burst.
const trimSlack = 8 << 20
