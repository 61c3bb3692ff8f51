package presence

import (
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

func TestWatcherOrderOfLastChange(t *testing.T) {
	tab, _ := newTable(t)
	w := watch(t, tab)
	tab.CallStarted("1001")
	tab.SetDND("1002", true)
	tab.SetRegistered("1003", true)
	tab.CallEnded("1001") // 1001 changed last now
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
			tab.CallStarted(ext)
		case 1:
			tab.CallEnded(ext)
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
	stuck := tab.Watch() // never read
	defer stuck.Close()
	n := 100_000
	within(t, 20*time.Second, "100k changes with a stuck watcher", func() {
		for i := range n {
			ext := users[(i/4)%len(users)].Ext // each goes through all four
			switch i % 4 {
			case 0:
				tab.CallStarted(ext)
			case 1:
				tab.SetDND(ext, true)
			case 2:
				tab.CallEnded(ext)
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
	tab.CallStarted("1001")
	w.Close()
	w.Close() // idempotent
	tab.CallEnded("1001")
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
	tab.CallStarted("1001")
	w, list := tab.WatchList()
	defer w.Close()
	if len(list) != len(demoUsers) || list[0].Status != Busy {
		t.Errorf("WatchList listing %+v", list)
	}
	noSignal(t, w)
	tab.CallEnded("1001")
	got := wantEvents(t, tab, w, "1001:available")
	if len(got) == 1 && got[0].Seq <= list[0].Seq {
		t.Errorf("event Seq %d not after listed %d", got[0].Seq, list[0].Seq)
	}
}

// TestConcurrentWritersAndWatchers runs writers, status readers and watchers at once (run it
// with -race): every watcher ends with every extension's latest state, having seen Seq rise.
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
	}
	views := make([]*view, 4)
	for i := range views {
		v := &view{latest: map[string]State{}}
		views[i] = v
		w := watch(t, tab)
		apply := func() {
			for _, s := range w.Changes() {
				if s.Seq <= v.lastSeq {
					v.bad++
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
				switch rng.IntN(5) {
				case 0, 1:
					tab.CallStarted(ext)
				case 2:
					tab.CallEnded(ext)
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
