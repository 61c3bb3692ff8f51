package mailbox

import (
	"runtime"
	"testing"
	"time"
)

type change struct {
	box              string
	newCount, oldCnt int
}

// watch registers a watcher that forwards every call to the returned channel.
func watch(t testing.TB, s *Store) (<-chan change, func()) {
	t.Helper()
	ch := make(chan change, 100)
	cancel := s.Watch(func(box string, n, o int) { ch <- change{box, n, o} })
	return ch, cancel
}

func next(t testing.TB, ch <-chan change) change {
	t.Helper()
	select {
	case c := <-ch:
		return c
	case <-time.After(5 * time.Second):
		t.Fatal("no change reported")
		return change{}
	}
}

func quiet(t testing.TB, ch <-chan change) {
	t.Helper()
	select {
	case c := <-ch:
		t.Errorf("unexpected change %+v", c)
	case <-time.After(50 * time.Millisecond):
	}
}

func TestWatchReportsCountsAfterEachChange(t *testing.T) {
	e := newEnv(t)
	ch, _ := watch(t, e.s)
	var m Message
	steps := []struct {
		name string
		do   func()
		want change
	}{
		{"commit", func() { m = leave(t, e.s, "1001", tone(800, 1)) }, change{"1001", 1, 0}},
		{"second commit", func() { leave(t, e.s, "1001", tone(800, 2)) }, change{"1001", 2, 0}},
		{"other box", func() { leave(t, e.s, "1002", tone(800, 3)) }, change{"1002", 1, 0}},
		{"heard", func() { e.s.SetHeard("1001", m.ID, true) }, change{"1001", 1, 1}},
		{"delete", func() { e.s.Delete("1001", m.ID) }, change{"1001", 1, 0}},
	}
	for _, st := range steps {
		st.do()
		if got := next(t, ch); got != st.want {
			t.Errorf("after %s: %+v, want %+v", st.name, got, st.want)
		}
	}
	// Changes that change nothing are not reported.
	r, _ := e.s.Record("1001", "2001", "")
	r.Abort()
	e.s.SetHeard("1001", m.ID, true) // deleted: fails
	quiet(t, ch)
}

func TestWatchSlowWatcherDoesNotBlockWriter(t *testing.T) {
	e := newEnv(t)
	release := make(chan struct{})
	got := make(chan change, 100)
	e.s.Watch(func(box string, n, o int) {
		<-release
		got <- change{box, n, o}
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 10 {
			r, err := e.s.Record("1001", "2001", "")
			if err != nil {
				t.Error(err)
				return
			}
			if _, err := r.Commit(0); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("writer blocked by a stuck watcher")
	}
	close(release)
	// Piled-up changes coalesce; the last report has the final counts, and
	// counts never go backwards on the way.
	last := change{}
	for last.newCount != 10 {
		c := next(t, got)
		if c.newCount < last.newCount {
			t.Fatalf("counts went back from %d to %d", last.newCount, c.newCount)
		}
		last = c
	}
}

func TestWatchCancel(t *testing.T) {
	e := newEnv(t)
	ch, cancel := watch(t, e.s)
	other, _ := watch(t, e.s)
	leave(t, e.s, "1001", tone(160, 1))
	next(t, ch)
	next(t, other)
	cancel()
	cancel() // idempotent
	leave(t, e.s, "1001", tone(160, 2))
	if c := next(t, other); c.newCount != 2 {
		t.Errorf("remaining watcher got %+v", c)
	}
	quiet(t, ch)
}

func TestCloseStopsWatcherGoroutine(t *testing.T) {
	before := runtime.NumGoroutine()
	e := newEnv(t)
	ch, _ := watch(t, e.s)
	leave(t, e.s, "1001", tone(160, 1))
	next(t, ch)
	r, err := e.s.Record("1001", "2001", "")
	if err != nil {
		t.Fatal(err)
	}
	e.s.Close()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines after Close, %d before Open", runtime.NumGoroutine(), before)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// A recording under way still saves after Close, and tells nobody.
	if _, err := r.Commit(0); err != nil {
		t.Fatal(err)
	}
	wantCounts(t, e.s, "1001", 2, 0)
	quiet(t, ch)
	if cancel := e.s.Watch(func(string, int, int) { t.Error("called after Close") }); cancel == nil {
		t.Error("Watch after Close returned a nil cancel")
	}
}
