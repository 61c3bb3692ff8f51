package presence

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

func TestWatcherOrderOfLastChange(t *testing.T) {
	tab, _ := newTable(t)
	w := watch(t, tab)
	tab.CallStarted("1001", "c1")
	tab.SetDND("1002", true)
	tab.SetRegistered("1003", true)
	tab.CallEnded("1001", "c1") // 1001 changed last now
	select {
	case <-w.Ready():
	default:
		t.Fatal("Ready not signalled")
	}
	got := wantEvents(t, tab, w, "1002:dnd", "1003:available", "1001:available")
	for i := 1; i < len(got); i++ {
		if got[i].Seq <= got[i-1].Seq {
			t.Errorf("Seq not ascending: %+v", got)
		}
	}
	wantEvents(t, tab, w) // taken
	noSignal(t, w)

	// The next change signals again.
	tab.SetDND("1002", false)
	select {
	case <-w.Ready():
	default:
		t.Fatal("Ready not signalled after the queue was emptied")
	}
	wantEvents(t, tab, w, "1002:available")
}

func TestSlowWatcherGetsLatestPerExtension(t *testing.T) {
	tab, _ := newTable(t)
	w := watch(t, tab)
	rng := rand.New(rand.NewPCG(1, 2))
	for range 1000 {
		ext := demoUsers[rng.IntN(len(demoUsers))].Ext
		switch rng.IntN(4) {
		case 0:
			tab.CallStarted(ext, "c1")
		case 1:
			tab.CallEnded(ext, "c1")
		case 2:
			tab.SetDND(ext, rng.IntN(2) == 0)
		case 3:
			tab.SetRegistered(ext, rng.IntN(2) == 0)
		}
	}
	changes := w.Changes()
	if len(changes) == 0 || len(changes) > len(demoUsers) {
		t.Fatalf("%d changes for %d users", len(changes), len(demoUsers))
	}
	seen := map[string]bool{}
	for i, s := range changes {
		if seen[s.Ext] {
			t.Errorf("%s listed twice", s.Ext)
		}
		seen[s.Ext] = true
		if cur, _ := tab.Get(s.Ext); cur != s {
			t.Errorf("got %+v, latest is %+v", s, cur)
		}
		if i > 0 && s.Seq <= changes[i-1].Seq {
			t.Errorf("not in order of last change: %+v", changes)
		}
	}
	if len(w.pend) != 0 {
		t.Errorf("%d left pending", len(w.pend))
	}
}

func TestNeverReadingWatcherDoesNotBlock(t *testing.T) {
	users := manyUsers(100)
	tab, err := NewTable(users, &MemoryStore{})
	if err != nil {
		t.Fatal(err)
	}
	stuck := tab.Watch().(*Watcher) // never read
	defer stuck.Close()
	n := 100_000
	within(t, 20*time.Second, "100k changes with a stuck watcher", func() {
		for i := range n {
			ext := users[(i/4)%len(users)].Ext // each goes through all four
			switch i % 4 {
			case 0:
				tab.CallStarted(ext, "c1")
			case 1:
				tab.SetDND(ext, true)
			case 2:
				tab.CallEnded(ext, "c1")
			case 3:
				tab.SetDND(ext, false)
			}
		}
	})
	// Its queue stays bounded by the number of users, not the number of changes.
	stuck.mu.Lock()
	pend, pos := len(stuck.pend), len(stuck.pos)
	stuck.mu.Unlock()
	if pos != len(users) || pend > 2*len(users)+64 {
		t.Errorf("stuck watcher holds %d entries for %d extensions", pend, pos)
	}
	if got := len(stuck.Changes()); got != len(users) {
		t.Errorf("Changes = %d states, want %d", got, len(users))
	}
}

func TestCloseStopsDelivery(t *testing.T) {
	tab, _ := newTable(t)
	w := tab.Watch()
	other := watch(t, tab)
	if tab.Watchers() != 2 {
		t.Fatalf("Watchers = %d", tab.Watchers())
	}
	tab.CallStarted("1001", "c1")
	w.Close()
	w.Close() // idempotent
	tab.CallEnded("1001", "c1")
	if tab.Watchers() != 1 {
		t.Errorf("Watchers = %d after Close", tab.Watchers())
	}
	if c := w.Changes(); c != nil {
		t.Errorf("Changes after Close = %+v", c)
	}
	// Ready is closed: a pending signal may come first, then the channel ends.
	within(t, time.Second, "Ready closed", func() {
		for range w.Ready() {
		}
	})
	wantEvents(t, tab, other, "1001:available")
}

