package presence

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// exts lists the extensions of states, in order.
func exts(states []State) []string {
	out := make([]string, len(states))
	for i, s := range states {
		out[i] = s.Ext
	}
	return out
}

// TestAddUser: an added user is read like any other, both kinds of watcher get its first
// state, and an empty or existing extension is refused.
func TestAddUser(t *testing.T) {
	tab, _ := newTable(t)
	w := watch(t, tab)
	ow := watchOrdered(t, tab, 16)
	before, _ := tab.Get("1005")

	st, err := tab.Add(User{Ext: "2001", Name: "Zoe"})
	if err != nil {
		t.Fatal(err)
	}
	if st.Ext != "2001" || st.Name != "Zoe" || st.Status != Available || st.Removed || st.Seq <= before.Seq {
		t.Errorf("Add returned %+v", st)
	}
	wantStatus(t, tab, "2001", Available)
	if got, ok := tab.Get("2001"); !ok || got != st {
		t.Errorf("Get = %+v, %v; want %+v", got, ok, st)
	}
	if got := exts(tab.List()); !slices.Equal(got, []string{"1001", "1002", "1003", "1004", "1005", "2001"}) {
		t.Errorf("List order %v", got)
	}
	if c := tab.Counts(); c[Available] != 6 {
		t.Errorf("Counts %v, want 6 available", c)
	}
	for name, f := range map[string]Feed{"Watch": w, "WatchOrdered": ow} {
		got := takeEvents(t, tab, f, "2001:available")
		if len(got) == 1 && (got[0] != st) {
			t.Errorf("%s got %+v, want %+v", name, got[0], st)
		}
	}

	if _, err := tab.Add(User{Ext: "2001", Name: "Again"}); err == nil {
		t.Error("adding an existing user twice succeeded")
	}
	if _, err := tab.Add(User{Ext: "1003", Name: "Carol 2"}); err == nil {
		t.Error("adding a configured user succeeded")
	}
	if _, err := tab.Add(User{Name: "Nobody"}); err == nil {
		t.Error("adding a user without extension succeeded")
	}
	noSignal(t, w)
	if got, _ := tab.Get("1003"); got.Name != "Carol" {
		t.Errorf("a refused Add changed the user: %+v", got)
	}

	// The new row takes changes like the others.
	tab.CallStarted("2001", "c1")
	wantStatus(t, tab, "2001", Busy)
	tab.CallEnded("2001", "c1")
	if _, err := tab.SetDND("2001", true); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, tab, "2001", DND)
	takeEvents(t, tab, ow, "2001:busy", "2001:available", "2001:dnd")
}

// TestAddAppliesTheStoredSetting: a user whose setting is stored (replicated earlier, or kept
// from before they were removed) starts with it.
func TestAddAppliesTheStoredSetting(t *testing.T) {
	tab, store := newTable(t)
	at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	if err := store.SaveDND("2001", Setting{DND: true, Reason: "parental leave", Source: SourceAdmin, By: "1001", At: at}); err != nil {
		t.Fatal(err)
	}
	st, err := tab.Add(User{Ext: "2001", Name: "Zoe"})
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != DND || st.Reason != "parental leave" || st.By != "1001" || !st.SetAt.Equal(at) {
		t.Errorf("added with %+v, want the stored DND", st)
	}
	if _, err := tab.SetDND("2001", false); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, tab, "2001", Available)
}

// TestAddFailsWhenTheStoreFails: no row is added without its stored setting.
func TestAddFailsWhenTheStoreFails(t *testing.T) {
	tab, store := newTable(t)
	store.Fail(errors.New("disk on fire"))
	if _, err := tab.Add(User{Ext: "2001"}); err == nil {
		t.Fatal("Add succeeded with a failing store")
	}
	if _, ok := tab.Status("2001"); ok {
		t.Error("a failed Add left a row")
	}
}

// TestAddedUsersTimersRun: after Start, an added user's stored timed DND ends on the clock, and
// so does one set after the Add.
func TestAddedUsersTimersRun(t *testing.T) {
	store := &MemoryStore{}
	start := berlin(3, 10, 0)
	tab, clk := timedTable(t, store, start)
	if err := store.SaveDND("2001", Setting{DND: true, Until: start.Add(10 * time.Minute), Source: SourceUser, At: start}); err != nil {
		t.Fatal(err)
	}
	if st, err := tab.Add(User{Ext: "2001", Name: "Zoe"}); err != nil || st.Status != DND {
		t.Fatalf("Add: %+v, %v", st, err)
	}
	if !clk.WaitFor(1, 5*time.Second) {
		t.Fatal("no timer armed for the stored DND's end")
	}
	clk.Advance(10 * time.Minute)
	waitState(t, tab, "2001", "stored DND ended", func(s State) bool { return s.Status == Available && s.Source == SourceExpiry })

	if _, err := tab.Add(User{Ext: "2002", Name: "Yan"}); err != nil {
		t.Fatal(err)
	}
	if _, err := tab.Set("2002", Change{DND: true, Until: clk.Now().Add(30 * time.Minute), Source: SourceUser}); err != nil {
		t.Fatal(err)
	}
	if !clk.WaitFor(1, 5*time.Second) {
		t.Fatal("no timer armed for the DND's end")
	}
	clk.Advance(30 * time.Minute)
	waitState(t, tab, "2002", "DND ended", func(s State) bool { return s.Status == Available && s.Source == SourceExpiry })
}

