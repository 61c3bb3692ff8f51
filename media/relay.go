package media

import (
	"context"
	"encoding/binary"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// relayBufSize is the read buffer of the socket readers. It is above the
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
//
// On a pool that relays in the kernel (Ports.RelayInKernel), the kernel sends a
// direction's plain RTP on once the relay has relayed a packet of it (kernel.go);
// Stats, Sent and the inactivity timeout count what the kernel sent.
type Relay struct {
	a, b    *Endpoint
	timeout time.Duration

	rtpAB, rtpBA, rtcpAB, rtcpBA counters

	// sentA and sentB are the numbering of the last RTP sent out of a and
	// b (Sent).
	sentA, sentB sentRecord

	inactive   chan struct{}
	onInactive []func()

	// contA and contB rewrite the RTP sent out of a and b (Continue).
	contA, contB atomic.Pointer[rewriter]

	// flows are the four directions (RTP a→b, b→a, RTCP a→b, b→a), each read by the endpoints'
	// poller while the relay runs.
	flows   [4]flow
	readers [4]pollHandle
	// flowing is set once Start has set flows up, for Stats (which takes no lock: the pool's
	// RelayTotals calls it under its own, which Start takes under mu).
	flowing atomic.Bool

	mu      sync.Mutex
	started bool
	stopped bool
	halted  bool // the readers are going or gone (Stop, or ctx ended)
	waited  bool // Stop has waited for the readers: sentA and sentB are final
	// unhook stops ctx from halting the relay.
	unhook   func() bool
	haltOnce sync.Once
	// The inactivity check: a timer rather than a goroutine per call.
	timer      *time.Timer
	last       uint64
	lastChange time.Time
	// continued are the streams given to Continue, handed back at Stop.
	continued []*rewriter
}

// counters are one direction's statistics. Each flow writes only its own
// counters; the padding keeps them on their own cache line so the readers
// do not slow each other down through false sharing.
type counters struct {
	packets atomic.Uint64
	bytes   atomic.Uint64
	dropped atomic.Uint64
	// RTCP only: the reception report blocks read (readReports), and the sums of their
	// fraction lost (in 1/256) and interarrival jitter (in RTP timestamp units).
	reports atomic.Uint64
	lost    atomic.Uint64
	jitter  atomic.Uint64
	// RTP only: of packets, those the kernel relayed and gave back (kernelFlow).
	kernel atomic.Uint64
	_      [8]byte
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
	// InKernel counts, of Packets, those the kernel relayed without the switch seeing them
	// (Ports.RelayInKernel; RTP only).
	InKernel uint64
	// Dropped counts received packets that were not forwarded: no remote
	// known yet, the far side on hold, a failed write, or an oversize packet.
	Dropped uint64
	// RTCP only: Reports counts the reception report blocks (RFC 3550 §6.4) in SRs and
	// RRs received; FractionLost sums their fraction lost (in 1/256) and Jitter their
	// interarrival jitter (in RTP timestamp units), so a sum over Reports is an average.
	Reports      uint64
	FractionLost uint64
	Jitter       uint64
}

// NewRelay returns a relay between a and b. If no RTP or RTCP arrives from
// either leg for timeout, Inactive is closed; timeout <= 0 disables that.
// Note that a call on hold with a=inactive carries only RTCP, and some
// phones send none: choose the timeout accordingly.
func NewRelay(a, b *Endpoint, timeout time.Duration) *Relay {
	return &Relay{a: a, b: b, timeout: timeout, inactive: make(chan struct{})}
}

// Start reads both endpoints' RTP and RTCP sockets and relays what arrives,
// and starts the inactivity timer, until ctx ends or Stop is called. It
// returns at once. Calling Start again, or after Stop, does nothing. Stop
// must be called in any case to wait for the readers, even if ctx has ended.
func (r *Relay) Start(ctx context.Context) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started || r.stopped {
		return
	}
	r.started = true

	// A previous relay on the same endpoints (say, before a transfer), or a
	// Receiver, may have left the read deadline in the past; clear it before
	// reading.
	socks := [4]*socket{&r.a.rtp, &r.b.rtp, &r.a.rtcp, &r.b.rtcp}
	for _, s := range socks {
		if c := s.udp.madeConn(); c != nil {
			c.SetReadDeadline(time.Time{})
		}
	}
	r.flows = [4]flow{
		{in: &r.a.rtp, out: &r.b.rtp, c: &r.rtpAB, cont: &r.contB, rec: &r.sentB},
		{in: &r.b.rtp, out: &r.a.rtp, c: &r.rtpBA, cont: &r.contA, rec: &r.sentA},
		{in: &r.a.rtcp, out: &r.b.rtcp, c: &r.rtcpAB},
		{in: &r.b.rtcp, out: &r.a.rtcp, c: &r.rtcpBA},
	}
	if off := r.a.pool.kernel; off != nil && r.a.pool == r.b.pool {
		r.flows[0].k = &kernelFlow{off: off}
		r.flows[1].k = &kernelFlow{off: off}
		r.a.rtp.relay.Store(r)
		r.b.rtp.relay.Store(r)
	}
	r.flowing.Store(true)
	p := r.a.readers()
	for i := range r.flows {
		r.readers[i] = p.add(r.flows[i].in.udp, &r.flows[i])
	}
	if r.timeout > 0 {
		r.last, r.lastChange = r.received(), time.Now()
		r.timer = time.AfterFunc(r.checkEvery(), r.checkActivity)
	}
	r.unhook = context.AfterFunc(ctx, r.halt)
	r.a.pool.relays.track(r)
}

