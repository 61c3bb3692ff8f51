// Package testports is the plan of fixed UDP port ranges the tests bind for media, in place of
// ranges drawn from the clock or a random source: a test that fails on a port fails the same
// way on the next run.
//
// Every range lies below Linux's ephemeral range (32768-60999 here, see
// /proc/sys/net/ipv4/ip_local_port_range), so sockets bound to port 0 anywhere (sipgo phones,
// httptest servers, any process's outgoing connections) never take a planned port. That is
// also why the switch binary's own SIP and HTTP ports come from the plan (Signalling): a port
// found free in the ephemeral range and closed again until the binary binds it could be taken
// in between by any connection on the machine.
// Test packages run as separate processes at the same time, so each package has a block of its
// own; inside a package tests run one after another and take ports from their block in order
// (the first test the first ports, and so on), which is fixed by the order of the tests.
//
// The plan, as offsets from 20000 + lane (lane 0: 20000-25999, lane 1: 26000-31999):
//
//	offset      ports  block     who
//	0-999       1000   Media     media package tests (NewPorts pools; 2-8 ports a test)
//	1000-4599   3600   SwitchRTP cmd/switchboard: the switch's rtp_ports (20-400 a test)
//	4600-4999    400   Signalling cmd/switchboard: the binary's SIP, TLS, WS and HTTP ports
//	5000-5799    800   PhoneRTP  cmd/switchboard: SIPp -mp, baresip and Linphone media (4 a phone)
//	5800-5999    200   WebRTC    media/webrtc tests: gateways' pools and their browser peers
//
// The lane is SWITCHBOARD_TEST_PORT_LANE (0 unless set to 1): .ci/flake runs its background
// load in lane 1, so two go test runs on one machine do not share ports. The opt-in load runs
// (make load, make queue-bench: up to 30,000 RTP ports) run alone and take Load, 2000-31999.
//
// A port of the plan may still be taken by another program (another checkout's tests on the
// same machine): the switch skips RTP pairs it cannot bind, and TakeFree moves on to the next
// range of the block, in order, so the outcome does not depend on chance.
package testports

import (
	"os"
	"sync"
	"testing"
)

// Base is the first port of lane 0; LaneSize is how far lane 1 is from it.
const (
	Base     = 20000
	LaneSize = 6000
)

// Block is a fixed range of ports handed out in order, wrapping to its start when a range
// would run past its end (the tests that took the first ports have ended by then).
type Block struct {
	mu          sync.Mutex
	first, size int
	next        int // offset of the next range
}

// Lane is the port lane of this run: 1 when SWITCHBOARD_TEST_PORT_LANE is "1", else 0.
func Lane() int {
	if os.Getenv("SWITCHBOARD_TEST_PORT_LANE") == "1" {
		return 1
	}
	return 0
}

func planned(offset, size int) *Block {
	return &Block{first: Base + Lane()*LaneSize + offset, size: size}
}

// Media is the media package's block.
func Media() *Block { return planned(0, 1000) }

// SwitchRTP is the block of the switch's rtp_ports in cmd/switchboard's tests.
func SwitchRTP() *Block { return planned(1000, 3600) }

// Signalling is cmd/switchboard's block for the ports the switch binary listens on for SIP
// (UDP and TCP on one number), TLS, WebSocket and HTTP.
func Signalling() *Block { return planned(4600, 400) }

// PhoneRTP is the block of the test phones' media ports in cmd/switchboard's tests.
func PhoneRTP() *Block { return planned(5000, 800) }

// WebRTC is the media/webrtc package's block.
func WebRTC() *Block { return planned(5800, 200) }

// Load is the block of the opt-in load runs, which run alone and need up to 30,000 ports.
func Load() *Block { return &Block{first: 2000, size: 30000} }

// Take returns the first port of the next n ports of the block (n rounded up to even, the
// first port even, as RTP/RTCP pairs need). It fails the test if n does not fit the block.
func (b *Block) Take(t testing.TB, n int) int {
	t.Helper()
	n += n % 2
	if n > b.size {
		t.Fatalf("testports: %d ports asked of a block of %d at %d", n, b.size, b.first)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.next+n > b.size {
		b.next = 0
	}
	lo := b.first + b.next
	b.next += n
	return lo
}

// TakeFree is Take, moving on through the block, in order, past ranges for which free (a
// probe that binds them) is false. It fails the test if no range of the block is free.
func (b *Block) TakeFree(t testing.TB, n int, free func(lo, n int) bool) int {
	t.Helper()
	for range b.size/max(n, 2) + 1 {
		if lo := b.Take(t, n); free(lo, n) {
			return lo
		}
	}
	t.Fatalf("testports: no %d free ports in the block at %d-%d", n, b.first, b.first+b.size-1)
	return 0
}
