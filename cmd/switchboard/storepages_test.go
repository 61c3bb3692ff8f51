package main

import (
	"context"
	"errors"
	"testing"
	"time"
)

// The store's pages are dropped at every tick, under a load or not; a failed drop ends the loop
// with its error.
func TestDropAtTicks(t *testing.T) {
	ticks := make(chan time.Time, 5)
	for range 5 {
		ticks <- time.Time{}
	}
	drops := 0
	failDrop := errors.New("no mapping")
	err := dropAtTicks(context.Background(), ticks, func() error {
		if drops++; drops == 3 {
			return failDrop
		}
		return nil
	})
	if !errors.Is(err, failDrop) {
		t.Fatalf("a failed drop ended the loop with %v, want its error", err)
	}
	if drops != 3 {
		t.Errorf("dropped %d times, want one a tick until the third failed", drops)
	}
	if len(ticks) != 2 {
		t.Errorf("%d ticks left, want 2: the loop ends at the failure", len(ticks))
	}
}

// The loop ends when its context does.
func TestDropAtTicksStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- dropAtTicks(ctx, make(chan time.Time), func() error { return nil })
	}()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
