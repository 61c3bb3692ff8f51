package presence

import (
	"sync"
	"testing"
)

// sharedStore is a SharedStore in memory: each save gets the next revision.
type sharedStore struct {
	MemoryStore
	mu  sync.Mutex
	rev uint64
}

func (s *sharedStore) SaveDNDRevision(ext string, st Setting) (uint64, error) {
	if err := s.SaveDND(ext, st); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rev++
	return s.rev, nil
}

// SaveDNDIf saves when rev is the store's latest revision (every key shares one counter here,
// which is stricter than a bucket's per-key revisions).
func (s *sharedStore) SaveDNDIf(ext string, st Setting, rev uint64) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rev != s.rev {
		return 0, ErrStale
	}
	if err := s.SaveDND(ext, st); err != nil {
		return 0, err
	}
	s.rev++
	return s.rev, nil
}

// TestReplicatedDNDOlderThanTheLastChangeIsIgnored: a change saved here at revision 5 is not
// undone by another node's change at revision 4 delivered late, nor by its own echo; a newer
// one applies and is told to watchers once.
func TestReplicatedDNDOlderThanTheLastChangeIsIgnored(t *testing.T) {
	store := &sharedStore{rev: 4}
	tab, err := NewTable(demoUsers, store)
	if err != nil {
		t.Fatal(err)
	}
	w := watchOrdered(t, tab, 16)
	if _, err := tab.SetDND("1001", true); err != nil { // revision 5
		t.Fatal(err)
	}
	tab.ApplyDND("1001", Setting{DND: false}, 4) // late
	tab.ApplyDND("1001", Setting{DND: true}, 5)  // echo
	wantStatus(t, tab, "1001", DND)
	tab.ApplyDND("1001", Setting{DND: false}, 6)
	wantStatus(t, tab, "1001", Available)
	wantEvents(t, tab, w, "1001:dnd", "1001:available")

	// With a shared store the same value is saved again: another node may have changed it.
	if _, err := tab.SetDND("1001", false); err != nil {
		t.Fatal(err)
	}
	if store.save != 2 {
		t.Fatalf("%d saves, want 2 (a shared store is always written)", store.save)
	}
	tab.ApplyDND("1001", Setting{DND: true}, 6) // older than the save just made (7)
	wantStatus(t, tab, "1001", Available)
}

// TestOtherNodesMakeAUserBusyAndRegistered: a call another node reports makes the user Busy
// here; registration there shows as registered; forgetting the node (it left or died) undoes
// both; DND still wins over Busy.
func TestOtherNodesMakeAUserBusyAndRegistered(t *testing.T) {
	tab, _ := newTable(t)
	tab.SetRemote("1002", "b", Remote{OnCall: true})
	tab.SetRemote("1002", "c", Remote{Registered: true})
	wantStatus(t, tab, "1002", Busy)
	if s, _ := tab.Get("1002"); !s.Registered || !s.OnCall {
		t.Fatalf("state %+v, want on a call and registered", s)
	}
	tab.SetRemote("1002", "b", Remote{})
	wantStatus(t, tab, "1002", Available)
	tab.SetRemote("1003", "b", Remote{OnCall: true})
	if n := tab.ClearNode("c"); n != 1 {
		t.Fatalf("ClearNode(c) touched %d users, want 1", n)
	}
	if s, _ := tab.Get("1002"); s.Registered {
		t.Fatal("still registered after its node was cleared")
	}
	if _, err := tab.SetDND("1003", true); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, tab, "1003", DND)
	tab.ClearNode("b")
	if s, _ := tab.Get("1003"); s.OnCall {
		t.Fatal("still on b's call after b was cleared")
	}
	if tab.rows.Load().index["1002"].remote != nil {
		t.Fatal("an empty set of nodes is kept for 1002")
	}
	tab.SetRemote("9999", "b", Remote{OnCall: true}) // not a user: ignored
}

// TestLocalChangesAreObserved: the observer hears of a user's first call, last call and
// registration here, not of other nodes' reports nor of a second call; Local and Locals tell
// this node's own part only.
func TestLocalChangesAreObserved(t *testing.T) {
	tab, _ := newTable(t)
	var heard []string
	if err := tab.ObserveLocal(func(ext string) { heard = append(heard, ext) }); err != nil {
		t.Fatal(err)
	}
	if err := tab.ObserveLocal(func(string) {}); err == nil {
		t.Fatal("a second observer was accepted")
	}
	tab.CallStarted("1001", "c1")
	tab.CallStarted("1001", "c2")
	tab.SetRemote("1002", "b", Remote{OnCall: true})
	tab.SetRegistered("1003", true)
	tab.SetRegistered("1003", true)
	tab.CallEnded("1001", "c1")
	tab.CallEnded("1001", "c2")
	tab.CallStarted("1004", "c3")
	tab.EndCallsWhere(func(string) bool { return true })
	want := []string{"1001", "1003", "1001", "1004", "1004"}
	if len(heard) != len(want) {
		t.Fatalf("observer heard %v, want %v", heard, want)
	}
	for i := range want {
		if heard[i] != want[i] {
			t.Fatalf("observer heard %v, want %v", heard, want)
		}
	}
	if r, _ := tab.Local("1002"); r != (Remote{}) {
		t.Fatalf("Local(1002) = %+v: another node's call counted as this node's", r)
	}
	if got := tab.Locals(); len(got) != 1 || got["1003"] != (Remote{Registered: true}) {
		t.Fatalf("Locals() = %v, want 1003 registered only", got)
	}
}
