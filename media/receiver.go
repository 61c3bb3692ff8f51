package media

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Receiver takes the incoming media of a leg the switch terminates
// (voicemail, an IVR menu, a queue): it decodes the audio and turns RFC 4733
// telephone events into digits. It reads the endpoint's sockets instead of a
// Relay; only one of them may run on an endpoint at a time, so the owner
// stops one before starting the other. Sending on the same endpoint (a
// Stream) is independent.
type Receiver struct {
	ep *Endpoint
	s  Session

	digits   chan byte
	inactive chan struct{}
	packets  atomic.Uint64

	mu      sync.Mutex
	timeout time.Duration
	started bool
	stopped bool
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// digitBuffer is how many digits wait for a slow reader before more are
// dropped: a whole phone number typed ahead.
const digitBuffer = 32

// NewReceiver returns a receiver for ep with the negotiated session s.
func NewReceiver(ep *Endpoint, s Session) *Receiver {
	return &Receiver{
		ep:       ep,
		s:        s,
		digits:   make(chan byte, digitBuffer),
		inactive: make(chan struct{}),
	}
}

// Inactive returns a channel that is closed when no RTP or RTCP has arrived
// for timeout while the receiver runs; the owner then hangs up. The timeout
// is taken from the first call before Start; later calls just return the
// channel. Without such a call the channel is never closed.
func (r *Receiver) Inactive(timeout time.Duration) <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.started && r.timeout == 0 && timeout > 0 {
		r.timeout = timeout
	}
	return r.inactive
}

// Digits delivers the DTMF digits received as telephone events: '0'-'9',
// '*', '#', 'A'-'D'. Each event gives its digit once, at the first packet
// that arrives for it (lowest latency; the start packet may be lost, any
// later update or end packet then delivers it). Events are told apart by
// their RTP timestamp, which all packets of an event share, so updates and
// the retransmitted end packets never repeat a digit, and older events
// arriving late are ignored. The channel is buffered; digits nobody reads
// are dropped once it is full. It is never closed.
func (r *Receiver) Digits() <-chan byte { return r.digits }

// Start reads the endpoint until ctx ends or Stop is called; it returns at
// once. RTP is latched like the relay does (replies go where the phone
// really is), RTCP is latched and otherwise drained. Audio packets with the
// session's payload type are decoded with its codec and passed to onAudio
// (if not nil) on the receiver's goroutine, which must not block for long:
// the frame is reused for the next packet, so copy what is kept. Calling
// Start again, or after Stop, does nothing; Stop must be called in any case.
func (r *Receiver) Start(ctx context.Context, onAudio func(frame []int16)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started || r.stopped {
		return
	}
	r.started = true
	ctx, r.cancel = context.WithCancel(ctx)
	// Out of descriptors, nothing is read: the inactivity check ends the call.
	rtp, rtcp, err := r.ep.Sockets()
	var conns []*net.UDPConn
	if err == nil {
		conns = []*net.UDPConn{rtp, rtcp}
		for _, c := range conns {
			c.SetReadDeadline(time.Time{})
		}
		r.wg.Add(2)
		go r.readRTP(ctx, rtp, onAudio)
		go r.drainRTCP(ctx, rtcp)
	}
	timeout := r.timeout
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		watch(ctx, timeout, r.packets.Load, r.inactive, conns)
	}()
}

// Stop ends the reading and waits for the goroutines. It does not close the
// endpoint. It is idempotent and may be called without Start.
func (r *Receiver) Stop() {
	r.mu.Lock()
	r.stopped = true
	cancel := r.cancel
	r.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	r.wg.Wait()
}

