package media

import (
	"runtime"
	"testing"
)

// Media readers never take every CPU the runtime runs goroutines on: one is left for the
// signalling (with one CPU, the one reader shares it).
func TestReadersLeaveACPUToSignalling(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for procs, want := range map[int]int{1: 1, 2: 1, 3: 2} {
		runtime.GOMAXPROCS(procs)
		var p poller
		if p.worker() == nil {
			t.Skip("epoll unavailable: sockets get goroutines of their own")
		}
		if got := len(p.workers); got != want {
			t.Errorf("GOMAXPROCS %d: %d readers, want %d", procs, got, want)
		}
		p.Close()
	}
}
