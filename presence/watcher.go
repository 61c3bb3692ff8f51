package presence

import (
	"slices"
	"sync"
)

// Feed is what a reader of the table's changes uses: a SIP notifier, an SSE client. It is an
// alias of an interface literal, not a named interface, so that a consumer can declare the same
// literal under its own name (sip.StatusFeed, api.StatusFeed) and a method returning Feed
// satisfies the consumer's interface: Go matches method results by type identity, and two
// aliases of the same literal are one type. Another backend (a replicated table) returns its
// own feed as this type.
//
// A Feed is read by one goroutine:
//
//	for range f.Ready() {
//		for _, s := range f.Changes() {
//			...
//		}
//	}
//
// The loop ends when the feed is closed. Close it when the subscription or request ends.
type Feed = interface {
	// Ready is signalled when changes are pending, and closed by Close.
	Ready() <-chan struct{}
	// Changes takes the pending changes, in ascending Seq.
	Changes() []State
	// Close stops delivery; it may be called more than once.
	Close()
}

// Watcher is the table's Feed. Changes are queued to it without ever blocking the table.
//
// A coalescing watcher (Watch) that reads slowly, or not at all, gets them coalesced to the
// latest State per extension, in the order the extensions last changed. Nothing is lost between
// two reads: every extension that changed since the last Changes call is in the next one, with
// its latest state.
//
// An ordered watcher (WatchOrdered) gets every change, one State per change, in Seq order, up
// to its limit of pending changes. Reaching the limit (a reader that fell behind) turns the
// pending changes into what a coalescing watcher would hold: the latest State of each extension
// that changed, in the order they last changed; the intermediate steps are dropped and counted
// (Dropped). Until the reader next calls Changes, further changes coalesce the same way; after
// it, delivery is step by step again. Memory stays bounded whatever the reader does: at most
// limit entries pending while ordered, and while coalescing at most twice the number of rows
// with a change pending (64 at least): the users, plus any added and removed since the last
// read (a removed row's last state stays pending until it is read).
//
// Pending changes are keyed by row, not extension: a user removed and added back is two rows,
// so the reader gets the old row's Removed state and then the new row's first state.
type Watcher struct {
	t       *Table
	ready   chan struct{}
	ordered bool // every change, up to limit; else coalesced
	limit   int

	mu         sync.Mutex
	closed     bool
	overflowed bool // ordered, but coalescing until the next Changes
	dropped    uint64
	pend       []pending      // in Seq order; s == nil: superseded by a later entry
	pos        map[uint64]int // row id → its latest entry in pend

	// The reader's; pend and pos alternate with them.
	sparePend []pending
	sparePos  map[uint64]int
	out       []State
}

type pending struct {
	row uint64 // entry.id
	s   *State
}

// Watch starts a coalescing watcher that is queued every change from now on. Pair it with List
// (call Watch first, then drop events whose Seq is not above the listed one), or use WatchList.
// The Feed is a *Watcher.
func (t *Table) Watch() Feed {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.watchLocked(false, 0)
}

// WatchOrdered starts an ordered watcher: every change from now on, each as it happened, in
// Seq order, with at most limit changes pending (a limit below 1 is taken as 1); see Watcher
// for what happens beyond it. It is for a reader that must show every step, such as a SIP
// notifier: a call that starts and ends between two reads still shows busy, then available.
// The Feed is a *Watcher.
func (t *Table) WatchOrdered(limit int) Feed {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.watchLocked(true, max(limit, 1))
}

// WatchList starts a coalescing watcher and returns every user's state (in List's order) as
// of that moment: every change after the listing is queued to the watcher, and none before
// it.
func (t *Table) WatchList() (Feed, []State) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.watchLocked(false, 0), t.List()
}

func (t *Table) watchLocked(ordered bool, limit int) *Watcher {
	w := &Watcher{
		t:        t,
		ready:    make(chan struct{}, 1),
		ordered:  ordered,
		limit:    limit,
		pos:      make(map[uint64]int),
		sparePos: make(map[uint64]int),
	}
	t.watchers = append(t.watchers, w)
	return w
}

