package presence

import (
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestStatusMatrix(t *testing.T) {
	tests := map[string]struct {
		dnd, onCall, registered bool
		want                    Status
	}{
		"idle, no phone":             {want: Available},
		"idle, registered":           {registered: true, want: Available},
		"on a call, no phone":        {onCall: true, want: Busy},
		"on a call, registered":      {onCall: true, registered: true, want: Busy},
		"dnd, idle, no phone":        {dnd: true, want: DND},
		"dnd, idle, registered":      {dnd: true, registered: true, want: DND},
		"dnd, on a call, no phone":   {dnd: true, onCall: true, want: DND},
		"dnd, on a call, registered": {dnd: true, onCall: true, registered: true, want: DND},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			tab, _ := newTable(t)
			if _, err := tab.SetDND("1002", tc.dnd); err != nil {
				t.Fatal(err)
			}
			if tc.onCall {
				tab.CallStarted("1002", "c1")
			}
			tab.SetRegistered("1002", tc.registered)
			wantStatus(t, tab, "1002", tc.want)
			s, _ := tab.Get("1002")
			if s.DND != tc.dnd || s.OnCall != tc.onCall || s.Registered != tc.registered {
				t.Errorf("Get = %+v, want dnd %v on_call %v registered %v", s, tc.dnd, tc.onCall, tc.registered)
			}
			if s.Ext != "1002" || s.Name != "Bob" {
				t.Errorf("Get = %+v, want Bob at 1002", s)
			}

			// Registration never changes the status, either way.
			w := watch(t, tab)
			for _, reg := range []bool{!tc.registered, tc.registered} {
				tab.SetRegistered("1002", reg)
				wantStatus(t, tab, "1002", tc.want)
				changes := w.Changes()
				if len(changes) != 1 || changes[0].Registered != reg || changes[0].Status != tc.want {
					t.Errorf("SetRegistered(%v): changes %+v", reg, changes)
					continue
				}
				if changes[0].Changed != s.Changed {
					t.Errorf("registration moved Changed from %v to %v", s.Changed, changes[0].Changed)
				}
			}
		})
	}
}

func TestTwoCallsBusyUntilBothEnd(t *testing.T) {
	tab, _ := newTable(t)
	var wg sync.WaitGroup
	for _, id := range []string{"c1", "c2"} {
		wg.Go(func() { tab.CallStarted("1001", id) })
	}
	wg.Wait()
	wantStatus(t, tab, "1001", Busy)
	tab.CallEnded("1001", "c1")
	wantStatus(t, tab, "1001", Busy)
	tab.CallEnded("1001", "c2")
	wantStatus(t, tab, "1001", Available)
}

// A replicated backend may deliver a start or an end twice: one call id is one call.
func TestCallStartAndEndAreIdempotent(t *testing.T) {
	tab, _ := newTable(t)
	w := watch(t, tab)
	tab.CallStarted("1001", "c1")
	tab.CallStarted("1001", "c1") // redelivered
	takeEvents(t, tab, w, "1001:busy")
	tab.CallEnded("1001", "c1")
	wantStatus(t, tab, "1001", Available) // a counter would still say busy
	tab.CallEnded("1001", "c1")           // redelivered
	takeEvents(t, tab, w, "1001:available")
	noSignal(t, w)

	// An end that overtook its start, then the start: the table keeps no tombstones, so the
	// late start counts until a later end, or its owner's sweep (EndCallsWhere), clears it.
	tab.CallEnded("1002", "late")
	wantStatus(t, tab, "1002", Available)
	tab.CallStarted("1002", "late")
	wantStatus(t, tab, "1002", Busy)
	tab.CallEnded("1002", "late")
	wantStatus(t, tab, "1002", Available)
}

