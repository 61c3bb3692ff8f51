package main

import (
	"runtime"
	"testing"
)

// The switch runs on one CPU more than the runtime's default, however often it starts, and
// leaves an operator's GOMAXPROCS alone.
func TestAddSignallingProc(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	runtime.SetDefaultGOMAXPROCS()
	def := runtime.GOMAXPROCS(0)
	for range 2 {
		if n, set := addSignallingProc(func(string) string { return "" }); !set || n != def+1 || runtime.GOMAXPROCS(0) != def+1 {
			t.Fatalf("got %d (set %v, runtime %d), want %d", n, set, runtime.GOMAXPROCS(0), def+1)
		}
	}
	runtime.GOMAXPROCS(1)
	if n, set := addSignallingProc(func(k string) string { return map[string]string{"GOMAXPROCS": "1"}[k] }); set || n != 1 {
		t.Fatalf("with GOMAXPROCS=1 set by the operator: got %d (set %v), want 1 untouched", n, set)
	}
}
