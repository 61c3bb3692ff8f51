package presence

import (
	"fmt"
	"testing"
	"time"
)

// demoUsers are the embedded demo config's users.
var demoUsers = []User{
	{"1001", "Alice"}, {"1002", "Bob"}, {"1003", "Carol"}, {"1004", "Dave"}, {"1005", "Erin"},
}

// manyUsers returns n users with five-digit extensions 10000, 10001, ...
func manyUsers(n int) []User {
	users := make([]User, n)
	for i := range users {
		users[i] = User{Ext: fmt.Sprint(10000 + i), Name: fmt.Sprint("User ", i)}
	}
	return users
}

// newTable builds a table of the demo users over a fresh MemoryStore.
func newTable(t testing.TB) (*Table, *MemoryStore) {
	t.Helper()
	store := &MemoryStore{}
	tab, err := NewTable(demoUsers, store)
	if err != nil {
		t.Fatal(err)
	}
	return tab, store
}

// watch starts a coalescing watcher that the test closes at its end.
func watch(t testing.TB, tab *Table) *Watcher {
	w := tab.Watch().(*Watcher)
	t.Cleanup(w.Close)
	return w
}

// watchOrdered starts an ordered watcher that the test closes at its end.
func watchOrdered(t testing.TB, tab *Table, limit int) *Watcher {
	w := tab.WatchOrdered(limit).(*Watcher)
	t.Cleanup(w.Close)
	return w
}

// wantStatus checks ext's status through both Status and Get.
func wantStatus(t *testing.T, tab *Table, ext string, want Status) {
	t.Helper()
	got, ok := tab.Status(ext)
	if !ok || got != want {
		t.Errorf("Status(%s) = %q, %v; want %q", ext, got, ok, want)
	}
	if s, _ := tab.Get(ext); s.Status != want {
		t.Errorf("Get(%s).Status = %q, want %q", ext, s.Status, want)
	}
}

// wantEvents checks that w holds exactly the given (ext, status) changes, in order, and that
// each is the extension's current state.
func wantEvents(t *testing.T, tab *Table, w Feed, want ...string) []State {
	t.Helper()
	got := w.Changes()
	var names []string
	for _, s := range got {
		names = append(names, s.Ext+":"+string(s.Status))
	}
	if fmt.Sprint(names) != fmt.Sprint(want) {
		t.Errorf("changes %v, want %v", names, want)
	}
	return append([]State(nil), got...)
}

// takeEvents checks that w was signalled, then that it holds exactly the given changes (see
// wantEvents).
func takeEvents(t *testing.T, tab *Table, w Feed, want ...string) []State {
	t.Helper()
	select {
	case <-w.Ready():
	default:
		t.Errorf("Ready not signalled; want %v", want)
	}
	return wantEvents(t, tab, w, want...)
}

// noSignal checks that w's Ready channel has nothing waiting.
func noSignal(t *testing.T, w Feed) {
	t.Helper()
	select {
	case <-w.Ready():
		t.Errorf("Ready signalled with nothing changed (pending %d)", len(w.Changes()))
	default:
	}
}

// within fails the test if fn does not return within d.
func within(t *testing.T, d time.Duration, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s: not done after %v (blocked?)", what, d)
	}
}