func TestCallEndedOfUnknownCallChangesNothing(t *testing.T) {
	tab, _ := newTable(t)
	w := watch(t, tab)
	tab.CallStarted("1001", "c1")
	takeEvents(t, tab, w, "1001:busy")
	for _, id := range []string{"c2", "", "C1", "c1 "} {
		tab.CallEnded("1001", id)
		wantStatus(t, tab, "1001", Busy)
	}
	tab.CallEnded("1002", "c1") // another user's call id
	noSignal(t, w)              // nothing visible changed
	tab.CallEnded("1001", "c1")
	wantStatus(t, tab, "1001", Available)
}

func TestEmptyCallIDIsNotACall(t *testing.T) {
	tab, _ := newTable(t)
	w := watch(t, tab)
	tab.CallStarted("1001", "")
	wantStatus(t, tab, "1001", Available)
	noSignal(t, w)
}

func TestEndCallsWhere(t *testing.T) {
	tab, _ := newTable(t)
	// Two nodes' calls, told apart by an id prefix; 1002 is on one call of each.
	tab.CallStarted("1001", "a-1")
	tab.CallStarted("1002", "a-2")
	tab.CallStarted("1002", "b-1")
	tab.CallStarted("1003", "b-2")
	w := watch(t, tab)
	if n := tab.EndCallsWhere(func(id string) bool { return strings.HasPrefix(id, "a-") }); n != 2 {
		t.Errorf("EndCallsWhere ended %d calls, want 2", n)
	}
	wantStatus(t, tab, "1001", Available)
	wantStatus(t, tab, "1002", Busy) // still on node b's call
	wantStatus(t, tab, "1003", Busy)
	takeEvents(t, tab, w, "1001:available")

	if n := tab.EndCallsWhere(func(string) bool { return false }); n != 0 {
		t.Errorf("matching nothing ended %d", n)
	}
	if n := tab.EndCallsWhere(nil); n != 0 {
		t.Errorf("nil match ended %d", n)
	}
	noSignal(t, w)
	if n := tab.EndCallsWhere(func(string) bool { return true }); n != 2 {
		t.Errorf("EndCallsWhere(all) ended %d, want 2", n)
	}
	takeEvents(t, tab, w, "1002:available", "1003:available")
	// An end arriving after the sweep is a no-op.
	tab.CallEnded("1003", "b-2")
	noSignal(t, w)
}

func TestUnknownExtensionIgnored(t *testing.T) {
	tab, _ := newTable(t)
	w := watch(t, tab)
	for _, ext := range []string{"15551230000", "", "600", "1001 "} {
		tab.CallStarted(ext, "c1")
		tab.CallEnded(ext, "c1")
		tab.SetRegistered(ext, true)
		if st, ok := tab.Status(ext); ok || st != "" {
			t.Errorf("Status(%q) = %q, %v", ext, st, ok)
		}
		if _, ok := tab.Get(ext); ok {
			t.Errorf("Get(%q) found a user", ext)
		}
		if _, err := tab.SetDND(ext, true); !errors.Is(err, ErrUnknownUser) {
			t.Errorf("SetDND(%q): %v, want ErrUnknownUser", ext, err)
		}
	}
	noSignal(t, w)
	if c := tab.Counts(); c[Available] != len(demoUsers) {
		t.Errorf("Counts = %v", c)
	}
}

func TestParseSettable(t *testing.T) {
	tests := map[string]struct {
		in       string
		dnd      bool
		settable bool
	}{
		"available":            {in: "available", settable: true},
		"dnd":                  {in: "dnd", dnd: true, settable: true},
		"busy is derived":      {in: "busy"},
		"empty":                {in: ""},
		"upper case":           {in: "DND"},
		"title case":           {in: "Available"},
		"padded":               {in: " dnd"},
		"junk":                 {in: "away"},
		"json quoted":          {in: `"dnd"`},
		"do not disturb words": {in: "do not disturb"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			dnd, err := ParseSettable(tc.in)
			if tc.settable {
				if err != nil || dnd != tc.dnd {
					t.Errorf("ParseSettable(%q) = %v, %v; want %v", tc.in, dnd, err, tc.dnd)
				}
				return
			}
			if !errors.Is(err, ErrNotSettable) || dnd {
				t.Errorf("ParseSettable(%q) = %v, %v; want ErrNotSettable", tc.in, dnd, err)
			}
		})
	}
}

