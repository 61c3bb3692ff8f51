package digest

import (
	"encoding/binary"
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
			if !s.advance(id, 1, issued+s.ttl, issued) {
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