// halt stops the readers and the timer, once; a second caller (Stop while
// ctx ends) waits for the first to finish.
func (r *Relay) halt() {
	r.haltOnce.Do(func() {
		r.mu.Lock()
		r.halted = true
		timer, readers := r.timer, r.readers
		r.mu.Unlock()
		if timer != nil {
			timer.Stop()
		}
		for _, h := range readers {
			if h != nil {
				h.remove()
			}
		}
		// The readers are gone: nothing hands a direction to the kernel again.
		for i := range r.flows[:2] {
			if r.flows[i].k != nil {
				r.flows[i].withdraw(true)
			}
		}
		r.a.rtp.relay.CompareAndSwap(r, nil)
		r.b.rtp.relay.CompareAndSwap(r, nil)
	})
}

// changed withdraws from the kernel the directions in or out of s, whose peer's address, hold
// or keys changed; their next packet hands them over again if they can be.
func (r *Relay) changed(s *socket) {
	for i := range r.flows[:2] {
		if f := &r.flows[i]; f.k != nil && (f.in == s || f.out == s) {
			f.withdraw(false)
		}
	}
}

// checkEvery is how often the inactivity timer samples the packet count: a
// few times per timeout, so that detection is late by at most a quarter of
// it, without the readers reading the clock.
func (r *Relay) checkEvery() time.Duration { return max(r.timeout/4, time.Millisecond) }

// checkActivity is the inactivity timer: it closes inactive when the packet
// count has not moved for the timeout. Inactivity does not stop the relay.
func (r *Relay) checkActivity() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.halted {
		return
	}
	now := time.Now()
	if n := r.received(); n != r.last {
		r.last, r.lastChange = n, now
	} else if now.Sub(r.lastChange) >= r.timeout {
		close(r.inactive)
		fs := r.onInactive
		r.onInactive = nil
		r.mu.Unlock()
		for _, f := range fs {
			f()
		}
		r.mu.Lock() // for the deferred Unlock
		return
	}
	r.timer.Reset(r.checkEvery())
}