// TestRemoveUser: watchers get the row's last state, marked Removed; then the user is unknown
// to every read and every change.
func TestRemoveUser(t *testing.T) {
	tab, _ := newTable(t)
	tab.CallStarted("1003", "c1")
	w := watch(t, tab)
	ow := watchOrdered(t, tab, 16)

	if err := tab.Remove("1003"); err != nil {
		t.Fatal(err)
	}
	for name, f := range map[string]Feed{"Watch": w, "WatchOrdered": ow} {
		got := takeEvents(t, tab, f, "1003:busy")
		if len(got) == 1 && (!got[0].Removed || got[0].Name != "Carol") {
			t.Errorf("%s got %+v, want Carol's last state, removed", name, got[0])
		}
	}
	if st, ok := tab.Status("1003"); ok {
		t.Errorf("Status of a removed user = %q, true", st)
	}
	if st, ok := tab.Get("1003"); ok {
		t.Errorf("Get of a removed user = %+v, true", st)
	}
	if got := exts(tab.List()); !slices.Equal(got, []string{"1001", "1002", "1004", "1005"}) {
		t.Errorf("List %v", got)
	}
	if c := tab.Counts(); c[Available] != 4 || c[Busy] != 0 || c[DND] != 0 {
		t.Errorf("Counts %v", c)
	}

	if _, err := tab.SetDND("1003", true); !errors.Is(err, ErrUnknownUser) {
		t.Errorf("SetDND of a removed user: %v, want ErrUnknownUser", err)
	}
	if _, err := tab.SetHours("1003", nil); !errors.Is(err, ErrUnknownUser) {
		t.Errorf("SetHours of a removed user: %v, want ErrUnknownUser", err)
	}
	if err := tab.Rename("1003", "Caroline"); !errors.Is(err, ErrUnknownUser) {
		t.Errorf("Rename of a removed user: %v, want ErrUnknownUser", err)
	}
	if err := tab.Remove("1003"); !errors.Is(err, ErrUnknownUser) {
		t.Errorf("second Remove: %v, want ErrUnknownUser", err)
	}
	if _, ok := tab.Local("1003"); ok {
		t.Error("Local of a removed user reports it")
	}
	tab.CallEnded("1003", "c1")
	tab.CallStarted("1003", "c2")
	tab.SetRegistered("1003", true)
	tab.SetRemote("1003", "n2", Remote{OnCall: true})
	tab.ApplyDND("1003", Setting{DND: true}, 7)
	if n := tab.EndCallsWhere(func(string) bool { return true }); n != 0 {
		t.Errorf("EndCallsWhere ended %d calls of a removed user", n)
	}
	noSignal(t, w)
	noSignal(t, ow)
}

// TestRemoveWithdrawsLocalState: a user removed while on a call here is reported to the
// observer, which then finds nothing to report (a cluster node deletes its key).
func TestRemoveWithdrawsLocalState(t *testing.T) {
	tab, _ := newTable(t)
	var heard []string
	if err := tab.ObserveLocal(func(ext string) { heard = append(heard, ext) }); err != nil {
		t.Fatal(err)
	}
	tab.SetRegistered("1002", true)
	if err := tab.Remove("1002"); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(heard, []string{"1002", "1002"}) {
		t.Errorf("observer heard %v", heard)
	}
	if _, ok := tab.Locals()["1002"]; ok {
		t.Error("Locals still lists a removed user")
	}
}

