package sip

import (
	"sort"
	"sync"
	"time"

	"github.com/switchboard-voip/switchboard/internal/clock"
)

// Binding is one registered phone of a user: where its Contact says it lives, where its
// REGISTER actually came from, and where requests to it go (Dest), decided once when it
// registered (see destination: the Contact, or the source for a phone behind NAT, or the first
// proxy of its Path).
type Binding struct {
	AOR       string    // the user's extension
	Contact   string    // the Contact URI as the phone wrote it (the Request-URI for calls to it)
	Source    string    // host:port the REGISTER came from
	Dest      string    // host:port requests to the phone are sent to
	Path      []string  // RFC 3327 Path URIs, first hop first: Route headers of requests to it
	Transport string    // "UDP" or "TCP": how requests to Dest travel
	Expires   time.Time // when the binding lapses unless refreshed
	CallID    string    // of the REGISTER, to order refreshes
	CSeq      uint32
	UserAgent string
	// Peer is the cluster node this binding reaches, for a phone registered there (Contact and
	// Dest are the node's); "" for a phone registered here.
	Peer string
}

// Locations is the registration store: the only state the registrar keeps, and the one source
// of "is this user registered" for routing, the status table and metrics. It is an interface so
// that several nodes can share one (NATS KV, Redis) without touching routing or calls.
type Locations interface {
	// Put adds or refreshes b (matched by AOR and Contact).
	Put(b Binding)
	// Remove drops one contact of aor; RemoveAll drops every contact of aor.
	Remove(aor, contact string)
	RemoveAll(aor string)
	// Lookup returns aor's live bindings, oldest first.
	Lookup(aor string) []Binding
	// Registered reports whether aor has a live binding.
	Registered(aor string) bool
	// Count returns the number of live bindings, for metrics.
	Count() int
	// Watch calls f, in order, each time an AOR gains its first live binding or loses its last
	// (a REGISTER, an unregistration, an expiry); stop ends the calls. f must not call back
	// into the store.
	Watch(f func(aor string, registered bool)) (stop func())
}

// MemoryLocations keeps bindings in memory, the embedded single-node default. Expired bindings
// are invisible to Lookup at once; a timer on the store's clock drops them and reports the
// AORs left without a phone.
type MemoryLocations struct {
	clock clock.Clock

	mu       sync.Mutex
	aors     map[string][]Binding
	timer    clock.Timer // fires at the earliest expiry
	timerAt  time.Time
	closed   bool
	watchers map[int]func(aor string, registered bool)
	nextID   int

	notify sync.Mutex // orders the watchers' calls as the changes happened
}

// NewMemoryLocations returns an empty store whose expiry runs on clk (nil: the wall clock).
// Close stops its timer.
func NewMemoryLocations(clk clock.Clock) *MemoryLocations {
	if clk == nil {
		clk = clock.Real()
	}
	return &MemoryLocations{clock: clk, aors: make(map[string][]Binding),
		watchers: make(map[int]func(string, bool))}
}

// Close stops the expiry timer; the store keeps answering lookups.
func (m *MemoryLocations) Close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	if m.timer != nil {
		m.timer.Stop()
	}
}

// Watch implements Locations.
func (m *MemoryLocations) Watch(f func(aor string, registered bool)) (stop func()) {
	m.mu.Lock()
	id := m.nextID
	m.nextID++
	m.watchers[id] = f
	m.mu.Unlock()
	return func() {
		m.mu.Lock()
		delete(m.watchers, id)
		m.mu.Unlock()
	}
}

// change runs edit, which reports the AORs whose registered state it changed, re-arms the
// expiry timer (for aor's bindings, or all for "") and tells the watchers, in order.
func (m *MemoryLocations) change(aor string, edit func(now time.Time) []regChange) {
	m.mu.Lock()
	now := m.clock.Now()
	changes := edit(now)
	m.armLocked(aor, now)
	watchers := make([]func(string, bool), 0, len(m.watchers))
	for _, f := range m.watchers {
		watchers = append(watchers, f)
	}
	m.notify.Lock() // before mu is released: the next change's calls wait for these
	m.mu.Unlock()
	defer m.notify.Unlock()
	for _, c := range changes {
		for _, f := range watchers {
			f(c.aor, c.registered)
		}
	}
}