// Stop stops reading and waits for a packet being relayed, then hands the
// streams given to Continue back to their owners: each carries on from the
// last packet relayed for it. Once it returns, Sent reports what was last
// sent out of each endpoint. It does not close the endpoints. Stop is
// idempotent and may be called without Start.
func (r *Relay) Stop() {
	r.mu.Lock()
	r.stopped = true
	started, unhook := r.started, r.unhook
	r.mu.Unlock()
	if started {
		if unhook != nil {
			unhook()
		}
		r.halt()
		r.a.pool.relays.untrack(r) // the readers are gone: the counters are final
	}
	r.mu.Lock()
	r.waited = true
	continued := r.continued
	r.continued = nil
	r.mu.Unlock()
	r.contA.Store(nil)
	r.contB.Store(nil)
	for _, rw := range continued {
		rw.st.release(rw)
	}
}

// OnInactive registers f to run once, on a goroutine of the relay's, when Inactive is closed
// (at once if it already is). Unlike waiting on Inactive it costs the call no goroutine; f
// never runs after Stop unless inactivity was seen before.
func (r *Relay) OnInactive(f func()) {
	r.mu.Lock()
	select {
	case <-r.inactive:
		r.mu.Unlock()
		f()
		return
	default:
	}
	r.onInactive = append(r.onInactive, f)
	r.mu.Unlock()
}

// Continue makes the RTP the relay sends out of ep (which must be one of
// the relay's endpoints) carry on st's stream: st's SSRC, sequence numbers
// following st's last packet and timestamps following st's last one,
// advanced by the wall time since then in 8 kHz samples, with the marker bit
// on the first relayed packet. The phone behind ep thus sees one continuous
// stream from a prompt or music on hold into the bridged call. When the
// incoming SSRC changes (the far end was replaced), the numbering is
// re-based the same way. Payload types, payloads and the other marker bits
// are relayed unchanged; RTCP is not rewritten.
//
// st stops generating and its current source ends; it keeps its state and
// gets it back at Stop, updated to the last relayed packet, so that a later
// Play (say, music on hold again) carries on the numbering. A stream stays
// with the relay until Stop even if another Continue on ep replaces it;
// Continue(ep, nil) relays ep's packets unchanged again. It may be called
// before or after Start, and does nothing after Stop.
func (r *Relay) Continue(ep *Endpoint, st *Stream) {
	var slot *atomic.Pointer[rewriter]
	switch ep {
	case r.a:
		slot = &r.contA
	case r.b:
		slot = &r.contB
	default:
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return
	}
	if st == nil {
		slot.Store(nil)
		return
	}
	if cur := slot.Load(); cur != nil && cur.st == st {
		return
	}
	rw := &rewriter{st: st}
	st.attach(rw)
	r.continued = append(r.continued, rw)
	slot.Store(rw)
	// The direction into ep now rewrites what it relays: the switch's work, not the kernel's.
	for i := range r.flows[:2] {
		if f := &r.flows[i]; f.k != nil && f.cont == slot {
			f.withdraw(false)
		}
	}
}

// Numbering is where an RTP stream a phone receives has got to: the SSRC,
// sequence number and timestamp of the last packet sent to it, and when that
// was. Relay.Sent reports it so that the switch can carry on the stream the
// phone last heard (Pacer.NewStreamAfter) when the relay ends, say at a
// transfer: a phone that sees a new SSRC or a jump in the numbering may
// drop audio or play it late. The zero value means nothing was sent.
type Numbering struct {
	SSRC uint32
	Seq  uint16
	TS   uint32
	at   int64 // mono() when the packet was sent; 0 in the zero value
}

// Sent returns the numbering of the last RTP packet the relay sent out of ep
// (one of its endpoints), after any Continue rewrite: in a plain bridge that
// is the far phone's own SSRC and numbering. A reordered packet does not move
// it backwards; a new SSRC replaces it. It reports false if nothing was sent
// out of ep, if ep is not one of the relay's endpoints, or until Stop has
// returned: the readers record it without locks or atomics, so it is
// only read once they are over.
func (r *Relay) Sent(ep *Endpoint) (Numbering, bool) {
	// The record and the direction whose packets go out of ep.
	var rec *sentRecord
	var f *flow
	switch ep {
	case r.a:
		rec, f = &r.sentA, &r.flows[1]
	case r.b:
		rec, f = &r.sentB, &r.flows[0]
	default:
		return Numbering{}, false
	}
	r.mu.Lock()
	waited := r.waited
	r.mu.Unlock()
	if !waited {
		return Numbering{}, false
	}
	n := rec.n
	if k := f.lastInKernel(); k.at > n.at {
		n = k
	}
	if n.at == 0 {
		return Numbering{}, false
	}
	return n, true
}