// Watchers returns how many watchers are open.
func (t *Table) Watchers() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.watchers)
}

// Ready is signalled (a capacity-1 channel) when changes are pending, and closed by Close.
// After a receive, call Changes: a signal is sent when the queue goes from empty to
// non-empty, so one receive may stand for many changes, and a receive may find none.
func (w *Watcher) Ready() <-chan struct{} { return w.ready }

// Changes takes the pending changes in ascending Seq: for a coalescing watcher (or an ordered
// one that overflowed since the last call) at most one State per extension, the latest; for an
// ordered one every change. It may be empty; it is nil once the watcher is closed. The slice is
// reused: it is valid until the next Changes call.
func (w *Watcher) Changes() []State {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	pend, pos := w.pend, w.pos
	w.pend, w.pos = w.sparePend[:0], w.sparePos
	w.overflowed = false
	w.mu.Unlock()

	// Copy outside the lock: writers queue into the other pair meanwhile.
	out := w.out[:0]
	for _, p := range pend {
		if p.s != nil {
			out = append(out, *p.s)
		}
		delete(pos, p.row)
	}
	clear(pend) // let delivered and superseded states go
	w.out = out

	w.mu.Lock()
	w.sparePend, w.sparePos = pend[:0], pos
	w.mu.Unlock()
	return out
}

// Close stops delivery: nothing more is queued, pending changes are dropped, Changes returns
// nil and Ready is closed. It may be called more than once, from any goroutine.
func (w *Watcher) Close() {
	t := w.t
	t.mu.Lock()
	if i := slices.Index(t.watchers, w); i >= 0 {
		t.watchers = slices.Delete(t.watchers, i, i+1)
	}
	t.mu.Unlock()

	// The table no longer queues to w, so closing ready cannot race a send.
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	w.closed = true
	w.pend, w.pos = nil, nil
	close(w.ready)
}

// Dropped returns how many changes an ordered watcher has coalesced away, its reader having
// fallen more than its limit behind: changes it never delivered because a later state of the
// same extension replaced them. Always 0 for a coalescing watcher, which drops by design.
func (w *Watcher) Dropped() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.dropped
}

// queue adds s, the new state of row: appended for an ordered watcher below its limit, else
// replacing any pending state of that row. It never blocks on the reader: the reader holds
// w.mu only to swap buffers. Table.mu is held.
func (w *Watcher) queue(row uint64, s *State) {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	wasEmpty := len(w.pos) == 0
	if w.ordered && !w.overflowed && len(w.pend) >= w.limit {
		w.overflow()
	}
	if p, ok := w.pos[row]; ok && (!w.ordered || w.overflowed) {
		w.pend[p].s = nil
		if w.ordered {
			w.dropped++
		}
	}
	w.pos[row] = len(w.pend)
	w.pend = append(w.pend, pending{row: row, s: s})
	if n := len(w.pend); (!w.ordered || w.overflowed) && n >= 64 && n >= 2*len(w.pos) {
		w.compact()
	}
	w.mu.Unlock()
	if wasEmpty {
		select {
		case w.ready <- struct{}{}:
		default: // a signal is already waiting
		}
	}
}

// overflow turns an ordered watcher's full queue into the latest state per extension, in the
// order they last changed, and coalesces until the reader takes it. w.mu is held.
func (w *Watcher) overflow() {
	for i, p := range w.pend {
		if w.pos[p.row] != i {
			w.pend[i].s = nil
			w.dropped++
		}
	}
	w.compact()
	w.overflowed = true
}

// compact drops superseded entries, keeping the order. w.mu is held.
func (w *Watcher) compact() {
	n := 0
	for _, p := range w.pend {
		if p.s != nil {
			w.pos[p.row] = n
			w.pend[n] = p
			n++
		}
	}
	clear(w.pend[n:])
	w.pend = w.pend[:n]
}
