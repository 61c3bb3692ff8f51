package digest

import (
	"encoding/binary"
	"runtime"
	"testing"
	"time"
)

// TestReplayTableStaysBounded drives the replay table as a long run of
// registrations would: nonces keep arriving while old ones expire, and the
// table must not keep the expired ones.
func TestReplayTableStaysBounded(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	s := NewServer(Options{Realm: "r", NonceTTL: time.Minute, Now: func() time.Time { return now }})
	const perSecond = 100
	peak := 0
	for sec := range 600 { // ten TTLs
		for i := range perSecond {
			var id nonceID
			issued := now.UnixNano()
			binary.BigEndian.PutUint64(id[:8], uint64(issued))
			binary.BigEndian.PutUint64(id[8:], uint64(sec*perSecond+i))
			if !s.advance(id, 1, issued) {
				t.Fatal("fresh nonce rejected")
			}
		}
		peak = max(peak, len(s.seen))
		now = now.Add(time.Second)
	}
	// Live nonces number about 60 s × 100/s = 6000; a sweep at doubling
	// allows up to twice that before it runs.
	if limit := 2*60*perSecond + minSweep; peak > limit {
		t.Errorf("replay table peaked at %d entries, want <= %d", peak, limit)
	}
}

// TestReplayTableForgetsABurst drives the table as a busy hour followed by a quiet one: a
// burst of nonces, then, once they have expired, one registration a second. Once the burst's nonces expire the table
// must let them and the room they took go, though it never doubles again.
func TestReplayTableForgetsABurst(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	s := NewServer(Options{Realm: "r", NonceTTL: time.Minute, Now: func() time.Time { return now }})
	seq := uint64(0)
	add := func() {
		t.Helper()
		var id nonceID
		issued := now.UnixNano()
		binary.BigEndian.PutUint64(id[:8], uint64(issued))
		binary.BigEndian.PutUint64(id[8:], seq)
		seq++
		if !s.advance(id, 1, issued) {
			t.Fatal("fresh nonce rejected")
		}
	}
	heap := func() int64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return int64(ms.HeapAlloc)
	}
	const burst = 100_000
	before := heap()
	for range burst {
		add()
	}
	during := heap() - before
	now = now.Add(2 * time.Minute) // the burst's nonces expire
	for range 10 {                 // then one registration a second
		add()
		now = now.Add(time.Second)
	}
	if n := len(s.seen); n > 10 {
		t.Errorf("replay table holds %d entries after the burst expired, want the 10 since", n)
	}
	if kept := heap() - before; kept > during/4 {
		t.Errorf("replay table keeps %d KB after the burst expired, %d KB during it", kept>>10, during>>10)
	}
	runtime.KeepAlive(s) // the server must be live when its heap is measured
}
