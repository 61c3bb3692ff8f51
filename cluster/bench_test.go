package cluster

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard-voip/switchboard/internal/natstest"
	"github.com/switchboard-voip/switchboard/presence"
)

// benchNode is a node for benchmarks: nUsers users, on nats.
func benchNode(b *testing.B, nats *natstest.Cluster, name string, first int, users []presence.User) (*Node, *presence.Table) {
	b.Helper()
	n, err := Connect(context.Background(), Config{Node: name, NATS: nats.URLs(first), NodeTTL: 15 * time.Second, Replicas: nats.Size()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = n.Close() })
	table, err := presence.NewTable(users, n)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := n.Start(ctx, table); err != nil {
		b.Fatal(err)
	}
	return n, table
}

// benchPair is nodes a and b, with nUsers users, on a three-server NATS cluster.
func benchPair(b *testing.B, nUsers int) (users []presence.User, ta, tb *presence.Table) {
	b.Helper()
	nats := natstest.Start(b, 3, true)
	users = benchUsers(nUsers)
	_, ta = benchNode(b, nats, "a", 0, users)
	_, tb = benchNode(b, nats, "b", 1, users)
	return users, ta, tb
}

func benchUsers(n int) []presence.User {
	out := make([]presence.User, n)
	for i := range out {
		out[i] = presence.User{Ext: fmt.Sprint(10000 + i)}
	}
	return out
}

// BenchmarkChangeReachesWatchersOnAnotherNode: two nodes on a three-server NATS cluster
// (buckets with three replicas), 1,000 watchers of node b's table. Each op is one change made
// at node a (DND on, a call starts, the call ends, DND off, in turn); it measures the time until
// every watcher at node b has it, reported as p50 and p99 in ms (the aim: p99 under 100 ms).
func BenchmarkChangeReachesWatchersOnAnotherNode(b *testing.B) {
	const nUsers, nWatchers = 1_000, 1_000
	users, ta, tb := benchPair(b, nUsers)

	var (
		target    atomic.Pointer[func(presence.State) bool]
		remaining atomic.Int64
		done      = make(chan time.Time, 1)
		wg        sync.WaitGroup
	)
	never := func(presence.State) bool { return false }
	target.Store(&never)
	feeds := make([]presence.Feed, nWatchers)
	for i := range feeds {
		w := tb.WatchOrdered(4096)
		feeds[i] = w
		wg.Go(func() {
			for range w.Ready() {
				for _, s := range w.Changes() {
					if (*target.Load())(s) && remaining.Add(-1) == 0 {
						done <- time.Now()
					}
				}
			}
		})
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ext := users[(i/4)%nUsers].Ext
		var want func(presence.State) bool
		switch i % 4 {
		case 0:
			want = func(s presence.State) bool { return s.Ext == ext && s.DND }
		case 1:
			want = func(s presence.State) bool { return s.Ext == ext && s.OnCall }
		case 2:
			want = func(s presence.State) bool { return s.Ext == ext && !s.OnCall }
		case 3:
			want = func(s presence.State) bool { return s.Ext == ext && !s.DND }
		}
		remaining.Store(nWatchers)
		target.Store(&want)
		start := time.Now()
		switch i % 4 {
		case 0:
			if _, err := ta.SetDND(ext, true); err != nil {
				b.Fatal(err)
			}
		case 1:
			ta.CallStarted(ext, "call-1")
		case 2:
			ta.CallEnded(ext, "call-1")
		case 3:
			if _, err := ta.SetDND(ext, false); err != nil {
				b.Fatal(err)
			}
		}
		select {
		case end := <-done:
			lat = append(lat, end.Sub(start))
		case <-time.After(10 * time.Second):
			b.Fatalf("change %d did not reach node b's watchers in 10s", i)
		}
	}
	b.StopTimer()
	for _, f := range feeds {
		f.Close()
	}
	wg.Wait()
	b.ReportMetric(percentileMS(lat, 50), "p50-ms")
	b.ReportMetric(percentileMS(lat, 99), "p99-ms")
}

// BenchmarkChangesPerSecondThroughTheCluster: 8 writers at node a each change their own users'
// DND as fast as the cluster takes them; node b applies every one. Reported: changes a second
// seen at node b.
func BenchmarkChangesPerSecondThroughTheCluster(b *testing.B) {
	const writers, nUsers = 8, 1_000
	users, ta, tb := benchPair(b, nUsers)
	w := tb.WatchOrdered(1 << 16)
	defer w.Close()

	b.ResetTimer()
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				ext := users[(int(i)*writers+g)%nUsers].Ext
				on := (i/int64(nUsers))%2 == 0
				if _, err := ta.SetDND(ext, on); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	// Every change saved at a has reached b once b's revision for the last user written is
	// the store's: wait until b shows the final setting of each user written.
	deadline := time.Now().Add(30 * time.Second)
	for _, u := range users {
		want, _ := ta.Get(u.Ext)
		for {
			got, _ := tb.Get(u.Ext)
			if got.DND == want.DND {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("node b does not show %s's last setting", u.Ext)
			}
			time.Sleep(time.Millisecond)
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "changes/s")
}

func percentileMS(d []time.Duration, p int) float64 {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return float64(s[(len(s)-1)*p/100]) / float64(time.Millisecond)
}
