package presence

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchboard-voip/switchboard/internal/clock"
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
	// The DND setting's reason and end time (only while DND is on), and who changed the setting
	// last (on or off), how, and when.
	Reason string    `json:"reason,omitempty"`
	Until  time.Time `json:"until,omitzero"`
	Source Source    `json:"source,omitempty"`
	By     string    `json:"by,omitempty"`
	SetAt  time.Time `json:"set_at,omitzero"`
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
	// set serialises changes of this user's setting and working hours (Set, ApplyDND, SetHours,
	// the timer), so that the stored and applied settings agree.
	set sync.Mutex

	// Guarded by set: the user's working hours (nil: none), and the timer that applies the
	// next expiry or schedule boundary (nil: none pending).
	hours *Schedule
	timer clock.Timer

	// Guarded by Table.mu (written with set held too, so that holding set is enough to read).
	setting    Setting
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
// for the disk (Set writes its store before taking the lock).
type Table struct {
	index map[string]int // ext → row; never changes after NewTable
	users []entry
	store Store
	hours HoursStore // nil: working hours cannot be set
	clock clock.Clock
	now   func() time.Time
	// closed stops timers from being armed; guarded by each row's set when read by it.
	closed atomic.Bool

	mu       sync.Mutex
	seq      uint64
	watchers []*Watcher
	local    func(ext string) // told when a user's calls or registration here change; see ObserveLocal
}

// Option configures a Table.
type Option func(*Table)

// WithClock makes the table tell the time, and run DND expiries and working-hours boundaries,
// on c (default clock.Real()).
func WithClock(c clock.Clock) Option { return func(t *Table) { t.clock = c } }

// WithHours lets users have working hours, kept in hs (default: none can be set).
func WithHours(hs HoursStore) Option { return func(t *Table) { t.hours = hs } }

// NewTable builds the table for users, in that order, with DND settings loaded from store (and
// working hours from the HoursStore, if given). Every user starts off calls and unregistered.
// Stored settings of extensions that are not in users are ignored. Expiries and schedule
// boundaries that passed while the switch was down are applied by Start, not here.
func NewTable(users []User, store Store, opts ...Option) (*Table, error) {
	if store == nil {
		return nil, errors.New("presence: nil store")
	}
	t := &Table{
		index: make(map[string]int, len(users)),
		users: make([]entry, len(users)),
		store: store,
		clock: clock.Real(),
	}
	for _, o := range opts {
		o(t)
	}
	t.now = t.clock.Now
	settings, err := store.LoadDND()
	if err != nil {
		return nil, fmt.Errorf("presence: load DND settings: %w", err)
	}
	var hours map[string]Hours
	if t.hours != nil {
		if hours, err = t.hours.LoadHours(); err != nil {
			return nil, fmt.Errorf("presence: load working hours: %w", err)
		}
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
		e.setting = settings[u.Ext]
		if h, ok := hours[u.Ext]; ok {
			if e.hours, err = h.Compile(); err != nil {
				return nil, fmt.Errorf("presence: stored working hours of %s: %w", u.Ext, err)
			}
		}
		s := &State{Ext: u.Ext, Name: u.Name, Changed: now}
		s.setDND(e.setting)
		s.Status = effective(e.setting.DND, 0)
		e.snap.Store(s)
	}
	return t, nil
}

// Start applies what fell due while the switch was down (a DND that ended, a working-hours
// boundary passed) and arms the timers for what comes next. Call it once, before serving.
func (t *Table) Start() {
	for i := range t.users {
		t.users[i].set.Lock()
		t.rearm(i)
		t.users[i].set.Unlock()
	}
}

