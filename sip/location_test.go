package sip

import (
	"sync"
	"testing"
	"time"

	"github.com/switchboard-voip/switchboard/internal/clock"
)

// The store's change feed reports each AOR's first phone and last phone, from registrations,
// unregistrations and expiries alike, in the order they happened; refreshes are not changes.
func TestLocationsChangeFeed(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_800_000_000, 0))
	m := NewMemoryLocations(clk)
	defer m.Close()
	var (
		mu  sync.Mutex
		got []string
	)
	stop := m.Watch(func(aor string, registered bool) {
		mu.Lock()
		defer mu.Unlock()
		state := "-"
		if registered {
			state = "+"
		}
		got = append(got, state+aor)
	})
	seen := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), got...)
	}
	at := func(d time.Duration) time.Time { return clk.Now().Add(d) }
	m.Put(Binding{AOR: "1001", Contact: "sip:a@h", Expires: at(time.Minute)})
	m.Put(Binding{AOR: "1001", Contact: "sip:b@h", Expires: at(2 * time.Minute)}) // a second phone
	m.Put(Binding{AOR: "1001", Contact: "sip:a@h", Expires: at(time.Minute)})     // a refresh
	m.Put(Binding{AOR: "1002", Contact: "sip:c@h", Expires: at(30 * time.Second)})
	m.Remove("1001", "sip:b@h")
	m.Remove("1001", "sip:nobody@h")
	if want := []string{"+1001", "+1002"}; !equal(seen(), want) {
		t.Fatalf("feed %v, want %v", seen(), want)
	}
	clk.Advance(30*time.Second + time.Millisecond) // 1002's phone lapses
	waitFeed(t, seen, []string{"+1001", "+1002", "-1002"})
	if m.Registered("1002") || !m.Registered("1001") || m.Count() != 1 {
		t.Fatalf("after 1002's expiry: 1002 %t, 1001 %t, count %d", m.Registered("1002"), m.Registered("1001"), m.Count())
	}
	m.RemoveAll("1001")
	waitFeed(t, seen, []string{"+1001", "+1002", "-1002", "-1001"})
	stop()
	m.Put(Binding{AOR: "1003", Contact: "sip:d@h", Expires: at(time.Minute)})
	if len(seen()) != 4 {
		t.Fatalf("a stopped watcher was called: %v", seen())
	}
	if clk.Pending() != 1 {
		t.Fatalf("%d expiry timers pending, want 1", clk.Pending())
	}
}

func waitFeed(t *testing.T, seen func() []string, want []string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !equal(seen(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("feed %v, want %v", seen(), want)
		}
		time.Sleep(time.Millisecond)
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
