package presence

import (
	"errors"
	"fmt"
	"maps"
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
	// Removed: the user was removed from the directory; this is the row's last state. Its other
	// fields are what the row showed when it went.
	Removed bool `json:"removed,omitempty"`
}

// User is a configured user, as the table needs it.
type User struct{ Ext, Name string }

// entry is one user's row. Rows are referred to by pointer, so that the list of them can be
// copied when a user is added or removed without copying a row's locks.
type entry struct {
	// id identifies the row for as long as the table lives and is never reused: watchers key
	// their pending changes on it, so a user removed and added back is two rows to them, and
	// the removed row's last state is never merged with the new row's first.
	id uint64
	// ext is the user's extension, for the row's life: cur holds it too, but cur is written
	// whole, so reading it there takes view; this one takes nothing.
	ext string
	// cur is the latest State, kept in the row and changed in place: written with Table.mu and
	// view held (or before the row is in the table), read with either. A new State allocated
	// for each change and kept by the row outlived the burst of calls that made it: a user's
	// last state, one object in a span of the calls' garbage, kept the whole span (after 24,000
	// calls in 20 s the heap stayed 21 MB above its live data). What watchers are queued is
	// allocated per change (queue) and lives only until they read it.
	cur  State
	view sync.RWMutex
	// status is cur.Status as an index into statuses, so that Status, the read routing does
	// on every call, takes no lock.
	status atomic.Uint32
	// set serialises changes of this user's setting and working hours (Set, ApplyDND, SetHours,
	// the timer), so that the stored and applied settings agree.
	set sync.Mutex

	// Guarded by set: the user's working hours (nil: none), and the timer that applies the
	// next expiry or schedule boundary (nil: none pending).
	hours *Schedule
	timer clock.Timer

	// Guarded by Table.mu and written with set held too, so that holding either is enough to
	// read them: the DND setting applied, and whether Remove took the row out (set once; a
	// writer that found the row before that checks it under its lock and treats the user as
	// unknown).
	setting Setting
	removed bool

	// Guarded by Table.mu.
	name       string              // the display name (Rename)
	calls      map[string]struct{} // ids of the calls the user is on; nil when none
	registered bool
	remote     map[string]Remote // other nodes' view of the user, by node; nil when none

	// rev is the shared store's revision of the DND setting applied (0 with a local store);
	// guarded by set. A replicated change older than it is stale and is not applied.
	rev uint64
}

// rows is the set of rows at one moment. It is never modified once stored in Table.rows: Add
// and Remove make a new one (copy on write), so that readers need no lock.
type rows struct {
	index map[string]*entry // ext → row
	list  []*entry          // configured order, then in the order users were added
}