func TestWatchListIsConsistent(t *testing.T) {
	tab, _ := newTable(t)
	tab.CallStarted("1001", "c1")
	w, list := tab.WatchList()
	defer w.Close()
	if len(list) != len(demoUsers) || list[0].Status != Busy {
		t.Errorf("WatchList listing %+v", list)
	}
	noSignal(t, w)
	tab.CallEnded("1001", "c1")
	got := wantEvents(t, tab, w, "1001:available")
	if len(got) == 1 && got[0].Seq <= list[0].Seq {
		t.Errorf("event Seq %d not after listed %d", got[0].Seq, list[0].Seq)
	}
}

// TestConcurrentWritersAndWatchers runs writers, status readers and watchers at once (run it
// with -race): every watcher ends with every extension's latest state, having seen Seq rise;
// the ordered watcher that never overflows saw every Seq, one by one.
func TestConcurrentWritersAndWatchers(t *testing.T) {
	users := manyUsers(50)
	tab, err := NewTable(users, &MemoryStore{})
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var readers sync.WaitGroup
	type view struct {
		latest  map[string]State
		lastSeq uint64
		bad     int
		gaps    int
	}
	// 0-3 coalesce (0 reads slowly), 4 is ordered and overflows, 5 is ordered and cannot.
	views := make([]*view, 6)
	for i := range views {
		v := &view{latest: map[string]State{}}
		views[i] = v
		var w *Watcher
		switch i {
		case 4:
			w = watchOrdered(t, tab, 8)
		case 5:
			w = watchOrdered(t, tab, 1<<20)
		default:
			w = watch(t, tab)
		}
		apply := func() {
			for _, s := range w.Changes() {
				if s.Seq <= v.lastSeq {
					v.bad++
				}
				if i == 5 && s.Seq != v.lastSeq+1 {
					v.gaps++
				}
				v.lastSeq = s.Seq
				v.latest[s.Ext] = s
			}
		}
		readers.Go(func() {
			for {
				select {
				case <-w.Ready():
					apply()
					if i == 0 {
						time.Sleep(time.Millisecond) // a slow one
					}
				case <-stop:
					apply()
					return
				}
			}
		})
	}
	readers.Go(func() { // routing's reads
		for {
			select {
			case <-stop:
				return
			default:
			}
			for _, u := range users {
				if st, ok := tab.Status(u.Ext); !ok || st == "" {
					t.Errorf("Status(%s) = %q, %v", u.Ext, st, ok)
				}
			}
			tab.List()
			tab.Counts()
		}
	})

	var writers sync.WaitGroup
	steps := 2000
	if raceEnabled {
		steps = 500
	}
	for g := range 4 {
		writers.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 7))
			for range steps {
				ext := users[rng.IntN(len(users))].Ext
				id := fmt.Sprint("c", rng.IntN(3))
				switch rng.IntN(5) {
				case 0, 1:
					tab.CallStarted(ext, id)
				case 2:
					tab.CallEnded(ext, id)
				case 3:
					if _, err := tab.SetDND(ext, rng.IntN(2) == 0); err != nil {
						t.Error(err)
					}
				case 4:
					tab.SetRegistered(ext, rng.IntN(2) == 0)
				}
			}
		})
	}
	// A watcher that comes and goes meanwhile.
	writers.Go(func() {
		for range 50 {
			w := tab.Watch()
			w.Changes()
			w.Close()
		}
	})
	writers.Wait()
	close(stop)
	readers.Wait()

	final := tab.List()
	for i, v := range views {
		if v.bad > 0 {
			t.Errorf("watcher %d: Seq went backwards %d times", i, v.bad)
		}
		if v.gaps > 0 {
			t.Errorf("ordered watcher %d: %d changes missing", i, v.gaps)
		}
		for _, s := range final {
			if s.Seq == 0 {
				continue // never changed
			}
			if v.latest[s.Ext] != s {
				t.Errorf("watcher %d: %s last seen %+v, table has %+v", i, s.Ext, v.latest[s.Ext], s)
			}
		}
	}
}