func TestEveryVisibleChangeIsOneEvent(t *testing.T) {
	tab, store := newTable(t)
	w := watch(t, tab)
	steps := []struct {
		name string
		do   func()
		want []string // events, as ext:status
	}{
		{"register", func() { tab.SetRegistered("1003", true) }, []string{"1003:available"}},
		{"register again", func() { tab.SetRegistered("1003", true) }, nil},
		{"call", func() { tab.CallStarted("1003", "c1") }, []string{"1003:busy"}},
		{"second call", func() { tab.CallStarted("1003", "c2") }, nil},
		{"second call again", func() { tab.CallStarted("1003", "c2") }, nil},
		{"dnd on a call", func() { tab.SetDND("1003", true) }, []string{"1003:dnd"}},
		{"dnd again", func() { tab.SetDND("1003", true) }, nil},
		{"one call ends", func() { tab.CallEnded("1003", "c1") }, nil},
		{"an unknown call ends", func() { tab.CallEnded("1003", "c9") }, nil},
		{"last call ends", func() { tab.CallEnded("1003", "c2") }, []string{"1003:dnd"}}, // on_call
		{"dnd off", func() { tab.SetDND("1003", false) }, []string{"1003:available"}},
		{"unregister", func() { tab.SetRegistered("1003", false) }, []string{"1003:available"}},
		{"unregister again", func() { tab.SetRegistered("1003", false) }, nil},
	}
	var last uint64
	for _, step := range steps {
		step.do()
		got := wantEvents(t, tab, w, step.want...)
		for _, s := range got {
			if s.Seq <= last {
				t.Errorf("%s: Seq %d after %d", step.name, s.Seq, last)
			}
			last = s.Seq
			if cur, _ := tab.Get(s.Ext); cur != s {
				t.Errorf("%s: event %+v, table has %+v", step.name, s, cur)
			}
		}
		if t.Failed() {
			t.Fatalf("at step %q", step.name)
		}
	}
	if n := store.Saves(); n != 2 {
		t.Errorf("store written %d times, want 2 (a no-op SetDND writes nothing)", n)
	}
}

func TestSetDNDSameValueReturnsState(t *testing.T) {
	tab, store := newTable(t)
	w := watch(t, tab)
	s, err := tab.SetDND("1004", false)
	if err != nil || s.Ext != "1004" || s.Status != Available || s.DND {
		t.Errorf("SetDND(off) on an available user = %+v, %v", s, err)
	}
	noSignal(t, w)
	if store.Saves() != 0 {
		t.Errorf("no-op saved")
	}
}

func TestChangedFollowsStatusOnly(t *testing.T) {
	tab, _ := newTable(t)
	clock := time.Date(2026, 1, 2, 9, 0, 0, 0, time.UTC)
	tab.now = func() time.Time { return clock }

	clock = clock.Add(time.Minute)
	tab.CallStarted("1001", "c1")
	s, _ := tab.Get("1001")
	if !s.Changed.Equal(clock) {
		t.Errorf("busy: Changed %v, want %v", s.Changed, clock)
	}
	busySince := clock
	clock = clock.Add(time.Minute)
	tab.SetRegistered("1001", true)
	tab.CallStarted("1001", "c2")
	tab.CallEnded("1001", "c2")
	if s, _ := tab.Get("1001"); !s.Changed.Equal(busySince) {
		t.Errorf("Changed moved to %v without a status change", s.Changed)
	}
	clock = clock.Add(time.Minute)
	s, _ = tab.SetDND("1001", true)
	if !s.Changed.Equal(clock) {
		t.Errorf("dnd: Changed %v, want %v", s.Changed, clock)
	}
}

