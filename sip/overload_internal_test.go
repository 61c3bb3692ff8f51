package sip

import (
	"math"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/switchboard-voip/switchboard/internal/clock"
)

// The window's percentile counts only what was added since the last sample.
func TestWindowPercentile(t *testing.T) {
	h := &metrics.Float64Histogram{
		Buckets: []float64{math.Inf(-1), 0, 0.001, 0.01, 0.1, math.Inf(1)},
		Counts:  []uint64{0, 1000, 50, 5, 0},
	}
	prev := []uint64{0, 1000, 50, 5, 0}
	if got := windowPercentile(h, prev, 0.9); got != 0 {
		t.Errorf("empty window: %v, want 0", got)
	}
	h.Counts = []uint64{0, 1080, 60, 5, 10} // this window: 80 under 1 ms, 10 in 1-10 ms, 10 in 100 ms+
	if got := windowPercentile(h, prev, 0.9); got != time.Millisecond {
		t.Errorf("p90: %v, want 1ms (the bucket's lower edge)", got)
	}
	if got := windowPercentile(h, prev, 0.95); got != 100*time.Millisecond {
		t.Errorf("p95: %v, want 100ms", got)
	}
}

// While the scheduler is late every new call is refused, authenticated or not; with
// MaxDelay 0 lateness is not looked at.
func TestAdmissionRefusesWhileLate(t *testing.T) {
	a := newAdmission(Overload{MaxDelay: 50 * time.Millisecond}, clock.NewFake(time.Now()))
	if ok, _ := a.admit(0, true); !ok {
		t.Fatal("refused while on time")
	}
	a.late.Store(true)
	if ok, why := a.admit(0, false); ok || why == "" {
		t.Fatalf("admitted while late (%q)", why)
	}
	off := newAdmission(Overload{}, clock.NewFake(time.Now()))
	off.late.Store(true)
	if ok, _ := off.admit(1e6, true); !ok {
		t.Fatal("refused with no limit set")
	}
}
