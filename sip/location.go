package sip

import (
	"sort"
	"sync"
	"time"
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
}

// Locations is the registration store: the only state the registrar keeps. It is an interface so
// that several nodes can later share one (NATS KV, Redis) without touching routing or calls.
type Locations interface {
	// Put adds or refreshes b (matched by AOR and Contact).
	Put(b Binding)
	// Remove drops one contact of aor; RemoveAll drops every contact of aor.
	Remove(aor, contact string)
	RemoveAll(aor string)
	// Lookup returns aor's live bindings, oldest first.
	Lookup(aor string) []Binding
	// Count returns the number of live bindings, for metrics.
	Count() int
}

// MemoryLocations keeps bindings in memory, the embedded single-node default. Expired bindings
// are invisible to Lookup at once and dropped from memory by Sweep.
type MemoryLocations struct {
	now func() time.Time

	mu   sync.RWMutex
	aors map[string][]Binding
}

// NewMemoryLocations returns an empty store; now may be nil (time.Now).
func NewMemoryLocations(now func() time.Time) *MemoryLocations {
	if now == nil {
		now = time.Now
	}
	return &MemoryLocations{now: now, aors: make(map[string][]Binding)}
}

// Put implements Locations.
func (m *MemoryLocations) Put(b Binding) {
	m.mu.Lock()
	defer m.mu.Unlock()
	list := m.aors[b.AOR]
	for i := range list {
		if list[i].Contact == b.Contact {
			list[i] = b
			return
		}
	}
	m.aors[b.AOR] = append(list, b)
}

// Remove implements Locations.
func (m *MemoryLocations) Remove(aor, contact string) {
	m.mu.Lock()
	defer m.mu.Unlock()
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
}

// RemoveAll implements Locations.
func (m *MemoryLocations) RemoveAll(aor string) {
	m.mu.Lock()
	delete(m.aors, aor)
	m.mu.Unlock()
}

// Lookup implements Locations.
func (m *MemoryLocations) Lookup(aor string) []Binding {
	now := m.now()
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out []Binding
	for _, b := range m.aors[aor] {
		if b.Expires.After(now) {
			out = append(out, b)
		}
	}
	return out
}

// Registered reports whether aor has at least one live binding.
func (m *MemoryLocations) Registered(aor string) bool {
	now := m.now()
	m.mu.RLock()
	defer m.mu.RUnlock()
	for _, b := range m.aors[aor] {
		if b.Expires.After(now) {
			return true
		}
	}
	return false
}

// Count implements Locations.
func (m *MemoryLocations) Count() int {
	now := m.now()
	m.mu.RLock()
	defer m.mu.RUnlock()
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

// Sweep drops expired bindings and returns the AORs that lost their last phone, sorted.
func (m *MemoryLocations) Sweep() []string {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	var emptied []string
	for aor, list := range m.aors {
		kept := list[:0]
		for _, b := range list {
			if b.Expires.After(now) {
				kept = append(kept, b)
			}
		}
		if len(kept) == 0 {
			delete(m.aors, aor)
			emptied = append(emptied, aor)
			continue
		}
		m.aors[aor] = kept
	}
	sort.Strings(emptied)
	return emptied
}