func TestListInConfiguredOrderAndCounts(t *testing.T) {
	users := []User{{"300", "Zed"}, {"1001", "Alice"}, {"20", "Mo"}}
	tab, err := NewTable(users, &MemoryStore{})
	if err != nil {
		t.Fatal(err)
	}
	tab.CallStarted("1001", "c1")
	tab.SetDND("20", true)
	tab.SetRegistered("300", true)
	list := tab.List()
	var exts []string
	for _, s := range list {
		exts = append(exts, s.Ext+"="+string(s.Status))
	}
	if got := strings.Join(exts, " "); got != "300=available 1001=busy 20=dnd" {
		t.Errorf("List = %s", got)
	}
	c := tab.Counts()
	if len(c) != 3 || c[Available] != 1 || c[Busy] != 1 || c[DND] != 1 {
		t.Errorf("Counts = %v", c)
	}
}

func TestNewTableRejectsBadUsers(t *testing.T) {
	for name, users := range map[string][]User{
		"duplicate": {{"1001", "A"}, {"1001", "B"}},
		"empty ext": {{"", "A"}},
	} {
		if _, err := NewTable(users, &MemoryStore{}); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := NewTable(demoUsers, nil); err == nil {
		t.Errorf("nil store: no error")
	}
	store := &MemoryStore{}
	store.Fail(errors.New("disk gone"))
	if _, err := NewTable(demoUsers, store); err == nil || !strings.Contains(err.Error(), "disk gone") {
		t.Errorf("failing store: %v", err)
	}
}

func TestStoredDNDLoadedAndForeignIgnored(t *testing.T) {
	store := &MemoryStore{}
	store.SaveDND("1005", Setting{DND: true})
	store.SaveDND("1004", Setting{DND: false})
	store.SaveDND("9999", Setting{DND: true}) // no longer configured
	tab, err := NewTable(demoUsers, store)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, tab, "1005", DND)
	wantStatus(t, tab, "1004", Available)
	if s, _ := tab.Get("1005"); !s.DND || s.Seq != 0 {
		t.Errorf("Get(1005) = %+v", s)
	}
}

func TestStateJSON(t *testing.T) {
	tab, _ := newTable(t)
	tab.CallStarted("1001", "c1")
	s, _ := tab.Get("1001")
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	json.Unmarshal(b, &m)
	for _, k := range []string{"ext", "name", "status", "dnd", "on_call", "registered", "changed", "seq"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON %s lacks %q", b, k)
		}
	}
	if m["status"] != "busy" || m["on_call"] != true {
		t.Errorf("JSON %s", b)
	}
}

func TestStatusDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	tab, _ := newTable(t)
	tab.CallStarted("1003", "c1")
	var st Status
	if n := testing.AllocsPerRun(1000, func() { st, _ = tab.Status("1003") }); n != 0 {
		t.Errorf("Status allocates %v times", n)
	}
	if st != Busy {
		t.Errorf("Status = %q", st)
	}
}

// A user's set of calls is gone once their last call ends, by CallEnded or EndCallsWhere: the
// table keeps nothing per user that a busy hour made and left empty.
func TestCallSetGoesWithTheLastCall(t *testing.T) {
	tab, _ := newTable(t)
	calls := func(ext string) map[string]struct{} {
		tab.mu.Lock()
		defer tab.mu.Unlock()
		return tab.rows.Load().index[ext].calls
	}
	tab.CallStarted("1001", "a")
	tab.CallStarted("1001", "b")
	tab.CallEnded("1001", "a")
	if calls("1001") == nil {
		t.Fatal("the set went with a call still up")
	}
	tab.CallEnded("1001", "b")
	if c := calls("1001"); c != nil {
		t.Errorf("after the last call the set is %v, want none", c)
	}
	tab.CallStarted("1002", "x")
	tab.CallStarted("1002", "y")
	if n := tab.EndCallsWhere(func(string) bool { return true }); n != 2 {
		t.Fatalf("EndCallsWhere ended %d calls, want 2", n)
	}
	if c := calls("1002"); c != nil {
		t.Errorf("after EndCallsWhere the set is %v, want none", c)
	}
	wantStatus(t, tab, "1002", Available)
}
