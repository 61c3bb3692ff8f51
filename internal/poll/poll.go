// Package poll waits for observable state in tests: it checks a condition every few
// milliseconds until it holds or a deadline passes, instead of sleeping a guessed time.
package poll

import (
	"testing"
	"time"
)

// Interval is how often Until checks its condition.
const Interval = 5 * time.Millisecond

// Until checks cond until it returns true or within has passed, and reports whether it came
// true. cond is checked once more at the deadline, so a slow machine is not failed early.
func Until(within time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(within)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(Interval)
	}
}

// Require is Until that fails the test, saying what it waited for, when cond does not come
// true within.
func Require(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	if !Until(within, cond) {
		t.Fatalf("%s: not so within %v", what, within)
	}
}
