package sip

import (
	"net/netip"
	"sync"
	"time"

	"github.com/switchboard-voip/switchboard/internal/clock"
)

// notes keeps a flood of one kind from one address to one log line an interval: 190 MB of log
// in 20 s of garbage told an operator nothing that the first line did not.
type notes struct {
	clock clock.Clock
	every time.Duration

	mu        sync.Mutex
	last      map[noteKey]*noteState
	lastSweep time.Time
}

type noteKey struct {
	kind string
	src  netip.Addr
}

type noteState struct {
	at         time.Time
	suppressed int
}

// notesTrack bounds the table; past it, addresses not seen for an interval are forgotten, and
// when none is, nothing new is logged until one is (the lines already logged said enough).
const notesTrack = 4096

func newNotes(c clock.Clock, every time.Duration) *notes {
	return &notes{clock: c, every: every, last: make(map[noteKey]*noteState)}
}

// note records one event of kind from src. It reports whether to log it (the first in the
// interval) and how many went unlogged before it.
func (n *notes) note(kind string, src netip.Addr) (suppressed int, log bool) {
	now := n.clock.Now()
	k := noteKey{kind, src}
	n.mu.Lock()
	defer n.mu.Unlock()
	s := n.last[k]
	if s == nil {
		if len(n.last) >= notesTrack && now.Sub(n.lastSweep) >= time.Second {
			n.lastSweep = now // a walk a second at most, however many addresses come
			for k, s := range n.last {
				if now.Sub(s.at) >= n.every {
					delete(n.last, k)
				}
			}
			if len(n.last) >= notesTrack {
				return 0, false
			}
		}
		n.last[k] = &noteState{at: now}
		return 0, true
	}
	if now.Sub(s.at) < n.every {
		s.suppressed++
		return 0, false
	}
	suppressed, s.at, s.suppressed = s.suppressed, now, 0
	return suppressed, true
}
