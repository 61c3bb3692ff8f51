package presence

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// State is one user's presence, as the API and watchers see it.
type State struct {
	Ext        string    `json:"ext"`
	Name       string    `json:"name"`
	Status     Status    `json:"status"`
	DND        bool      `json:"dnd"`
	OnCall     bool      `json:"on_call"`
	Registered bool      `json:"registered"`
	Changed    time.Time `json:"changed"` // last change of Status
	// Seq is the table-wide change counter at this state's change: it orders events, and a
	// client that already has a state with a higher Seq for the extension drops this one.
	Seq uint64 `json:"seq"`
}

// User is a configured user, as the table needs it.
type User struct{ Ext, Name string }

// entry is one user's row.
type entry struct {
	// snap is the latest State; never modified once stored, so readers need no lock.
	snap atomic.Pointer[State]
	// set serialises SetDND for this user, so that the stored and applied settings agree.
	set sync.Mutex

	// Guarded by Table.mu.
	dnd        bool
	calls      map[string]struct{} // ids of the calls the user is on; nil when none
	registered bool
	remote     map[string]Remote // other nodes' view of the user, by node; nil when none

	// rev is the shared store's revision of the DND setting applied (0 with a local store);
	// guarded by set. A replicated change older than it is stale and is not applied.
	rev uint64
}

// Table is a node's status table. It is safe for concurrent use. In a cluster every node has
// one, kept in step by package cluster (see remote.go).
//
// Reads (Status, Get, List, Counts) take no lock: each user's latest State is an immutable
// value behind an atomic pointer. Changes are serialised by one mutex, held only to update a
// row and queue the new State to each watcher; no change ever waits for a watcher to read, nor
// for the disk (SetDND writes its store before taking the lock).
type Table struct {
	index map[string]int // ext → row; never changes after NewTable
	users []entry
	store Store
	now   func() time.Time

	mu       sync.Mutex
	seq      uint64
	watchers []*Watcher
	local    func(ext string) // told when a user's calls or registration here change; see ObserveLocal
}

// NewTable builds the table for users, in that order, with DND settings loaded from store.
// Every user starts off calls and unregistered. Stored settings of extensions that are not in
// users are ignored.
func NewTable(users []User, store Store) (*Table, error) {
	if store == nil {
		return nil, errors.New("presence: nil store")
	}
	dnd, err := store.LoadDND()
	if err != nil {
		return nil, fmt.Errorf("presence: load DND settings: %w", err)
	}
	t := &Table{
		index: make(map[string]int, len(users)),
		users: make([]entry, len(users)),
		store: store,
		now:   time.Now,
	}
	now := t.now()
	for i, u := range users {
		if u.Ext == "" {
			return nil, fmt.Errorf("presence: user %d has no extension", i)
		}
		if _, dup := t.index[u.Ext]; dup {
			return nil, fmt.Errorf("presence: extension %q listed twice", u.Ext)
		}
		t.index[u.Ext] = i
		e := &t.users[i]
		e.dnd = dnd[u.Ext]
		e.snap.Store(&State{
			Ext:     u.Ext,
			Name:    u.Name,
			Status:  effective(e.dnd, 0),
			DND:     e.dnd,
			Changed: now,
		})
	}
	return t, nil
}

// Status returns ext's effective status; false if ext is not a user. It is the read routing
// does on every call: lock-free, no allocation, never waits behind a writer or a watcher.
func (t *Table) Status(ext string) (Status, bool) {
	i, ok := t.index[ext]
	if !ok {
		return "", false
	}
	return t.users[i].snap.Load().Status, true
}

// Get returns ext's state; false if ext is not a user.
func (t *Table) Get(ext string) (State, bool) {
	i, ok := t.index[ext]
	if !ok {
		return State{}, false
	}
	return *t.users[i].snap.Load(), true
}

// List returns every user's state in configured order. Each state is the latest at the moment
// it was read; use WatchList for a listing consistent with a watcher.
func (t *Table) List() []State {
	out := make([]State, len(t.users))
	for i := range t.users {
		out[i] = *t.users[i].snap.Load()
	}
	return out
}

// Counts returns how many users have each status; all three keys are present.
func (t *Table) Counts() map[Status]int {
	c := map[Status]int{Available: 0, Busy: 0, DND: 0}
	for i := range t.users {
		c[t.users[i].snap.Load().Status]++
	}
	return c
}

