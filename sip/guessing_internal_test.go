package sip

import (
	"net/netip"
	"testing"
	"time"

	"github.com/switchboard-voip/switchboard/internal/clock"
)

// TestGuessingAUserDoesNotLockOutTheirPhone: guesses at 1001 from ever-changing addresses block
// the user name for new addresses, but not for the address 1001's phone authenticated from.
func TestGuessingAUserDoesNotLockOutTheirPhone(t *testing.T) {
	fake := clock.NewFake(time.Now())
	g := newGuesses(fake)
	phone := netip.MustParseAddr("192.0.2.10")
	g.succeeded(phone, "1001")
	for i := 0; i < guessLimit; i++ {
		g.failed(netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}), "1001")
	}
	if !g.blocked(netip.MustParseAddr("198.51.100.200"), "1001") {
		t.Error("a new address guessing 1001 is not blocked after the limit")
	}
	if g.blocked(phone, "1001") {
		t.Error("1001's own phone is locked out by someone else's guesses")
	}
	if g.blocked(netip.MustParseAddr("198.51.100.200"), "1002") {
		t.Error("another user is blocked too")
	}
	fake.Advance(guessBlock + time.Second)
	if g.blocked(netip.MustParseAddr("198.51.100.200"), "1001") {
		t.Error("still blocked after the block's time")
	}
}
