package sip

import (
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchboard-voip/switchboard/internal/clock"
)

// FloodLimit is how many requests one source address may send (sip.flood), in the manner of
// Kamailio's pike: each address has a bucket of Burst requests refilled at Rate a second, and a
// request finding it empty is dropped unanswered (an answer would only feed the flood, or
// reflect it to a spoofed address). A phone sends a few requests a minute; a flood sends
// thousands a second, so one address flooding leaves every other address's calls working.
type FloodLimit struct {
	Rate  float64        // requests a second per address; 0 turns the limit off
	Burst int            // requests at once before the rate applies
	Trust []netip.Prefix // addresses never limited (a load balancer, a test generator)
}

// floodTrack is how many addresses are tracked at once: a spoofed-source flood cannot grow
// the table past it. Full buckets (addresses quiet for Burst/Rate seconds) are swept first;
// an address that finds the table full of busy ones is let through untracked.
const floodTrack = 1 << 16

// floods holds the buckets of FloodLimit.
type floods struct {
	limit atomic.Pointer[FloodLimit] // swapped whole by set (a config reload)
	clock clock.Clock

	mu        sync.Mutex
	buckets   map[netip.Addr]*bucket
	lastSweep time.Time
}

type bucket struct {
	tokens float64
	at     time.Time // when tokens was last brought up to date
}

func newFloods(l FloodLimit, c clock.Clock) *floods {
	f := &floods{clock: c, buckets: make(map[netip.Addr]*bucket)}
	f.set(l)
	return f
}

// set puts a new limit in force. The buckets stay: each is brought to the new rate and burst
// the next time its address sends, so a reload neither forgives nor punishes anyone.
func (f *floods) set(l FloodLimit) {
	l.Trust = slices.Clone(l.Trust)
	f.limit.Store(&l)
}

// rate is the requests a second in force, for the log.
func (f *floods) rate() float64 { return f.limit.Load().Rate }

// SetFlood puts a new sip.flood in force (a config reload) for every request read after it.
func (s *Server) SetFlood(l FloodLimit) { s.gate.floods.set(l) }

// allow takes one request from src's bucket and reports whether there was one to take.
func (f *floods) allow(src netip.Addr) bool {
	if f == nil {
		return true
	}
	limit := f.limit.Load()
	if limit.Rate <= 0 {
		return true
	}
	for _, p := range limit.Trust {
		if p.Contains(src) {
			return true
		}
	}
	now := f.clock.Now()
	burst := float64(max(limit.Burst, 1))
	f.mu.Lock()
	defer f.mu.Unlock()
	b := f.buckets[src]
	if b == nil {
		if len(f.buckets) >= floodTrack && !f.sweep(now, burst, limit.Rate) {
			return true
		}
		b = &bucket{tokens: burst, at: now}
		f.buckets[src] = b
	}
	b.tokens = min(burst, b.tokens+now.Sub(b.at).Seconds()*limit.Rate)
	b.at = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// sweep forgets the addresses whose buckets have refilled, and reports whether any was. It
// walks the whole table, so it runs at most once a second: a flood from ever new addresses
// must not make every packet pay for a walk.
func (f *floods) sweep(now time.Time, burst, rate float64) bool {
	if now.Sub(f.lastSweep) < time.Second {
		return false
	}
	f.lastSweep = now
	freed := false
	for a, b := range f.buckets {
		if b.tokens+now.Sub(b.at).Seconds()*rate >= burst {
			delete(f.buckets, a)
			freed = true
		}
	}
	return freed
}

// tracked is how many addresses have a bucket, for tests that bound memory under a flood.
func (f *floods) tracked() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.buckets)
}
