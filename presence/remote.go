package presence

import "fmt"

// The table is one node's. In a cluster each node keeps its own table, and a replication layer
// (package cluster) keeps them in step: DND settings live in a shared store and come back to
// every node in revision order (ApplyDND); each node publishes what only it knows, its own
// calls and registrations per user (ObserveLocal, Local), and applies what the other nodes
// publish (SetRemote, ClearNode). A user's status is then computed the same way on every node:
// DND if set, else Busy if on a call at any node, else Available.

// SharedStore is a Store shared by several nodes, whose saves are ordered by a revision. A
// table whose store is one records the revision of its own save, so that a replicated change
// older than it (still in flight when the user changed it here) is not applied over it.
type SharedStore interface {
	Store
	// SaveDNDRevision stores the setting as SaveDND does and returns the revision it got.
	SaveDNDRevision(ext string, s Setting) (uint64, error)
	// SaveDNDIf stores the setting only if ext's latest revision is rev (0: ext has none yet),
	// and returns the revision it got; ErrStale if another save came first. Every node's timer
	// sees an expiry or a working-hours boundary at once: one of them applies it.
	SaveDNDIf(ext string, s Setting, rev uint64) (uint64, error)
}

// Remote is what another node reports about one user.
type Remote struct {
	OnCall     bool // the user is on at least one call through that node
	Registered bool // the user has at least one phone registered at that node
}

// ApplyDND applies a DND setting replicated from the shared store, at revision rev. A revision
// not newer than the one applied is stale and changes nothing, so the store's own echo of a
// change made here, or an old change delivered late, never undoes a newer one. It is the
// replication path: nothing is saved. Unknown extensions are ignored.
func (t *Table) ApplyDND(ext string, s Setting, rev uint64) {
	e, ok := t.row(ext)
	if !ok {
		return
	}
	e.set.Lock() // after a Set here in progress, whose revision it must see
	defer e.set.Unlock()
	if rev <= e.rev || e.removed {
		return
	}
	e.rev = rev
	t.mu.Lock()
	e.setting = s
	t.publish(e)
	t.mu.Unlock()
	t.rearm(e)
}

// SetRemote records what node reports about ext; a zero Remote forgets the node for ext.
// Unknown extensions are ignored.
func (t *Table) SetRemote(ext, node string, r Remote) {
	e, ok := t.row(ext)
	if !ok {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if e.removed {
		return
	}
	if r == (Remote{}) {
		if !e.forget(node) {
			return
		}
	} else {
		if e.remote == nil {
			e.remote = make(map[string]Remote, 1)
		}
		e.remote[node] = r
	}
	t.publish(e)
}

// ClearNode forgets everything node reported (it left, or stopped answering) and returns how
// many users it touched.
func (t *Table) ClearNode(node string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, e := range t.rows.Load().list { // the rows as of now: Remove holds t.mu to change them
		if e.forget(node) {
			n++
			t.publish(e)
		}
	}
	return n
}

// forget drops what node reported about the user, and the map once empty (as endCall: no
// empty map per user left behind); it reports whether there was anything. t.mu is held.
func (e *entry) forget(node string) bool {
	if _, had := e.remote[node]; !had {
		return false
	}
	delete(e.remote, node)
	if len(e.remote) == 0 {
		e.remote = nil
	}
	return true
}

// ObserveLocal sets f to be told the extension whenever a user's calls through this node start
// or stop (the first call begins, the last one ends) or their registration here changes. f runs
// with the table locked: it must only note the extension (and read Local later, elsewhere). It
// may be set once, before the table is used.
func (t *Table) ObserveLocal(f func(ext string)) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.local != nil {
		return fmt.Errorf("presence: local observer already set")
	}
	t.local = f
	return nil
}

// Local returns what this node knows of ext on its own: on a call here, registered here; false
// if ext is not a user (or no longer one).
func (t *Table) Local(ext string) (Remote, bool) {
	e, ok := t.row(ext)
	if !ok {
		return Remote{}, false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if e.removed {
		return Remote{}, false
	}
	return e.local(), true
}

// Locals returns every user this node has something to report about (see Local), by extension.
func (t *Table) Locals() map[string]Remote {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[string]Remote)
	for _, e := range t.rows.Load().list {
		if r := e.local(); r != (Remote{}) {
			out[e.ext] = r
		}
	}
	return out
}

// local is what this node knows of the user on its own. t.mu is held.
func (e *entry) local() Remote { return Remote{OnCall: len(e.calls) > 0, Registered: e.registered} }

// localChanged tells the observer that row e's own calls or registration changed (or that it
// was removed). t.mu is held.
func (t *Table) localChanged(e *entry) {
	if t.local != nil {
		t.local(e.ext)
	}
}

// ApplyHours applies ext's working hours (nil: none) saved at another node: nothing is saved.
// The schedule is not applied at once, as SetHours does at the node where they were set: that
// node's change reaches this one as a DND setting. Unknown extensions are ignored.
func (t *Table) ApplyHours(ext string, h *Hours) error {
	e, ok := t.row(ext)
	if !ok {
		return nil
	}
	var sch *Schedule
	if h != nil {
		var err error
		if sch, err = h.Compile(); err != nil {
			return err
		}
	}
	e.set.Lock()
	defer e.set.Unlock()
	if e.removed {
		return nil
	}
	e.hours = sch
	t.rearm(e)
	return nil
}
