package sip

import (
	"context"
	"math"
	"net"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/switchboard-voip/switchboard/internal/clock"
	"github.com/switchboard-voip/switchboard/internal/poll"
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

// SIP waiting unread in a UDP listener's queue beyond MaxBacklog at two looks in a row marks
// the switch backlogged, and new calls are refused; once the queue is read, they are taken
// again.
func TestAdmissionRefusesWhileSIPWaitsUnread(t *testing.T) {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, ok := queuedBytes(conn); !ok {
		t.Skip("this system does not tell a socket's queue")
	}
	a := newAdmission(Overload{MaxBacklog: 32 << 10}, clock.NewFake(time.Now()))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); a.watchBacklog(ctx, []*net.UDPConn{conn}, time.Millisecond) }()
	defer func() { cancel(); <-done }()

	sender, err := net.DialUDP("udp", nil, conn.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer sender.Close()
	msg := make([]byte, 500)
	for range 100 { // some 100 KiB in the kernel's accounting, under the default buffer
		if _, err := sender.Write(msg); err != nil {
			t.Fatal(err)
		}
	}
	if !poll.Until(5*time.Second, a.backlog.Load) {
		n, _ := queuedBytes(conn)
		t.Fatalf("not backlogged with %d bytes queued", n)
	}
	if ok, why := a.admit(0, true); ok || why == "" {
		t.Fatalf("a new call admitted while SIP waits unread (%q)", why)
	}

	buf := make([]byte, 2048)
	for n, _ := queuedBytes(conn); n > 0; n, _ = queuedBytes(conn) {
		if _, err := conn.Read(buf); err != nil {
			t.Fatal(err)
		}
	}
	if !poll.Until(5*time.Second, func() bool { return !a.backlog.Load() }) {
		t.Fatal("still backlogged with the queue read")
	}
	if ok, why := a.admit(0, true); !ok {
		t.Fatalf("refused with the queue read: %s", why)
	}
}