// Inactive is closed when neither leg has sent any RTP or RTCP for the
// timeout given to NewRelay; the call owner then hangs up both legs. It is
// not closed by Stop or by ctx ending.
func (r *Relay) Inactive() <-chan struct{} { return r.inactive }

// Stats returns the packet and byte counters of each direction. It may be
// called at any time, also after Stop.
func (r *Relay) Stats() RelayStats {
	s := RelayStats{
		RTPAToB:  r.rtpAB.snapshot(),
		RTPBToA:  r.rtpBA.snapshot(),
		RTCPAToB: r.rtcpAB.snapshot(),
		RTCPBToA: r.rtcpBA.snapshot(),
	}
	if !r.flowing.Load() {
		return s
	}
	for i, d := range []*DirectionStats{&s.RTPAToB, &s.RTPBToA} {
		p, b := r.flows[i].inKernel()
		d.Packets += p
		d.Bytes += b
		d.InKernel += p
	}
	return s
}

func (c *counters) snapshot() DirectionStats {
	return DirectionStats{Packets: c.packets.Load(), Bytes: c.bytes.Load(), InKernel: c.kernel.Load(),
		Dropped: c.dropped.Load(), Reports: c.reports.Load(), FractionLost: c.lost.Load(), Jitter: c.jitter.Load()}
}

// flow is one of a relay's four directions: what arrives on in goes out of
// out. cont and rec are nil for RTCP.
type flow struct {
	in, out *socket
	c       *counters
	cont    *atomic.Pointer[rewriter]
	rec     *sentRecord
	// k is the direction's part in the kernel (kernel.go); nil for RTCP and when the pool
	// does not relay in the kernel.
	k *kernelFlow
}

// packet is the per-packet path: latch the sender, rewrite the header in
// place if a stream is continued, write to the other leg, record what was
// sent (RTP only), count. The socket's reader calls it with its own buffer;
// it takes no lock and does not allocate in the steady state; it reads the
// clock once per RTP packet (for the record and the rewrite), never for
// RTCP, and the inactivity timer does the timing.
func (f *flow) packet(buf []byte, n int, src netip.AddrPort) {
	pkt, now, ok := f.prepare(buf, n, src)
	if ok {
		f.sent(pkt, now, f.out.send(pkt))
	}
}

// prepare is packet up to the write: it counts the packet, latches the sender and rewrites
// the header, and returns what to send out of f.out (a prefix of buf) and the clock it read;
// false means the packet was dropped (and counted so). A reader that sends several packets
// of one socket at once (sendBatch) calls prepare for each, then sent for each.
func (f *flow) prepare(buf []byte, n int, src netip.AddrPort) (pkt []byte, now int64, ok bool) {
	c := f.c
	c.packets.Add(1)
	c.bytes.Add(uint64(n))
	if n == len(buf) {
		c.dropped.Add(1)
		return nil, 0, false
	}
	pkt, ok = f.in.open(buf[:n])
	if !ok {
		c.dropped.Add(1)
		return nil, 0, false
	}
	f.in.latch(src)
	if f.k != nil {
		f.handOver(src)
	}
	if f.in.rtcp {
		readReports(pkt, c)
	}
	if f.rec != nil {
		now = mono()
	}
	if f.cont != nil {
		if rw := f.cont.Load(); rw != nil && !rw.rewrite(pkt, now) {
			c.dropped.Add(1)
			return nil, 0, false
		}
	}
	return pkt, now, true
}