func TestOrderedWatcherGetsEveryStep(t *testing.T) {
	tab, _ := newTable(t)
	w := watchOrdered(t, tab, 100)
	// A call too short for any reader to see between its start and end.
	tab.CallStarted("1001", "c1")
	tab.SetDND("1002", true)
	tab.CallEnded("1001", "c1")
	tab.SetRegistered("1003", true)
	tab.SetDND("1002", false)
	got := takeEvents(t, tab, w, "1001:busy", "1002:dnd", "1001:available", "1003:available", "1002:available")
	for i := 1; i < len(got); i++ {
		if got[i].Seq != got[i-1].Seq+1 {
			t.Errorf("Seq not consecutive: %+v", got)
		}
	}
	if got[0].OnCall != true || got[2].OnCall != false {
		t.Errorf("steps do not show the call: %+v", got)
	}
	noSignal(t, w)
	wantEvents(t, tab, w) // taken
	if d := w.Dropped(); d != 0 {
		t.Errorf("Dropped = %d", d)
	}
}

// An ordered watcher whose reader falls more than its limit behind gets the latest state per
// extension instead (what a coalescing watcher would hold), counts what it dropped, and is
// ordered again once read.
func TestOrderedWatcherOverflowFallsBackToLatest(t *testing.T) {
	tab, _ := newTable(t)
	w := watchOrdered(t, tab, 4)
	tab.CallStarted("1001", "c1") // 1: superseded by 5
	tab.SetDND("1002", true)      // 2: superseded by 6
	tab.CallStarted("1003", "c1") // 3
	tab.CallEnded("1001", "c1")   // 4: the limit
	tab.SetDND("1002", false)     // 5: overflow: 1 and 2 dropped
	tab.SetDND("1004", true)      // 6: coalesced, nothing to drop
	tab.SetDND("1004", false)     // 7: coalesced over 6
	got := takeEvents(t, tab, w, "1003:busy", "1001:available", "1002:available", "1004:available")
	for _, s := range got {
		if cur, _ := tab.Get(s.Ext); cur != s {
			t.Errorf("after overflow got %+v, latest is %+v", s, cur)
		}
	}
	if d := w.Dropped(); d != 3 {
		t.Errorf("Dropped = %d, want 3", d)
	}

	// Read: step by step again.
	tab.CallStarted("1005", "c1")
	tab.CallEnded("1005", "c1")
	takeEvents(t, tab, w, "1005:busy", "1005:available")
	if d := w.Dropped(); d != 3 {
		t.Errorf("Dropped = %d after an ordered read, want still 3", d)
	}
}

func TestOrderedWatcherLimitBelowOne(t *testing.T) {
	for _, limit := range []int{0, -5} {
		tab, _ := newTable(t)
		w := watchOrdered(t, tab, limit)
		tab.CallStarted("1001", "c1")
		takeEvents(t, tab, w, "1001:busy") // one change fits
		tab.CallEnded("1001", "c1")
		tab.SetDND("1002", true)
		takeEvents(t, tab, w, "1001:available", "1002:dnd")
		tab.CallStarted("1001", "c2")
		tab.CallEnded("1001", "c2")
		takeEvents(t, tab, w, "1001:available") // limit 1: the second coalesces over the first
		if d := w.Dropped(); d != 1 {
			t.Errorf("limit %d: Dropped = %d, want 1", limit, d)
		}
	}
}

func TestNeverReadingOrderedWatcherStaysBounded(t *testing.T) {
	users := manyUsers(100)
	tab, err := NewTable(users, &MemoryStore{})
	if err != nil {
		t.Fatal(err)
	}
	const limit = 1000
	stuck := tab.WatchOrdered(limit).(*Watcher) // never read until the end
	defer stuck.Close()
	n := 100_000
	within(t, 20*time.Second, "100k changes with a stuck ordered watcher", func() {
		for i := range n {
			ext := users[(i/2)%len(users)].Ext
			if i%2 == 0 {
				tab.CallStarted(ext, "c1")
			} else {
				tab.CallEnded(ext, "c1")
			}
		}
	})
	stuck.mu.Lock()
	pend := len(stuck.pend)
	stuck.mu.Unlock()
	if pend > max(limit, 2*len(users)+64) {
		t.Errorf("stuck ordered watcher holds %d entries (limit %d, %d users)", pend, limit, len(users))
	}
	changes := stuck.Changes()
	if len(changes) != len(users) {
		t.Errorf("Changes = %d states, want the latest of each of %d users", len(changes), len(users))
	}
	for _, s := range changes {
		if s.Status != Available {
			t.Errorf("%s: %s, want available (every call ended)", s.Ext, s.Status)
		}
	}
	if d := stuck.Dropped(); d != uint64(n-len(users)) {
		t.Errorf("Dropped = %d, want %d", d, n-len(users))
	}
}