// Table is a node's status table. It is safe for concurrent use. In a cluster every node has
// one, kept in step by package cluster (see remote.go).
//
// Reads take no table lock: the rows are an immutable snapshot behind an atomic pointer; a
// user's status is an atomic (Status, Counts) and their whole State a value behind a lock of
// their row's own, held to copy it (Get, List). Users may
// be added and removed while the table runs (Add, Remove): that replaces the snapshot, which is
// rare next to reads. Changes are serialised by one mutex, held only to update a row and queue
// the new State to each watcher; no change ever waits for a watcher to read, nor for the disk
// (Set writes its store before taking the lock).
type Table struct {
	rows  atomic.Pointer[rows]
	store Store
	hours HoursStore // nil: working hours cannot be set
	clock clock.Clock
	now   func() time.Time
	// closed stops timers from being armed; guarded by each row's set when read by it.
	closed atomic.Bool

	mu       sync.Mutex
	seq      uint64
	lastID   uint64 // the last row id given out
	started  bool   // Start was called: Add arms the new row's timer
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
// Stored settings of extensions that are not in users are ignored (Add gives them to a user
// added later). Expiries and schedule boundaries that passed while the switch was down are
// applied by Start, not here.
func NewTable(users []User, store Store, opts ...Option) (*Table, error) {
	if store == nil {
		return nil, errors.New("presence: nil store")
	}
	t := &Table{
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
	r := &rows{index: make(map[string]*entry, len(users)), list: make([]*entry, len(users))}
	for i, u := range users {
		if u.Ext == "" {
			return nil, fmt.Errorf("presence: user %d has no extension", i)
		}
		if _, dup := r.index[u.Ext]; dup {
			return nil, fmt.Errorf("presence: extension %q listed twice", u.Ext)
		}
		t.lastID++
		e, err := newEntry(t.lastID, u, settings[u.Ext], hours, now)
		if err != nil {
			return nil, err
		}
		r.index[u.Ext] = e
		r.list[i] = e
	}
	t.rows.Store(r)
	return t, nil
}

// newEntry makes row id for u, with its stored setting and working hours (by extension; nil:
// none) and a State at Seq 0, changed at now.
func newEntry(id uint64, u User, setting Setting, hours map[string]Hours, now time.Time) (*entry, error) {
	e := &entry{id: id, ext: u.Ext, setting: setting, name: u.Name}
	if h, ok := hours[u.Ext]; ok {
		var err error
		if e.hours, err = h.Compile(); err != nil {
			return nil, fmt.Errorf("presence: stored working hours of %s: %w", u.Ext, err)
		}
	}
	s := State{Ext: u.Ext, Name: u.Name, Changed: now}
	s.setDND(e.setting)
	s.Status = effective(e.setting.DND, 0)
	e.store(s)
	return e, nil
}

// row returns ext's row; false if ext is not a user. The row may be removed by the time the
// caller locks it: writers check entry.removed under their lock.
func (t *Table) row(ext string) (*entry, bool) {
	e, ok := t.rows.Load().index[ext]
	return e, ok
}

// unknown is the error for an extension that is not a user (or stopped being one).
func unknown(ext string) error { return fmt.Errorf("%w: %q", ErrUnknownUser, ext) }

// Start applies what fell due while the switch was down (a DND that ended, a working-hours
// boundary passed) and arms the timers for what comes next. Call it once, before serving. Users
// added after it get their timers armed by Add.
func (t *Table) Start() {
	// started and the snapshot are read together, so a user Add inserts meanwhile is armed
	// here or by Add (or both: rearm replaces a timer).
	t.mu.Lock()
	t.started = true
	list := t.rows.Load().list
	t.mu.Unlock()
	for _, e := range list {
		e.set.Lock()
		t.rearm(e)
		e.set.Unlock()
	}
}

// Close stops the table's timers: no expiry or schedule change is applied after it returns
// (one already running finishes first).
func (t *Table) Close() {
	// A row Add inserts after this load arms no timer: rearm sees closed.
	t.closed.Store(true)
	for _, e := range t.rows.Load().list {
		e.set.Lock()
		e.stopTimer()
		e.set.Unlock()
	}
}

// stopTimer stops the row's timer, if any; e.set is held.
func (e *entry) stopTimer() {
	if e.timer != nil {
		e.timer.Stop()
		e.timer = nil
	}
}

// Status returns ext's effective status; false if ext is not a user. It is the read routing
// does on every call: lock-free, no allocation, never waits behind a writer or a watcher.
func (t *Table) Status(ext string) (Status, bool) {
	e, ok := t.rows.Load().index[ext]
	if !ok {
		return "", false
	}
	return statuses[e.status.Load()], true
}

// Get returns ext's state; false if ext is not a user.
func (t *Table) Get(ext string) (State, bool) {
	e, ok := t.rows.Load().index[ext]
	if !ok {
		return State{}, false
	}
	return e.state(), true
}

// List returns every user's state: configured order, then users added since in the order they
// were added. Each state is the latest at the moment it was read; use WatchList for a listing
// consistent with a watcher.
func (t *Table) List() []State {
	list := t.rows.Load().list
	out := make([]State, len(list))
	for i, e := range list {
		out[i] = e.state()
	}
	return out
}

// Counts returns how many users have each status; all three keys are present.
func (t *Table) Counts() map[Status]int {
	c := map[Status]int{Available: 0, Busy: 0, DND: 0}
	for _, e := range t.rows.Load().list {
		c[statuses[e.status.Load()]]++
	}
	return c
}

// Add adds a row for u, a user new to the directory, and returns its state. Its DND setting and
// working hours are what the store holds for u.Ext: a user removed and added back, or one
// whose setting reached a shared store before the user reached this node, gets them. Watchers
// are queued the new row's first state (so a page or a SIP watcher learns the user exists),
// and after Start its timer is armed like every other row's. It returns an error if u.Ext is
// empty or already a user, or if the store cannot be read.
//
// Add waits for the store; readers and other users' changes do not wait for it.
func (t *Table) Add(u User) (State, error) {
	if u.Ext == "" {
		return State{}, errors.New("presence: add user: no extension")
	}
	if _, ok := t.row(u.Ext); ok {
		return State{}, fmt.Errorf("presence: add user %s: already a user", u.Ext)
	}
	setting, hours, err := t.loadUser(u.Ext)
	if err != nil {
		return State{}, fmt.Errorf("presence: add user %s: %w", u.Ext, err)
	}
	e, err := newEntry(0, u, setting, hours, t.now())
	if err != nil {
		return State{}, fmt.Errorf("presence: add user %s: %w", u.Ext, err)
	}
	// e.set is held from before the row is visible: a replicated change (ApplyDND) or a Set
	// that finds it waits until it is complete.
	e.set.Lock()
	defer e.set.Unlock()
	t.mu.Lock()
	old := t.rows.Load()
	if _, dup := old.index[u.Ext]; dup {
		t.mu.Unlock()
		return State{}, fmt.Errorf("presence: add user %s: already a user", u.Ext)
	}
	t.lastID++
	e.id = t.lastID
	// The first state goes to watchers as a change, in the same critical section as the
	// insertion: WatchList either lists the row or queues this state, never both or neither.
	// It gets its Seq before the row is visible, so no reader sees it change.
	t.seq++
	e.cur.Seq = t.seq
	r := &rows{index: make(map[string]*entry, len(old.index)+1), list: make([]*entry, 0, len(old.list)+1)}
	maps.Copy(r.index, old.index)
	r.index[u.Ext] = e
	r.list = append(append(r.list, old.list...), e)
	t.rows.Store(r)
	t.queue(e, e.cur)
	started := t.started
	t.mu.Unlock()

	if _, shared := t.store.(SharedStore); shared {
		// A setting replicated between the load above and the insertion was dropped by
		// ApplyDND (not a user yet); the row is in the index now, so reading again catches it,
		// and any later one waits for e.set.
		setting, hours, err := t.loadUser(u.Ext)
		if err == nil {
			var sch *Schedule
			if h, ok := hours[u.Ext]; ok {
				sch, err = h.Compile()
			}
			if err == nil {
				e.hours = sch
				t.mu.Lock()
				e.setting = setting
				t.publish(e)
				t.mu.Unlock()
			}
		}
		// A failure here leaves what the first read found: the row exists, and the next
		// replicated change brings it up to date.
	}
	if started {
		t.rearm(e)
	}
	return e.state(), nil
}

// loadUser reads ext's stored DND setting, and its working hours if the table keeps them (as
// a map holding at most ext), for Add.
func (t *Table) loadUser(ext string) (Setting, map[string]Hours, error) {
	settings, err := t.store.LoadDND()
	if err != nil {
		return Setting{}, nil, fmt.Errorf("load DND settings: %w", err)
	}
	var hours map[string]Hours
	if t.hours != nil {
		all, err := t.hours.LoadHours()
		if err != nil {
			return Setting{}, nil, fmt.Errorf("load working hours: %w", err)
		}
		if h, ok := all[ext]; ok {
			hours = map[string]Hours{ext: h}
		}
	}
	return settings[ext], hours, nil
}

// Remove removes ext's row: the user left the directory. Its timer is stopped, watchers are
// queued one last state with Removed set, and from then on ext is not a user: Status and Get
// report false, List and Counts leave it out, and changes to it are refused (Set, SetHours,
// Rename) or ignored (calls, registrations, replicated changes), as for any unknown extension.
// The stored DND setting, its history and the working hours are kept, not deleted: a backup
// still holds them, and a user added back gets them again. It returns ErrUnknownUser if ext is
// not a user.
func (t *Table) Remove(ext string) error {
	e, ok := t.row(ext)
	if !ok {
		return fmt.Errorf("presence: remove user: %w", unknown(ext))
	}
	// Both locks, set first as everywhere: a Set, SetHours or timer in progress finishes
	// before the row goes, and one that comes after finds it removed.
	e.set.Lock()
	defer e.set.Unlock()
	t.mu.Lock()
	defer t.mu.Unlock()
	if e.removed {
		return fmt.Errorf("presence: remove user: %w", unknown(ext)) // another Remove came first
	}
	e.stopTimer()
	e.removed = true
	old := t.rows.Load()
	r := &rows{index: make(map[string]*entry, len(old.index)), list: make([]*entry, 0, len(old.list))}
	for _, x := range old.list {
		if x != e {
			r.index[x.ext] = x
			r.list = append(r.list, x)
		}
	}
	t.rows.Store(r)
	t.publish(e)
	if e.local() != (Remote{}) {
		// What this node reported about the user no longer holds: the observer (a cluster
		// node) finds the user unknown and withdraws it.
		t.localChanged(e)
	}
	return nil
}

// Rename changes ext's display name, as the directory now spells it, and queues the new state to
// watchers. It returns ErrUnknownUser if ext is not a user.
func (t *Table) Rename(ext, name string) error {
	e, ok := t.row(ext)
	if !ok {
		return fmt.Errorf("presence: rename user: %w", unknown(ext))
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if e.removed {
		return fmt.Errorf("presence: rename user: %w", unknown(ext))
	}
	e.name = name
	t.publish(e)
	return nil
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
	e, ok := t.row(ext)
	if !ok {
		return State{}, unknown(ext)
	}
	now := t.now()
	if err := c.check(now); err != nil {
		return State{}, err
	}
	e.set.Lock()
	defer e.set.Unlock()
	if e.removed {
		return State{}, unknown(ext)
	}
	// e.set is held, so with a store of this node's own the setting is current. A shared store
	// may hold a newer setting made at another node and not here yet: it is always written, so
	// that the last change made anywhere is the one that stays.
	_, isShared := t.store.(SharedStore)
	if e.setting.same(c) && !isShared {
		return e.state(), nil
	}
	return t.save(e, c.setting(now), false)
}

// save stores s as row e's setting and applies it; e.set is held and e is not removed. With a shared store and
// conditional set, it is saved only if no other node changed the setting since the revision
// applied here (an expiry or a schedule boundary every node's timer sees at once is then
// applied by one of them): ErrStale if one did.
func (t *Table) save(e *entry, s Setting, conditional bool) (State, error) {
	ext := e.ext
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
	st := t.publish(e)
	t.mu.Unlock()
	t.rearm(e)
	return st, nil
}

// Changes returns ext's latest DND changes, newest first, at most limit of them.
func (t *Table) Changes(ext string, limit int) ([]Setting, error) {
	if _, ok := t.row(ext); !ok {
		return nil, unknown(ext)
	}
	return t.store.DNDHistory(ext, limit)
}

// CallStarted records that ext is on the call callID (incoming or outgoing, from answer to
// hang-up). Calls are a set of ids per user, so a start delivered twice (a retry, a replicated
// backend's redelivery) is still one call. Unknown extensions (trunk numbers, outside callers)
// and an empty callID are ignored.
func (t *Table) CallStarted(ext, callID string) {
	e, ok := t.row(ext)
	if !ok || callID == "" {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if e.removed {
		return
	}
	if _, dup := e.calls[callID]; dup {
		return
	}
	if e.calls == nil {
		e.calls = make(map[string]struct{}, 1)
	}
	e.calls[callID] = struct{}{}
	if len(e.calls) == 1 {
		t.localChanged(e)
	}
	t.publish(e)
}

// CallEnded records that ext's call callID ended. Ending a call ext is not on (never started,
// already ended, an empty id) changes nothing, so an end delivered twice, or before its start
// was ever seen, is harmless. Unknown extensions are ignored.
func (t *Table) CallEnded(ext, callID string) {
	e, ok := t.row(ext)
	if !ok {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, on := e.calls[callID]; !on || e.removed {
		return
	}
	e.endCall(callID)
	if e.calls == nil {
		t.localChanged(e)
	}
	t.publish(e)
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
	for _, e := range t.rows.Load().list { // the rows as of now: Remove holds t.mu to change them
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
				t.localChanged(e)
			}
			t.publish(e)
		}
	}
	return n
}

// SetRegistered records whether ext has at least one phone registered. It never changes the
// status. Unknown extensions are ignored.
func (t *Table) SetRegistered(ext string, registered bool) {
	e, ok := t.row(ext)
	if !ok {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if e.removed {
		return
	}
	if e.registered != registered {
		e.registered = registered
		t.localChanged(e)
	}
	t.publish(e)
}

// publish makes row e's fields visible: if any field of State changed, it stores a new State
// with the next Seq and queues it to every watcher. It returns the row's state. t.mu is held.
func (t *Table) publish(e *entry) State {
	old := &e.cur // t.mu is held: no other writer
	calls, registered := len(e.calls), e.registered
	for _, r := range e.remote {
		if r.OnCall {
			calls++
		}
		registered = registered || r.Registered
	}
	status, onCall := effective(e.setting.DND, calls), calls > 0
	if status == old.Status && onCall == old.OnCall && registered == old.Registered && old.hasDND(e.setting) &&
		old.Name == e.name && old.Removed == e.removed {
		return *old
	}
	t.seq++
	s := State{
		Ext:        old.Ext,
		Name:       e.name,
		Status:     status,
		OnCall:     onCall,
		Registered: registered,
		Changed:    old.Changed,
		Seq:        t.seq,
		Removed:    e.removed,
	}
	s.setDND(e.setting)
	if status != old.Status {
		s.Changed = t.now()
	}
	e.store(s)
	t.queue(e, s)
	return s
}

// queue queues s, row e's new state, to every watcher. t.mu is held.
func (t *Table) queue(e *entry, s State) {
	if len(t.watchers) == 0 {
		return
	}
	q := new(State) // shared by the watchers, never modified: see entry.cur
	*q = s
	for _, w := range t.watchers {
		w.queue(e.id, q)
	}
}

// statuses are the values entry.status indexes.
var statuses = [...]Status{Available, Busy, DND}

// store makes s the row's state. t.mu is held, or the row is not in the table yet.
func (e *entry) store(s State) {
	e.view.Lock()
	e.cur = s
	e.view.Unlock()
	for i, st := range statuses {
		if st == s.Status {
			e.status.Store(uint32(i))
		}
	}
}

// state returns the row's latest State.
func (e *entry) state() State {
	e.view.RLock()
	defer e.view.RUnlock()
	return e.cur
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
