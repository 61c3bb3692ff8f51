package main

import "runtime"

// addSignallingProc runs goroutines on one CPU more than the runtime would by default (all the
// machine's, or its container's quota), unless the operator set GOMAXPROCS; it returns the
// count and whether it set it. The media readers leave one runtime CPU to signalling (package
// media's readerCount says why); with one more they still read on every core. At 2,000
// streaming calls on two CPUs with SIPp beside the switch, three rounds each with the binaries
// taking turns: set-up p50/p99 48/436, 16/180, 44/568 ms and no failed call; one reader on two
// CPUs: 72/656, 28/464, 52/764; a reader on each of two: 160/656 (after a failed run), 76/848,
// 176/2,512 ms, and calls failed in two rounds of three. The operating system shares the cores
// among the threads; the extra one mostly waits for the network.
func addSignallingProc(getenv func(string) string) (int, bool) {
	if getenv("GOMAXPROCS") != "" {
		return runtime.GOMAXPROCS(0), false
	}
	runtime.SetDefaultGOMAXPROCS() // from the default each time: run may be called again (tests)
	n := runtime.GOMAXPROCS(0) + 1
	runtime.GOMAXPROCS(n)
	return n, true
}
