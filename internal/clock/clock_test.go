package clock

import (
	"testing"
	"time"
)

func TestFakeRunsDueTimersInOrder(t *testing.T) {
	c := NewFake(time.Unix(0, 0))
	got := make(chan int, 3)
	c.AfterFunc(2*time.Second, func() { got <- 2 })
	c.AfterFunc(time.Second, func() { got <- 1 })
	stopped := c.AfterFunc(time.Second, func() { got <- 9 })
	if !stopped.Stop() {
		t.Fatal("Stop of a pending timer reported false")
	}
	if c.Pending() != 2 {
		t.Fatalf("pending = %d, want 2", c.Pending())
	}
	c.Advance(1500 * time.Millisecond)
	if v := <-got; v != 1 {
		t.Fatalf("first timer = %d, want 1", v)
	}
	select {
	case v := <-got:
		t.Fatalf("timer %d ran before its time", v)
	default:
	}
	c.Advance(time.Second)
	if v := <-got; v != 2 {
		t.Fatalf("second timer = %d, want 2", v)
	}
	if !c.Now().Equal(time.Unix(0, 0).Add(2500 * time.Millisecond)) {
		t.Fatalf("now = %v", c.Now())
	}
}

func TestFakeWaitFor(t *testing.T) {
	c := NewFake(time.Unix(0, 0))
	go c.AfterFunc(time.Minute, func() {})
	if !c.WaitFor(1, 10*time.Second) {
		t.Fatal("WaitFor did not see the timer")
	}
	if c.WaitFor(2, 10*time.Millisecond) {
		t.Fatal("WaitFor saw a timer nobody set")
	}
}
