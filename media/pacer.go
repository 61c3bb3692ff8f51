package media

import (
	"sync"
	"sync/atomic"
	"time"
)

// maxCatchUp is how many missed ticks a shard makes up for by ticking back
// to back after a stall (a GC pause, an overloaded host). Beyond that the
// frames are skipped: the streams' timestamps jump over them, as after
// silence, rather than sending a long burst the phones would drop anyway.
const maxCatchUp = 5

// epoch anchors mono, which reads the monotonic clock as a plain int64.
var epoch = time.Now()

// mono returns the monotonic time in nanoseconds since epoch; never 0 in
// practice, which lets 0 mean "not yet".
func mono() int64 { return int64(time.Since(epoch)) + 1 }

// Pacer clocks the streams the switch generates. Each of a few shards runs
// one goroutine that wakes every 20 ms on a fixed grid (a deadline loop, so
// that timer lateness does not add up to drift), builds one packet per
// stream in the stream's own buffer and sends it: thousands of streams share
// a handful of goroutines and timers. The shards' grids are staggered so
// that their packets do not all leave at once.
type Pacer struct {
	shards []*shard
	quit   chan struct{}
	wg     sync.WaitGroup

	mu     sync.Mutex
	closed bool
}

// shard is one pacer goroutine and the streams it clocks.
type shard struct {
	mu      sync.Mutex
	streams []*Stream
	closed  bool

	// Owned by the shard goroutine.
	snap  []*Stream
	frame [FrameSamples]int16

	// busy and ticks measure the pacer's cost (benchmarks read them).
	busy  atomic.Int64 // nanoseconds spent in ticks
	ticks atomic.Int64
}

// NewPacer starts a pacer with the given number of shards (at least one);
// about one per CPU spreads the load. Close stops it.
func NewPacer(shards int) *Pacer {
	p := &Pacer{quit: make(chan struct{})}
	start := time.Now()
	n := max(shards, 1)
	for i := range n {
		sh := &shard{}
		p.shards = append(p.shards, sh)
		p.wg.Add(1)
		go sh.run(start.Add(time.Duration(i)*frameDuration/time.Duration(n)), p.quit, &p.wg)
	}
	return p
}

// Close stops the shards, waits for them and closes every stream still on
// the pacer (their Play and SendDTMF channels close). It is idempotent.
func (p *Pacer) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	p.mu.Unlock()
	close(p.quit)
	p.wg.Wait()
	for _, sh := range p.shards {
		sh.mu.Lock()
		streams := sh.streams
		sh.streams, sh.closed = nil, true
		sh.mu.Unlock()
		for _, st := range streams {
			st.mu.Lock()
			st.closeLocked()
			st.mu.Unlock()
		}
	}
}

// Streams returns the number of streams on the pacer.
func (p *Pacer) Streams() int {
	n := 0
	for _, sh := range p.shards {
		sh.mu.Lock()
		n += len(sh.streams)
		sh.mu.Unlock()
	}
	return n
}

// add puts st on the least loaded shard; on a closed pacer st is closed.
func (p *Pacer) add(st *Stream) {
	best := p.shards[0]
	bestLen := -1
	for _, sh := range p.shards {
		sh.mu.Lock()
		if n := len(sh.streams); bestLen < 0 || n < bestLen {
			best, bestLen = sh, n
		}
		sh.mu.Unlock()
	}
	best.mu.Lock()
	defer best.mu.Unlock()
	if best.closed {
		st.closed = true
		return
	}
	st.sh = best
	st.idx = len(best.streams)
	best.streams = append(best.streams, st)
}

// remove takes st off the shard (swap with the last); idempotent.
func (sh *shard) remove(st *Stream) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	i := st.idx
	if i < 0 || i >= len(sh.streams) || sh.streams[i] != st {
		return
	}
	last := len(sh.streams) - 1
	sh.streams[i] = sh.streams[last]
	sh.streams[i].idx = i
	sh.streams[last] = nil
	sh.streams = sh.streams[:last]
	st.idx = -1
}

// run is the shard's deadline loop: tick k is due at start + k·20 ms.
func (sh *shard) run(start time.Time, quit <-chan struct{}, wg *sync.WaitGroup) {
	defer wg.Done()
	timer := time.NewTimer(time.Until(start))
	defer timer.Stop()
	var done int64 // ticks run (or skipped) so far
	for {
		select {
		case <-quit:
			return
		case <-timer.C:
		}
		now := time.Now()
		due := int64(now.Sub(start)/frameDuration) + 1
		var skipped uint32
		if late := due - done; late > maxCatchUp {
			skipped = uint32(late - maxCatchUp)
			done += int64(skipped)
		}
		for done < due {
			done++
			sh.tick(skipped)
			skipped = 0
		}
		timer.Reset(time.Until(start.Add(time.Duration(done) * frameDuration)))
	}
}

// tick runs one 20 ms step of every stream on the shard. The stream list is
// copied under the lock into a reused slice, so adding or removing streams
// never waits for the sends.
func (sh *shard) tick(skipped uint32) {
	t0 := mono()
	sh.mu.Lock()
	sh.snap = append(sh.snap[:0], sh.streams...)
	sh.mu.Unlock()
	for _, st := range sh.snap {
		if n := st.tick(sh.frame[:], skipped, t0); n > 0 {
			st.ep.rtp.send(st.pkt[:n])
		}
	}
	clear(sh.snap) // do not keep closed streams alive until the next tick
	sh.busy.Add(mono() - t0)
	sh.ticks.Add(1)
}
