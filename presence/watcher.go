package presence

import (
	"slices"
	"sync"
)

// Watcher receives the table's changes: a SIP NOTIFY sender, an SSE client. Changes are
// queued to it without ever blocking the table: a watcher that reads slowly, or not at all,
// gets them coalesced to the latest State per extension, in the order the extensions last
// changed. Nothing is lost between two reads: every extension that changed since the last
// Changes call is in the next one, with its latest state.
//
// A Watcher is read by one goroutine:
//
//	for range w.Ready() {
//		for _, s := range w.Changes() {
//			...
//		}
//	}
//
// The loop ends when the watcher is closed. Close it when the subscription or request ends.
type Watcher struct {
	t     *Table
	ready chan struct{}

	mu     sync.Mutex
	closed bool
	pend   []pending   // in order of last change; s == nil: superseded by a later entry
	pos    map[int]int // row → its entry in pend

	// The reader's; pend and pos alternate with them.
	sparePend []pending
	sparePos  map[int]int
	out       []State
}

type pending struct {
	row int
	s   *State
}

// Watch starts a watcher that is queued every change from now on. Pair it with List (call
// Watch first, then drop events whose Seq is not above the listed one), or use WatchList.
func (t *Table) Watch() *Watcher {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.watchLocked()
}

// WatchList starts a watcher and returns every user's state (in configured order) as of that
// moment: every change after the listing is queued to the watcher, and none before it.
func (t *Table) WatchList() (*Watcher, []State) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.watchLocked(), t.List()
}

func (t *Table) watchLocked() *Watcher {
	w := &Watcher{
		t:        t,
		ready:    make(chan struct{}, 1),
		pos:      make(map[int]int),
		sparePos: make(map[int]int),
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

// Changes takes the pending changes: at most one State per extension, the latest, in the
// order the extensions last changed (ascending Seq). It may be empty; it is nil once the
// watcher is closed. The slice is reused: it is valid until the next Changes call.
func (w *Watcher) Changes() []State {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	pend, pos := w.pend, w.pos
	w.pend, w.pos = w.sparePend[:0], w.sparePos
	w.mu.Unlock()

	// Copy outside the lock: writers queue into the other pair meanwhile.
	out := w.out[:0]
	for _, p := range pend {
		if p.s != nil {
			out = append(out, *p.s)
		}
		delete(pos, p.row)
	}
	clear(pend) // let superseded states go
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

// queue adds s, the new state of row, replacing any pending state of that row. It never
// blocks on the reader: the reader holds w.mu only to swap buffers. Table.mu is held.
func (w *Watcher) queue(row int, s *State) {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	wasEmpty := len(w.pos) == 0
	if p, ok := w.pos[row]; ok {
		w.pend[p].s = nil
	}
	w.pos[row] = len(w.pend)
	w.pend = append(w.pend, pending{row: row, s: s})
	if n := len(w.pend); n >= 64 && n >= 2*len(w.pos) {
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