// SetDND turns ext's DND on or off. The setting is saved to the store first; if that fails,
// nothing changes, no watcher hears of it, and the error is returned. Only once it is durable is
// it applied and watchers notified. Setting the value a user already has notifies nobody and
// returns the state; it saves nothing unless the store is shared (SharedStore), where another
// node's newer setting may not have reached this table yet. An unknown ext returns ErrUnknownUser.
//
// SetDND waits for the store (a disk sync); calls and status reads do not wait for it.
func (t *Table) SetDND(ext string, on bool) (State, error) {
	i, ok := t.index[ext]
	if !ok {
		return State{}, fmt.Errorf("%w: %q", ErrUnknownUser, ext)
	}
	e := &t.users[i]
	e.set.Lock()
	defer e.set.Unlock()
	// e.set is held, so with a store of this node's own the snapshot's DND is current. A
	// shared store may hold a newer setting made at another node and not here yet: it is
	// always written, so that the last change made anywhere is the one that stays.
	shared, isShared := t.store.(SharedStore)
	if cur := e.snap.Load(); cur.DND == on && !isShared {
		return *cur, nil
	}
	if isShared {
		rev, err := shared.SaveDNDRevision(ext, on)
		if err != nil {
			return State{}, err
		}
		e.rev = max(e.rev, rev)
	} else if err := t.store.SaveDND(ext, on); err != nil {
		return State{}, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	e.dnd = on
	return t.publish(i), nil
}

// CallStarted records that ext is on the call callID (incoming or outgoing, from answer to
// hang-up). Calls are a set of ids per user, so a start delivered twice (a retry, a replicated
// backend's redelivery) is still one call. Unknown extensions (trunk numbers, outside callers)
// and an empty callID are ignored.
func (t *Table) CallStarted(ext, callID string) {
	i, ok := t.index[ext]
	if !ok || callID == "" {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	e := &t.users[i]
	if _, dup := e.calls[callID]; dup {
		return
	}
	if e.calls == nil {
		e.calls = make(map[string]struct{}, 1)
	}
	e.calls[callID] = struct{}{}
	if len(e.calls) == 1 {
		t.localChanged(i)
	}
	t.publish(i)
}

// CallEnded records that ext's call callID ended. Ending a call ext is not on (never started,
// already ended, an empty id) changes nothing, so an end delivered twice, or before its start
// was ever seen, is harmless. Unknown extensions are ignored.
func (t *Table) CallEnded(ext, callID string) {
	i, ok := t.index[ext]
	if !ok {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	e := &t.users[i]
	if _, on := e.calls[callID]; !on {
		return
	}
	e.endCall(callID)
	if e.calls == nil {
		t.localChanged(i)
	}
	t.publish(i)
}

// endCall takes callID off the user's calls, and the set itself once it is empty: a set made
// at a user's first call of a busy hour and kept, empty, afterwards is a small object per user
// left behind by the load, each keeping a page of the heap in use after the garbage around it
// was freed (Go's collector does not move objects), so the process stayed bigger than before
// the load.
func (e *entry) endCall(callID string) {
	delete(e.calls, callID)
	if len(e.calls) == 0 {
		e.calls = nil
	}
}

// EndCallsWhere ends, for every user, each call whose id match accepts, as CallEnded would,
// and returns how many (user, call) pairs it ended: every call of this process's SIP side at
// once, when it stops or restarts. A nil match ends nothing. (Calls through other nodes of a
// cluster are not in these sets: see SetRemote and ClearNode.)
func (t *Table) EndCallsWhere(match func(callID string) bool) int {
	if match == nil {
		return 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for i := range t.users {
		e := &t.users[i]
		ended := 0
		for id := range e.calls {
			if match(id) {
				e.endCall(id)
				ended++
			}
		}
		if ended > 0 {
			n += ended
			if e.calls == nil {
				t.localChanged(i)
			}
			t.publish(i)
		}
	}
	return n
}

// SetRegistered records whether ext has at least one phone registered. It never changes the
// status. Unknown extensions are ignored.
func (t *Table) SetRegistered(ext string, registered bool) {
	i, ok := t.index[ext]
	if !ok {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.users[i].registered != registered {
		t.users[i].registered = registered
		t.localChanged(i)
	}
	t.publish(i)
}

// publish makes row i's fields visible: if any field of State changed, it stores a new State
// with the next Seq and queues it to every watcher. It returns the row's state. t.mu is held.
func (t *Table) publish(i int) State {
	e := &t.users[i]
	old := e.snap.Load()
	calls, registered := len(e.calls), e.registered
	for _, r := range e.remote {
		if r.OnCall {
			calls++
		}
		registered = registered || r.Registered
	}
	status, onCall := effective(e.dnd, calls), calls > 0
	if status == old.Status && e.dnd == old.DND && onCall == old.OnCall && registered == old.Registered {
		return *old
	}
	t.seq++
	s := &State{
		Ext:        old.Ext,
		Name:       old.Name,
		Status:     status,
		DND:        e.dnd,
		OnCall:     onCall,
		Registered: registered,
		Changed:    old.Changed,
		Seq:        t.seq,
	}
	if status != old.Status {
		s.Changed = t.now()
	}
	e.snap.Store(s)
	for _, w := range t.watchers {
		w.queue(i, s)
	}
	return *s
}