// TestRemoveStopsTheTimer: a removed user's pending DND end never fires, and nothing is saved.
func TestRemoveStopsTheTimer(t *testing.T) {
	store := &MemoryStore{}
	start := berlin(3, 10, 0)
	tab, clk := timedTable(t, store, start)
	if _, err := tab.Set("1002", Change{DND: true, Until: start.Add(time.Hour), Source: SourceUser}); err != nil {
		t.Fatal(err)
	}
	if !clk.WaitFor(1, 5*time.Second) {
		t.Fatal("no timer armed")
	}
	w := watchOrdered(t, tab, 16)
	removed := tab.rows.Load().index["1002"]
	if err := tab.Remove("1002"); err != nil {
		t.Fatal(err)
	}
	if n := clk.Pending(); n != 0 {
		t.Errorf("%d timers pending after Remove, want 0", n)
	}
	saves := store.Saves()
	clk.Advance(2 * time.Hour)
	takeEvents(t, tab, w, "1002:dnd")
	// A timer that fired as the row went runs fire on the removed row once Remove lets go of
	// it: nothing is applied, nothing armed.
	tab.fire(removed)
	if store.Saves() != saves {
		t.Errorf("%d saves after the removal, want %d", store.Saves(), saves)
	}
	if n := clk.Pending(); n != 0 {
		t.Errorf("%d timers pending, want 0", n)
	}
	noSignal(t, w)
}

// TestRemoveAndAddBack: the stored setting outlives the row, so a user added back has it; a
// watcher sees the old row's last state, then the new row's first, not one merged into the
// other.
func TestRemoveAndAddBack(t *testing.T) {
	tab, store := newTable(t)
	if _, err := tab.Set("1004", Change{DND: true, Reason: "sabbatical", Source: SourceAdmin, By: "1001"}); err != nil {
		t.Fatal(err)
	}
	w := watch(t, tab)
	if err := tab.Remove("1004"); err != nil {
		t.Fatal(err)
	}
	if s, _ := store.LoadDND(); !s["1004"].DND {
		t.Fatal("Remove deleted the stored setting")
	}
	st, err := tab.Add(User{Ext: "1004", Name: "David"})
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != DND || st.Reason != "sabbatical" || st.Name != "David" || st.Removed {
		t.Errorf("added back with %+v", st)
	}
	got := takeEvents(t, tab, w, "1004:dnd", "1004:dnd")
	if len(got) == 2 && (!got[0].Removed || got[0].Name != "Dave" || got[1].Removed || got[1].Name != "David" || got[0].Seq >= got[1].Seq) {
		t.Errorf("events %+v", got)
	}
	if got := exts(tab.List()); !slices.Equal(got, []string{"1001", "1002", "1003", "1005", "1004"}) {
		t.Errorf("List %v", got)
	}
	// The rows are two: the old one stays removed whatever reaches it.
	if _, err := tab.SetDND("1004", false); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, tab, "1004", Available)
}

// TestRename: the new name is published, and the same name again publishes nothing.
func TestRename(t *testing.T) {
	tab, _ := newTable(t)
	w := watch(t, tab)
	if err := tab.Rename("1002", "Robert"); err != nil {
		t.Fatal(err)
	}
	got := takeEvents(t, tab, w, "1002:available")
	if len(got) == 1 && got[0].Name != "Robert" {
		t.Errorf("event %+v", got[0])
	}
	if st, _ := tab.Get("1002"); st.Name != "Robert" {
		t.Errorf("Get %+v", st)
	}
	if err := tab.Rename("1002", "Robert"); err != nil {
		t.Fatal(err)
	}
	noSignal(t, w)
	if err := tab.Rename("9999", "Nobody"); !errors.Is(err, ErrUnknownUser) {
		t.Errorf("Rename of an unknown user: %v", err)
	}
}

// TestWatchListWithAddAndRemove: a listing and its watcher agree on added and removed users:
// every row is either listed or announced.
func TestWatchListWithAddAndRemove(t *testing.T) {
	tab, _ := newTable(t)
	if _, err := tab.Add(User{Ext: "2001"}); err != nil {
		t.Fatal(err)
	}
	f, list := tab.WatchList()
	defer f.Close()
	if !slices.Contains(exts(list), "2001") {
		t.Errorf("listing %v misses an added user", exts(list))
	}
	if err := tab.Remove("1001"); err != nil {
		t.Fatal(err)
	}
	if _, err := tab.Add(User{Ext: "2002"}); err != nil {
		t.Fatal(err)
	}
	got := takeEvents(t, tab, f, "1001:available", "2002:available")
	if len(got) == 2 && (!got[0].Removed || got[1].Removed) {
		t.Errorf("events %+v", got)
	}
}

// TestStatusAllocatesNothingAfterAddAndRemove: the read routing does stays allocation-free
// on a table whose rows changed.
func TestStatusAllocatesNothingAfterAddAndRemove(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	tab, _ := newTable(t)
	if _, err := tab.Add(User{Ext: "2001"}); err != nil {
		t.Fatal(err)
	}
	if err := tab.Remove("1001"); err != nil {
		t.Fatal(err)
	}
	tab.CallStarted("2001", "c1")
	var st Status
	if n := testing.AllocsPerRun(1000, func() { st, _ = tab.Status("2001") }); n != 0 {
		t.Errorf("Status allocates %v times", n)
	}
	if st != Busy {
		t.Errorf("Status = %q", st)
	}
}