// Close stops the table's timers: no expiry or schedule change is applied after it returns
// (one already running finishes first).
func (t *Table) Close() {
	t.closed.Store(true)
	for i := range t.users {
		e := &t.users[i]
		e.set.Lock()
		if e.timer != nil {
			e.timer.Stop()
			e.timer = nil
		}
		e.set.Unlock()
	}
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

// SetDND turns ext's DND on or off with no reason and no end, as the user: Set with a bare
// change, for tests and tools that do not care who made it.
func (t *Table) SetDND(ext string, on bool) (State, error) {
	return t.Set(ext, Change{DND: on, Source: SourceUser, By: ext})
}

// Set applies a DND change to ext. The setting is saved to the store first; if that fails,
// nothing changes, no watcher hears of it, and the error is returned. Only once it is durable is
// it applied and watchers notified. A change that asks for what the user already has (the same
// DND, reason and end) notifies nobody and returns the state; it saves nothing unless the store
// is shared (SharedStore), where another node's newer setting may not have reached this table
// yet. A malformed change returns ErrBadChange, an unknown ext ErrUnknownUser.
//
// Set waits for the store (a disk sync); calls and status reads do not wait for it.
func (t *Table) Set(ext string, c Change) (State, error) {
	i, ok := t.index[ext]
	if !ok {
		return State{}, fmt.Errorf("%w: %q", ErrUnknownUser, ext)
	}
	now := t.now()
	if err := c.check(now); err != nil {
		return State{}, err
	}
	e := &t.users[i]
	e.set.Lock()
	defer e.set.Unlock()
	// e.set is held, so with a store of this node's own the setting is current. A shared store
	// may hold a newer setting made at another node and not here yet: it is always written, so
	// that the last change made anywhere is the one that stays.
	_, isShared := t.store.(SharedStore)
	if e.setting.same(c) && !isShared {
		return *e.snap.Load(), nil
	}
	return t.save(i, c.setting(now), false)
}

// save stores s as row i's setting and applies it; e.set is held. With a shared store and
// conditional set, it is saved only if no other node changed the setting since the revision
// applied here (an expiry or a schedule boundary every node's timer sees at once is then
// applied by one of them): ErrStale if one did.
func (t *Table) save(i int, s Setting, conditional bool) (State, error) {
	e := &t.users[i]
	ext := e.snap.Load().Ext
	if shared, ok := t.store.(SharedStore); ok {
		var rev uint64
		var err error
		if conditional {
			rev, err = shared.SaveDNDIf(ext, s, e.rev)
		} else {
			rev, err = shared.SaveDNDRevision(ext, s)
		}
		if err != nil {
			return State{}, err
		}
		e.rev = max(e.rev, rev)
	} else if err := t.store.SaveDND(ext, s); err != nil {
		return State{}, err
	}
	t.mu.Lock()
	e.setting = s
	st := t.publish(i)
	t.mu.Unlock()
	t.rearm(i)
	return st, nil
}

// Changes returns ext's latest DND changes, newest first, at most limit of them.
func (t *Table) Changes(ext string, limit int) ([]Setting, error) {
	if _, ok := t.index[ext]; !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownUser, ext)
	}
	return t.store.DNDHistory(ext, limit)
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
	status, onCall := effective(e.setting.DND, calls), calls > 0
	if status == old.Status && onCall == old.OnCall && registered == old.Registered && old.hasDND(e.setting) {
		return *old
	}
	t.seq++
	s := &State{
		Ext:        old.Ext,
		Name:       old.Name,
		Status:     status,
		OnCall:     onCall,
		Registered: registered,
		Changed:    old.Changed,
		Seq:        t.seq,
	}
	s.setDND(e.setting)
	if status != old.Status {
		s.Changed = t.now()
	}
	e.snap.Store(s)
	for _, w := range t.watchers {
		w.queue(i, s)
	}
	return *s
}

// setDND copies the DND setting's fields into s.
func (s *State) setDND(d Setting) {
	s.DND, s.Reason, s.Until = d.DND, d.Reason, d.Until
	s.Source, s.By, s.SetAt = d.Source, d.By, d.At
}

// hasDND reports whether s shows the setting d.
func (s *State) hasDND(d Setting) bool {
	return s.DND == d.DND && s.Reason == d.Reason && s.Until.Equal(d.Until) &&
		s.Source == d.Source && s.By == d.By && s.SetAt.Equal(d.At)
}
