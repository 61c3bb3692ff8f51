package poll

import (
	"testing"
	"time"
)

func TestUntilReturnsOnceTheConditionHolds(t *testing.T) {
	n := 0
	if !Until(time.Minute, func() bool { n++; return n == 3 }) {
		t.Fatal("Until gave up on a condition that came true")
	}
	if n != 3 {
		t.Errorf("condition checked %d times, want 3", n)
	}
}

func TestUntilGivesUpAfterTheDeadlineHavingCheckedAtIt(t *testing.T) {
	start := time.Now()
	n := 0
	if Until(20*time.Millisecond, func() bool { n++; return false }) {
		t.Fatal("Until reported a condition that never held")
	}
	if took := time.Since(start); took < 20*time.Millisecond {
		t.Errorf("gave up after %v, before the 20ms deadline", took)
	}
	if n < 2 {
		t.Errorf("condition checked %d times, want it checked again by the deadline", n)
	}
}