// sent finishes a prepared packet once the write is done: ok is whether it went out.
func (f *flow) sent(pkt []byte, now int64, ok bool) {
	if !ok {
		f.c.dropped.Add(1)
		return
	}
	if f.rec != nil {
		f.rec.record(pkt, now)
	}
}

// sentRecord is one direction's Numbering (Relay.Sent). Its reader is the
// only writer and uses plain stores; Sent reads it after Stop has waited for
// the readers, which orders the two. The padding keeps the two records off
// each other's cache line, as for counters.
type sentRecord struct {
	n Numbering
	_ [40]byte
}

// record notes the header of b, just sent at now, unless b is not RTP or is
// older than the last packet of the same SSRC (reordered or duplicated).
func (s *sentRecord) record(b []byte, now int64) {
	if len(b) < rtpHeaderSize || b[0]>>6 != 2 {
		return
	}
	if pt := b[1] & 0x7f; pt >= 64 && pt < 96 {
		return // RTCP on the RTP port (RFC 5761 §4): not the stream
	}
	n := numberingOf(b, now)
	if s.n.at != 0 && n.SSRC == s.n.SSRC && int16(n.Seq-s.n.Seq) <= 0 {
		return
	}
	s.n = n
}

// numberingOf reads the numbering of the RTP header b (at least rtpHeaderSize bytes), sent at.
func numberingOf(b []byte, at int64) Numbering {
	return Numbering{SSRC: binary.BigEndian.Uint32(b[8:]), Seq: binary.BigEndian.Uint16(b[2:]),
		TS: binary.BigEndian.Uint32(b[4:]), at: at}
}

// received is the number of packets received in all directions.
func (r *Relay) received() uint64 {
	n := r.rtpAB.packets.Load() + r.rtpBA.packets.Load() + r.rtcpAB.packets.Load() + r.rtcpBA.packets.Load()
	for i := range r.flows[:2] {
		p, _ := r.flows[i].inKernel()
		n += p
	}
	return n
}

// rewriter carries a Stream's numbering on in relayed packets (Continue).
// Its state belongs to the reader while the relay runs; Stop reads it
// after the readers are gone.
type rewriter struct {
	st   *Stream
	ssrc uint32

	based  bool   // offsets computed for inSSRC
	inSSRC uint32 // the relayed sender's SSRC
	seqOff uint16
	tsOff  uint32

	// The latest packet sent for the stream (at first, the stream's own).
	lastSeq uint16
	lastTS  uint32
	lastAt  int64 // mono(); 0 if the stream had not started
}

// rewrite puts the stream's SSRC, sequence number and timestamp into the
// RTP header b in place; false means b is not RTP and must not be sent. now
// is the packet's mono().
func (rw *rewriter) rewrite(b []byte, now int64) bool {
	if len(b) < rtpHeaderSize || b[0]>>6 != 2 {
		return false
	}
	seq := binary.BigEndian.Uint16(b[2:])
	ts := binary.BigEndian.Uint32(b[4:])
	ssrc := binary.BigEndian.Uint32(b[8:])
	if !rw.based || ssrc != rw.inSSRC {
		outTS := rw.lastTS
		if rw.lastAt != 0 {
			outTS += max(FrameSamples, samplesBetween(rw.lastAt, now))
		}
		rw.seqOff = rw.lastSeq + 1 - seq
		rw.tsOff = outTS - ts
		rw.inSSRC, rw.based = ssrc, true
		b[1] |= 0x80 // a new talk-spurt for the phone
	}
	seq += rw.seqOff
	ts += rw.tsOff
	binary.BigEndian.PutUint16(b[2:], seq)
	binary.BigEndian.PutUint32(b[4:], ts)
	binary.BigEndian.PutUint32(b[8:], rw.ssrc)
	// A reordered packet must not move the hand-back point backwards.
	if int16(seq-rw.lastSeq) > 0 {
		rw.lastSeq, rw.lastTS, rw.lastAt = seq, ts, now
	}
	return true
}
