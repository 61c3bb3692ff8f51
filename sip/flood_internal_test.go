package sip

import (
	"net/netip"
	"testing"
	"time"

	"github.com/switchboard-voip/switchboard/internal/clock"
)

// TestFloodBucketsRefillAndStayBounded: an address gets its burst, then its rate; a flood
// from ever new (spoofed) addresses never grows the table past floodTrack, and quiet addresses
// are forgotten.
func TestFloodBucketsRefillAndStayBounded(t *testing.T) {
	fake := clock.NewFake(time.Now())
	f := newFloods(FloodLimit{Rate: 10, Burst: 20, Trust: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}, fake)
	a := netip.MustParseAddr("192.0.2.1")
	allowed := 0
	for range 100 {
		if f.allow(a) {
			allowed++
		}
	}
	if allowed != 20 {
		t.Fatalf("%d of 100 requests at once allowed, want the burst of 20", allowed)
	}
	fake.Advance(500 * time.Millisecond)
	allowed = 0
	for range 100 {
		if f.allow(a) {
			allowed++
		}
	}
	if allowed != 5 {
		t.Fatalf("%d allowed half a second later, want 5 (10 a second)", allowed)
	}
	for range 1000 {
		if !f.allow(netip.MustParseAddr("10.1.2.3")) {
			t.Fatal("a trusted address was limited")
		}
	}

	for i := range floodTrack + 5000 {
		f.allow(netip.AddrFrom4([4]byte{198, byte(i >> 16), byte(i >> 8), byte(i)}))
	}
	if n := f.tracked(); n > floodTrack {
		t.Fatalf("%d addresses tracked, more than floodTrack (%d)", n, floodTrack)
	}
	fake.Advance(3 * time.Second) // every bucket refilled: the next new address sweeps them
	f.allow(netip.MustParseAddr("203.0.113.9"))
	if n := f.tracked(); n > 10 {
		t.Fatalf("%d addresses still tracked after they went quiet", n)
	}
}

// TestNotesLogOncePerInterval: the first event of a kind from an address is logged, the rest
// of the interval counted, and the next interval's first line says how many were not logged.
func TestNotesLogOncePerInterval(t *testing.T) {
	fake := clock.NewFake(time.Now())
	n := newNotes(fake, time.Minute)
	src := netip.MustParseAddr("192.0.2.7")
	if _, log := n.note("garbage", src); !log {
		t.Fatal("the first event was not logged")
	}
	for range 99 {
		if _, log := n.note("garbage", src); log {
			t.Fatal("a second event in the interval was logged")
		}
	}
	if _, log := n.note("flood", src); !log {
		t.Fatal("another kind from the same address was not logged")
	}
	fake.Advance(time.Minute)
	if suppressed, log := n.note("garbage", src); !log || suppressed != 99 {
		t.Fatalf("next interval: logged %v with %d suppressed, want true with 99", log, suppressed)
	}
}
