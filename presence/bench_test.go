package presence

import (
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkStatus is routing's read on every call.
func BenchmarkStatus(b *testing.B) {
	users := manyUsers(10_000)
	tab, err := NewTable(users, &MemoryStore{})
	if err != nil {
		b.Fatal(err)
	}
	tab.CallStarted(users[4321].Ext, "c1")
	ext := users[4321].Ext
	b.ReportAllocs()
	for b.Loop() {
		if st, _ := tab.Status(ext); st != Busy {
			b.Fatal(st)
		}
	}
}

// BenchmarkStatusWhileWriting reads statuses in parallel while another goroutine changes the
// table as fast as it can, with a watcher that never reads: reads do not wait behind writes.
func BenchmarkStatusWhileWriting(b *testing.B) {
	users := manyUsers(10_000)
	tab, err := NewTable(users, &MemoryStore{})
	if err != nil {
		b.Fatal(err)
	}
	stuck := tab.Watch()
	defer stuck.Close()
	benchStatusWhile(b, tab, users, func(i int) {
		ext := users[i%len(users)].Ext
		tab.CallStarted(ext, "c1")
		tab.CallEnded(ext, "c1")
	})
}

// BenchmarkStatusWhileUsersChange reads statuses in parallel while another goroutine adds and
// removes users as fast as it can (each a copy of 10,000 rows): reads take no lock and do not
// allocate while the rows are replaced.
func BenchmarkStatusWhileUsersChange(b *testing.B) {
	users := manyUsers(10_000)
	tab, err := NewTable(users, &MemoryStore{})
	if err != nil {
		b.Fatal(err)
	}
	benchStatusWhile(b, tab, users, func(int) {
		if _, err := tab.Add(User{Ext: "99999"}); err != nil {
			panic(err)
		}
		if err := tab.Remove("99999"); err != nil {
			panic(err)
		}
	})
}

// benchStatusWhile times parallel Status reads of users while one goroutine calls write(i),
// i = 0, 1, …, as fast as it can.
func benchStatusWhile(b *testing.B, tab *Table, users []User, write func(i int)) {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			write(i)
		}
	})
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			tab.Status(users[i%len(users)].Ext)
			i++
		}
	})
	b.StopTimer()
	close(stop)
	wg.Wait()
}

// BenchmarkFanout: 10,000 users, 1,000 coalescing watchers each draining on its own goroutine.
// Each op is one change (SetDND or a call starting or ending); it measures the time from the
// change to the last watcher having received it, reported as p50 and p99 in µs, and how long the
// changing call itself took (write-p50/p99).
func BenchmarkFanout(b *testing.B) {
	fanout(b, func(t *Table) Feed { return t.Watch() })
}

// BenchmarkFanoutOrdered is BenchmarkFanout with ordered watchers (as the SIP notifier reads).
func BenchmarkFanoutOrdered(b *testing.B) {
	fanout(b, func(t *Table) Feed { return t.WatchOrdered(4096) })
}

func fanout(b *testing.B, watch func(*Table) Feed) {
	const nUsers, nWatchers = 10_000, 1_000
	users := manyUsers(nUsers)
	tab, err := NewTable(users, &MemoryStore{})
	if err != nil {
		b.Fatal(err)
	}
	var (
		target    atomic.Uint64 // Seq of the change in flight
		remaining atomic.Int64  // watchers yet to receive it
		done      = make(chan time.Time, 1)
		wg        sync.WaitGroup
	)
	watchers := make([]Feed, nWatchers)
	for i := range watchers {
		w := watch(tab)
		watchers[i] = w
		wg.Go(func() {
			for range w.Ready() {
				for _, s := range w.Changes() {
					if s.Seq == target.Load() && remaining.Add(-1) == 0 {
						done <- time.Now()
					}
				}
			}
		})
	}

	var seq uint64
	lat := make([]time.Duration, 0, b.N)
	write := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ext := users[(i/4)%nUsers].Ext
		seq++
		remaining.Store(nWatchers)
		target.Store(seq)
		start := time.Now()
		switch i % 4 {
		case 0:
			tab.SetDND(ext, true)
		case 1:
			tab.CallStarted(ext, "call-1") // on_call changes, status stays dnd
		case 2:
			tab.CallEnded(ext, "call-1")
		case 3:
			tab.SetDND(ext, false)
		}
		written := time.Now()
		end := <-done
		write = append(write, written.Sub(start))
		lat = append(lat, end.Sub(start))
	}
	b.StopTimer()
	for _, w := range watchers {
		w.Close()
	}
	wg.Wait()

	b.ReportMetric(percentile(lat, 50), "p50-µs")
	b.ReportMetric(percentile(lat, 99), "p99-µs")
	b.ReportMetric(percentile(write, 50), "write-p50-µs")
	b.ReportMetric(percentile(write, 99), "write-p99-µs")
}

// percentile returns the p-th percentile of d in µs.
func percentile(d []time.Duration, p int) float64 {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	return float64(d[(len(d)-1)*p/100]) / float64(time.Microsecond)
}
