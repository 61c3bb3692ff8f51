package media

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// relayBufSize is the read buffer of each copy loop. It is above the
// Ethernet MTU so that any packet a phone can send unfragmented fits; a read
// that fills it may have been truncated and is dropped rather than relayed.
const relayBufSize = 2048

// Relay forwards RTP and RTCP both ways between two endpoints: what arrives
// at a is sent from b to b's remote, and vice versa. Payloads are relayed
// unchanged; RewriteOffer and RewriteAnswer only let both legs agree on
// codecs the two phones share, so no transcoding is needed.
//
// The relay owns the read side of both endpoints while it runs, but not the
// endpoints themselves: the call owner closes them after Stop.
type Relay struct {
	a, b    *Endpoint
	timeout time.Duration

	rtpAB, rtpBA, rtcpAB, rtcpBA counters

	inactive chan struct{}

	mu      sync.Mutex
	started bool
	stopped bool
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// counters are one direction's statistics. Each copy loop writes only its own
// counters; the padding keeps them on their own cache line so the four loops
// do not slow each other down through false sharing.
type counters struct {
	packets atomic.Uint64
	bytes   atomic.Uint64
	dropped atomic.Uint64
	_       [40]byte
}

// RelayStats is a snapshot of a relay's counters, per direction.
type RelayStats struct {
	RTPAToB  DirectionStats // RTP received on a, sent from b
	RTPBToA  DirectionStats // RTP received on b, sent from a
	RTCPAToB DirectionStats // RTCP received on a, sent from b
	RTCPBToA DirectionStats // RTCP received on b, sent from a
}

// DirectionStats counts the packets of one direction.
type DirectionStats struct {
	// Packets and Bytes count what was received, forwarded or not.
	Packets uint64
	Bytes   uint64
	// Dropped counts received packets that were not forwarded: no remote
	// known yet, the far side on hold, a failed write, or an oversize packet.
	Dropped uint64
}

// NewRelay returns a relay between a and b. If no RTP or RTCP arrives from
// either leg for timeout, Inactive is closed; timeout <= 0 disables that.
// Note that a call on hold with a=inactive carries only RTCP, and some
// phones send none: choose the timeout accordingly.
func NewRelay(a, b *Endpoint, timeout time.Duration) *Relay {
	return &Relay{a: a, b: b, timeout: timeout, inactive: make(chan struct{})}
}

// Start runs the four copy loops (RTP and RTCP, both ways) and the
// inactivity timer until ctx ends or Stop is called. It returns at once.
// Calling Start again, or after Stop, does nothing. Stop must be called in
// any case to wait for the loops, even if ctx has ended.
func (r *Relay) Start(ctx context.Context) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started || r.stopped {
		return
	}
	r.started = true
	ctx, r.cancel = context.WithCancel(ctx)

	// A previous relay on the same endpoints (say, before a transfer) left
	// the read deadline in the past; clear it before reading.
	socks := [4]*socket{&r.a.rtp, &r.a.rtcp, &r.b.rtp, &r.b.rtcp}
	for _, s := range socks {
		s.conn.SetReadDeadline(time.Time{})
	}

	r.wg.Add(5)
	go r.copy(ctx, &r.a.rtp, &r.b.rtp, &r.rtpAB)
	go r.copy(ctx, &r.b.rtp, &r.a.rtp, &r.rtpBA)
	go r.copy(ctx, &r.a.rtcp, &r.b.rtcp, &r.rtcpAB)
	go r.copy(ctx, &r.b.rtcp, &r.a.rtcp, &r.rtcpBA)
	go r.watch(ctx, socks)
}

// Stop ends the loops and waits for them to return. It does not close the
// endpoints. Stop is idempotent and may be called without Start.
func (r *Relay) Stop() {
	r.mu.Lock()
	r.stopped = true
	cancel := r.cancel
	r.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	r.wg.Wait()
}

// Inactive is closed when neither leg has sent any RTP or RTCP for the
// timeout given to NewRelay; the call owner then hangs up both legs. It is
// not closed by Stop or by ctx ending.
func (r *Relay) Inactive() <-chan struct{} { return r.inactive }

// Stats returns the packet and byte counters of each direction. It may be
// called at any time, also after Stop.
func (r *Relay) Stats() RelayStats {
	return RelayStats{
		RTPAToB:  r.rtpAB.snapshot(),
		RTPBToA:  r.rtpBA.snapshot(),
		RTCPAToB: r.rtcpAB.snapshot(),
		RTCPBToA: r.rtcpBA.snapshot(),
	}
}

func (c *counters) snapshot() DirectionStats {
	return DirectionStats{Packets: c.packets.Load(), Bytes: c.bytes.Load(), Dropped: c.dropped.Load()}
}

// copy is the per-packet path: read into its own buffer, latch the sender,
// write to the other leg, count. It takes no lock, does not allocate in the
// steady state and reads no clock; the watcher does the timing.
func (r *Relay) copy(ctx context.Context, in, out *socket, c *counters) {
	defer r.wg.Done()
	buf := make([]byte, relayBufSize)
	for {
		n, src, err := in.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			// The watcher's deadline or the owner's Close ends the loop.
			// Anything else (an ICMP error surfacing on a read) concerns one
			// packet, not the socket.
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		c.packets.Add(1)
		c.bytes.Add(uint64(n))
		if n == len(buf) {
			c.dropped.Add(1)
			continue
		}
		in.latch(src)
		if !out.send(buf[:n]) {
			c.dropped.Add(1)
		}
	}
}

// watch unblocks the copy loops when ctx ends and, meanwhile, closes
// inactive when the packet counters stop moving for the timeout. It samples
// the counters a few times per timeout so that detection is late by at most
// a quarter of it, without the copy loops reading the clock.
func (r *Relay) watch(ctx context.Context, socks [4]*socket) {
	defer r.wg.Done()
	defer func() {
		// A deadline in the past makes blocked and future reads fail at
		// once, without closing the sockets, which belong to the owner.
		now := time.Now()
		for _, s := range socks {
			s.conn.SetReadDeadline(now)
		}
	}()

	if r.timeout <= 0 {
		<-ctx.Done()
		return
	}
	tick := time.NewTicker(max(r.timeout/4, time.Millisecond))
	defer tick.Stop()
	last, lastChange := r.received(), time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			if n := r.received(); n != last {
				last, lastChange = n, now
				continue
			}
			if now.Sub(lastChange) >= r.timeout {
				close(r.inactive)
				tick.Stop()
				<-ctx.Done()
				return
			}
		}
	}
}

// received is the number of packets received in all directions.
func (r *Relay) received() uint64 {
	return r.rtpAB.packets.Load() + r.rtpBA.packets.Load() + r.rtcpAB.packets.Load() + r.rtcpBA.packets.Load()
}