// TestRowsChangeWhileUsed: readers and writers run while users are added and removed (run it
// with -race). Every state read is whole, List never holds a user twice, and the table ends as
// the last Add or Remove of each user left it.
func TestRowsChangeWhileUsed(t *testing.T) {
	tab, _ := newTable(t)
	tab.Start()
	defer tab.Close()
	w := tab.WatchOrdered(64)
	defer w.Close()
	rounds := 300
	if raceEnabled {
		rounds = 100
	}
	churn := []string{"2001", "2002", "2003", "1005"}
	all := append([]string{"1001", "1002", "1003", "1004"}, churn...)

	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan error, 16)
	report := func(err error) {
		select {
		case errs <- err:
		default:
		}
	}
	running := func() bool {
		select {
		case <-stop:
			return false
		default:
			return true
		}
	}
	// Readers.
	for range 2 {
		wg.Go(func() {
			for i := 0; running(); i++ {
				ext := all[i%len(all)]
				if st, ok := tab.Get(ext); ok && st.Ext != ext {
					report(fmt.Errorf("Get(%s) = %+v", ext, st))
				}
				tab.Status(ext)
				list := tab.List()
				if seen := exts(list); len(slices.Compact(slices.Sorted(slices.Values(seen)))) != len(seen) {
					report(fmt.Errorf("List holds a user twice: %v", seen))
				}
				tab.Counts()
			}
		})
	}
	// Writers on every user, the churning ones included.
	for g := range 2 {
		wg.Go(func() {
			for i := 0; running(); i++ {
				ext := all[(i+g)%len(all)]
				_, err := tab.SetDND(ext, i%2 == 0)
				if err != nil && !errors.Is(err, ErrUnknownUser) {
					report(fmt.Errorf("SetDND(%s): %w", ext, err))
				}
				tab.CallStarted(ext, "c")
				tab.SetRegistered(ext, i%3 == 0)
				tab.CallEnded(ext, "c")
				_ = tab.Rename(ext, fmt.Sprint("n", i))
				tab.SetRemote(ext, "n2", Remote{Registered: i%2 == 1})
			}
		})
	}
	// The watcher's reader.
	wg.Go(func() {
		for range w.Ready() {
			for _, s := range w.Changes() {
				if s.Ext == "" {
					report(fmt.Errorf("watcher got %+v", s))
				}
			}
		}
	})
	// Directory changes.
	var adders sync.WaitGroup
	for _, ext := range churn {
		adders.Go(func() {
			for range rounds {
				_ = tab.Remove(ext)
				if _, err := tab.Add(User{Ext: ext, Name: "churn"}); err != nil {
					report(fmt.Errorf("Add(%s): %w", ext, err))
				}
			}
		})
	}
	adders.Wait()
	close(stop)
	w.Close() // ends the watcher's reader
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := slices.Sorted(slices.Values(exts(tab.List()))); !slices.Equal(got, slices.Sorted(slices.Values(all))) {
		t.Errorf("List after the churn: %v", got)
	}
	for _, ext := range all {
		if _, ok := tab.Status(ext); !ok {
			t.Errorf("%s unknown after the churn", ext)
		}
	}
}

// loadHookStore is a sharedStore that runs hook once, after the next LoadDND has read.
type loadHookStore struct {
	*sharedStore
	hook func()
}

func (s *loadHookStore) LoadDND() (map[string]Setting, error) {
	m, err := s.sharedStore.LoadDND()
	if h := s.hook; h != nil {
		s.hook = nil
		h()
	}
	return m, err
}

// TestAddCatchesASettingReplicatedWhileAdding: with a shared store, a setting another node saves
// after Add has read the store, replicated before the row is in the table (so ApplyDND ignores
// it), is still the one the new row ends with.
func TestAddCatchesASettingReplicatedWhileAdding(t *testing.T) {
	store := &loadHookStore{sharedStore: &sharedStore{}}
	tab, err := NewTable(demoUsers, store)
	if err != nil {
		t.Fatal(err)
	}
	store.hook = func() {
		s := Setting{DND: true, Reason: "set at node 2", Source: SourceAdmin}
		rev, err := store.SaveDNDRevision("2001", s)
		if err != nil {
			t.Error(err)
		}
		tab.ApplyDND("2001", s, rev) // not a user yet: ignored
	}
	st, err := tab.Add(User{Ext: "2001", Name: "Zoe"})
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != DND || st.Reason != "set at node 2" {
		t.Errorf("added with %+v, want the setting saved while adding", st)
	}
	wantStatus(t, tab, "2001", DND)
}
