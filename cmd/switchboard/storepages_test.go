package main

import (
	"context"
	"errors"
	"runtime"
	"runtime/debug"
	"slices"
	"testing"
	"time"
)

// The store's pages are dropped at a look that finds no collection since the one before, and kept
// while the switch collects (a load); a failed drop ends the loop with its error.
func TestDropWhenQuiet(t *testing.T) {
	// The collections counted at the start and at each of six looks.
	counts := []uint64{0, 1, 1, 2, 3, 4, 4}
	looks := 0
	collections := func() uint64 { c := counts[looks]; looks++; return c }
	var dropsAt []int // the looks that dropped
	failDrop := errors.New("no mapping")
	ticks := make(chan time.Time, len(counts)-1)
	for range len(counts) - 1 {
		ticks <- time.Time{}
	}
	err := dropWhenQuiet(context.Background(), ticks, collections, func() error {
		dropsAt = append(dropsAt, looks-1)
		if len(dropsAt) == 2 {
			return failDrop
		}
		return nil
	})
	if !errors.Is(err, failDrop) {
		t.Fatalf("a failed drop ended the loop with %v, want its error", err)
	}
	if !slices.Equal(dropsAt, []int{2, 6}) {
		t.Errorf("dropped at looks %v, want 2 and 6 (the ones after no collection)", dropsAt)
	}
}

// The loop ends when its context does.
func TestDropWhenQuietStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- dropWhenQuiet(ctx, make(chan time.Time), func() uint64 { return 0 }, func() error { return nil })
	}()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// What trimMemory forces (debug.FreeOSMemory) is not counted as a collection the switch's load
// caused: were it, a switch trimmed every look would never be found quiet.
func TestForcedCollectionsLeaveTheCountAlone(t *testing.T) {
	before := readUint64(gcCycles)
	debug.FreeOSMemory()
	runtime.GC()
	if after := readUint64(gcCycles); after != before {
		// An automatic collection may have run meanwhile: one, not two.
		if after-before > 1 {
			t.Fatalf("%s went %d → %d over two forced collections", gcCycles, before, after)
		}
	}
}
