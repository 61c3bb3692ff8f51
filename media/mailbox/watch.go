package mailbox

import (
	"sync"
	"sync/atomic"
)

// Watch registers f to be called after any change to a box (a message
// committed, marked heard or new, deleted) with the box's counts after the
// change; the SIP layer sends message-waiting NOTIFYs from it.
//
// Calls come from one goroutine per Store, one at a time, in the order the
// changes were committed; a slow f never delays the writer. Changes that
// pile up for a box while f is busy are coalesced to the latest counts,
// which is all message-waiting indication needs, so memory stays bounded
// by the number of boxes. f must not block for long: it delays every other
// watcher.
//
// The returned cancel unregisters f: once it returns f is not called again,
// except for a call already running. cancel may be called from within f.
// After Close, Watch registers nothing and f is never called.
func (s *Store) Watch(f func(box string, newCount, oldCount int)) (cancel func()) {
	return s.notes.add(f)
}

// notifier queues changes and delivers them to watchers on its own
// goroutine, as pion/ice's handlerNotifier does.
type notifier struct {
	mu       sync.Mutex
	watchers []*watcher
	pending  []string          // boxes with an undelivered change, oldest first
	latest   map[string]counts // box → counts of its newest undelivered change
	lastSeq  map[string]uint64 // box → seq of the newest change queued
	closed   bool

	wake    chan struct{} // capacity 1: "pending is not empty"
	done    chan struct{} // closed by close
	stopped chan struct{} // closed when run returns
	once    sync.Once
}

type watcher struct {
	f         func(box string, newCount, oldCount int)
	cancelled atomic.Bool
}

func newNotifier() *notifier {
	n := &notifier{
		latest:  make(map[string]counts),
		lastSeq: make(map[string]uint64),
		wake:    make(chan struct{}, 1),
		done:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	go n.run()
	return n
}

func (n *notifier) add(f func(string, int, int)) func() {
	w := &watcher{f: f}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return func() {}
	}
	n.watchers = append(n.watchers, w)
	return func() {
		w.cancelled.Store(true) // stops a delivery already under way
		n.mu.Lock()
		defer n.mu.Unlock()
		for i, x := range n.watchers {
			if x == w {
				n.watchers = append(n.watchers[:i:i], n.watchers[i+1:]...)
				break
			}
		}
	}
}

// publish queues box's counts after the change numbered seq. Two writers
// may publish in the opposite order to their commits; seq lets the older
// change be dropped instead of overwriting the newer counts.
func (n *notifier) publish(box string, c counts, seq uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed || seq <= n.lastSeq[box] {
		return
	}
	n.lastSeq[box] = seq
	if len(n.watchers) == 0 {
		return
	}
	if _, queued := n.latest[box]; !queued {
		n.pending = append(n.pending, box)
	}
	n.latest[box] = c
	select {
	case n.wake <- struct{}{}:
	default: // already signalled
	}
}

func (n *notifier) run() {
	defer close(n.stopped)
	for {
		select {
		case <-n.done:
			return
		case <-n.wake:
		}
		for {
			box, c, ws, ok := n.next()
			if !ok {
				break
			}
			for _, w := range ws {
				select {
				case <-n.done:
					return
				default:
				}
				if !w.cancelled.Load() {
					w.f(box, c.new, c.old)
				}
			}
		}
	}
}

// next takes the oldest pending change and the watchers to tell.
func (n *notifier) next() (string, counts, []*watcher, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.pending) == 0 {
		n.pending = nil // let the backing array go after a burst
		return "", counts{}, nil, false
	}
	box := n.pending[0]
	n.pending = n.pending[1:]
	c := n.latest[box]
	delete(n.latest, box)
	// A copy, so watchers may come and go while this change is delivered.
	return box, c, append([]*watcher(nil), n.watchers...), true
}

// close stops run and waits for it. A call to a watcher under way finishes
// first, so close must not be called from a watcher.
func (n *notifier) close() {
	n.once.Do(func() {
		n.mu.Lock()
		n.closed = true
		n.watchers = nil
		n.mu.Unlock()
		close(n.done)
	})
	<-n.stopped
}