// touch runs edit on aor's bindings and reports aor when it gained its first binding or lost
// its last. A lapsed binding counts until the expiry timer drops it, so that the drop is the
// change reported.
func (m *MemoryLocations) touch(aor string, edit func()) {
	m.change(aor, func(time.Time) []regChange {
		had := len(m.aors[aor]) > 0
		edit()
		if has := len(m.aors[aor]) > 0; has != had {
			return []regChange{{aor, has}}
		}
		return nil
	})
}

type regChange struct {
	aor        string
	registered bool
}

// armLocked sets the expiry timer for the earliest binding to lapse, among aor's (a change to
// one AOR can only bring the earliest expiry forward) or all ("", after an expiry).
func (m *MemoryLocations) armLocked(aor string, now time.Time) {
	if m.closed {
		return
	}
	var next time.Time
	earliest := func(list []Binding) {
		for _, b := range list {
			if next.IsZero() || b.Expires.Before(next) {
				next = b.Expires
			}
		}
	}
	if aor != "" {
		earliest(m.aors[aor])
	} else {
		for _, list := range m.aors {
			earliest(list)
		}
	}
	if next.IsZero() || (m.timer != nil && !next.Before(m.timerAt)) {
		return // nothing to expire, or the timer already fires first
	}
	if m.timer != nil {
		m.timer.Stop()
	}
	m.timerAt = next
	// A millisecond past the expiry: Lookup already treats the binding as gone at Expires.
	m.timer = m.clock.AfterFunc(next.Sub(now)+time.Millisecond, m.expire)
}

// expire drops lapsed bindings and reports the AORs they left without a phone.
func (m *MemoryLocations) expire() {
	m.change("", func(now time.Time) []regChange {
		m.timer = nil
		var emptied []regChange
		for aor, list := range m.aors {
			kept := list[:0]
			for _, b := range list {
				if b.Expires.After(now) {
					kept = append(kept, b)
				}
			}
			if len(kept) == 0 {
				delete(m.aors, aor)
				emptied = append(emptied, regChange{aor, false})
				continue
			}
			m.aors[aor] = kept
		}
		sort.Slice(emptied, func(i, j int) bool { return emptied[i].aor < emptied[j].aor })
		return emptied
	})
}

// Put implements Locations.
func (m *MemoryLocations) Put(b Binding) {
	m.touch(b.AOR, func() {
		list := m.aors[b.AOR]
		for i := range list {
			if list[i].Contact == b.Contact {
				list[i] = b
				return
			}
		}
		m.aors[b.AOR] = append(list, b)
	})
}

// Remove implements Locations.
func (m *MemoryLocations) Remove(aor, contact string) {
	m.touch(aor, func() {
		list := m.aors[aor]
		for i := range list {
			if list[i].Contact == contact {
				list = append(list[:i:i], list[i+1:]...)
				break
			}
		}
		if len(list) == 0 {
			delete(m.aors, aor)
			return
		}
		m.aors[aor] = list
	})
}

// RemoveAll implements Locations.
func (m *MemoryLocations) RemoveAll(aor string) {
	m.touch(aor, func() { delete(m.aors, aor) })
}

// Lookup implements Locations.
func (m *MemoryLocations) Lookup(aor string) []Binding {
	now := m.clock.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Binding
	for _, b := range m.aors[aor] {
		if b.Expires.After(now) {
			out = append(out, b)
		}
	}
	return out
}

// Registered implements Locations.
func (m *MemoryLocations) Registered(aor string) bool {
	now := m.clock.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, b := range m.aors[aor] {
		if b.Expires.After(now) {
			return true
		}
	}
	return false
}

// Count implements Locations.
func (m *MemoryLocations) Count() int {
	now := m.clock.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, list := range m.aors {
		for _, b := range list {
			if b.Expires.After(now) {
				n++
			}
		}
	}
	return n
}