// readRTP is the per-packet path: no allocation, no lock.
func (r *Receiver) readRTP(ctx context.Context, conn *net.UDPConn, onAudio func([]int16)) {
	defer r.wg.Done()
	buf := make([]byte, relayBufSize)
	frame := make([]int16, relayBufSize)
	var (
		haveEvent bool
		eventSSRC uint32
		eventTS   uint32
	)
	for {
		n, src, err := conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		r.packets.Add(1)
		if n == len(buf) {
			continue
		}
		pkt, ok := r.ep.rtp.open(buf[:n])
		if !ok {
			continue
		}
		n = len(pkt)
		pt, payload, ok := rtpPayload(buf[:n])
		if !ok {
			continue
		}
		r.ep.rtp.latch(src)
		switch {
		case pt == r.s.PT:
			if onAudio == nil || len(payload) == 0 {
				continue
			}
			f := frame[:len(payload)]
			if r.s.Codec == PCMA {
				ALawDecodeFrame(f, payload)
			} else {
				ULawDecodeFrame(f, payload)
			}
			onAudio(f)
		case r.s.DTMF != 0 && pt == r.s.DTMF:
			var ev Event
			if ev.Unmarshal(payload) != nil {
				continue
			}
			ssrc := binary.BigEndian.Uint32(buf[8:])
			ts := binary.BigEndian.Uint32(buf[4:])
			if haveEvent && ssrc == eventSSRC && int32(ts-eventTS) <= 0 {
				continue // this event was delivered, or an older one
			}
			haveEvent, eventSSRC, eventTS = true, ssrc, ts
			if d, ok := Digit(ev.Code); ok {
				select {
				case r.digits <- d:
				default:
				}
			}
		}
	}
}

// drainRTCP reads RTCP only to latch its source and count it as activity.
func (r *Receiver) drainRTCP(ctx context.Context, conn *net.UDPConn) {
	defer r.wg.Done()
	buf := make([]byte, relayBufSize)
	for {
		n, src, err := conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if _, ok := r.ep.rtcp.open(buf[:n]); !ok {
			continue
		}
		r.packets.Add(1)
		r.ep.rtcp.latch(src)
	}
}

// rtpPayload returns the payload type and payload of an RTP packet, after
// CSRCs and a header extension and without padding; ok is false if b is not
// a well-formed RTP version 2 packet. It does not allocate (pion's Unmarshal
// would for CSRCs and extensions).
func rtpPayload(b []byte) (pt uint8, payload []byte, ok bool) {
	if len(b) < rtpHeaderSize || b[0]>>6 != 2 {
		return 0, nil, false
	}
	off := rtpHeaderSize + 4*int(b[0]&0x0f)
	if b[0]&0x10 != 0 {
		if len(b) < off+4 {
			return 0, nil, false
		}
		off += 4 + 4*int(binary.BigEndian.Uint16(b[off+2:]))
	}
	end := len(b)
	if b[0]&0x20 != 0 {
		pad := int(b[end-1])
		if pad == 0 || pad > end-off {
			return 0, nil, false
		}
		end -= pad
	}
	if off > end {
		return 0, nil, false
	}
	return b[1] & 0x7f, b[off:end], true
}

// watch unblocks the read loops when ctx ends and, meanwhile, closes
// inactive when the packet count stops moving for timeout (<= 0: never). It
// samples the count a few times per timeout so that detection is late by at
// most a quarter of it, without the read loops reading the clock.
func watch(ctx context.Context, timeout time.Duration, received func() uint64, inactive chan struct{}, conns []*net.UDPConn) {
	defer func() {
		// A deadline in the past makes blocked and future reads fail at
		// once, without closing the sockets, which belong to the owner.
		now := time.Now()
		for _, c := range conns {
			c.SetReadDeadline(now)
		}
	}()

	if timeout <= 0 {
		<-ctx.Done()
		return
	}
	tick := time.NewTicker(max(timeout/4, time.Millisecond))
	defer tick.Stop()
	last, lastChange := received(), time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			if n := received(); n != last {
				last, lastChange = n, now
				continue
			}
			if now.Sub(lastChange) >= timeout {
				close(inactive)
				tick.Stop()
				<-ctx.Done()
				return
			}
		}
	}
}
