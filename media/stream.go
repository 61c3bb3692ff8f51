package media

import (
	"encoding/binary"
	"math/rand/v2"
	"sync"
	"time"
)

// FrameSamples is the number of samples in one 20 ms frame at SampleRate:
// what Source.Next fills and what one generated RTP packet carries.
const FrameSamples = SampleRate / 50

// frameDuration is the packet time of generated streams.
const frameDuration = 20 * time.Millisecond

// Source yields the audio a Stream plays, one 20 ms frame (FrameSamples
// samples at SampleRate) per call. Next fills all of frame and reports true,
// or reports false once the source has ended (frame is then ignored). It is
// called on a pacer goroutine shared with many other streams, so it must not
// block or do I/O; a source is used by one stream at a time.
type Source interface {
	Next(frame []int16) bool
}

// Samples returns a source that plays s once; the last frame is padded with
// silence. s is read, never written, so many sources may share it.
func Samples(s []int16) Source { return &samples{s: s} }

type samples struct {
	s   []int16
	pos int
}

func (p *samples) Next(frame []int16) bool {
	if p.pos >= len(p.s) {
		return false
	}
	n := copy(frame, p.s[p.pos:])
	clear(frame[n:])
	p.pos += n
	return true
}

// Loop returns a source that plays s over and over, never ending (music on
// hold). The loop wraps inside a frame, so s need not be a whole number of
// frames. An empty s plays silence. s is shared read-only.
func Loop(s []int16) Source { return &loop{s: s} }

type loop struct {
	s   []int16
	pos int
}

func (l *loop) Next(frame []int16) bool {
	if len(l.s) == 0 {
		clear(frame)
		return true
	}
	for n := 0; n < len(frame); {
		c := copy(frame[n:], l.s[l.pos:])
		n += c
		l.pos = (l.pos + c) % len(l.s)
	}
	return true
}

// Silence returns a source of d of silence, rounded up to whole frames. Its
// packets are sent (comfort for phones that drop a call without RTP), unlike
// Play(nil), which sends nothing.
func Silence(d time.Duration) Source {
	return &silence{frames: int((d + frameDuration - 1) / frameDuration)}
}

type silence struct{ frames int }

func (s *silence) Next(frame []int16) bool {
	if s.frames <= 0 {
		return false
	}
	s.frames--
	clear(frame)
	return true
}

// Sequence returns a source that plays srcs one after the other, without a
// gap, and ends with the last one. Nil entries are skipped. It is one
// talk-spurt for the Stream: only its first packet carries the marker bit.
func Sequence(srcs ...Source) Source { return &sequence{srcs: srcs} }

type sequence struct{ srcs []Source }

func (q *sequence) Next(frame []int16) bool {
	for len(q.srcs) > 0 {
		if q.srcs[0] != nil && q.srcs[0].Next(frame) {
			return true
		}
		q.srcs = q.srcs[1:]
	}
	return false
}

// Stream is the RTP the switch itself sends on one endpoint: prompts, music
// on hold, DTMF. It has a random SSRC, initial sequence number and
// timestamp; every packet it sends, and every packet a Relay sends for it
// after Relay.Continue, carries on the same numbering, so the phone sees one
// continuous stream whatever the switch plays or bridges.
//
// The clock is the Pacer's: the stream advances by one 20 ms frame per tick
// whether or not it sends (Play(nil) keeps the clock). A Stream's methods
// are safe for concurrent use.
type Stream struct {
	sh   *shard
	ep   *Endpoint
	s    Session
	ssrc uint32

	// pkt is the packet being sent; only the shard goroutine touches it.
	pkt [rtpHeaderSize + FrameSamples]byte

	mu     sync.Mutex
	idx    int // position in sh.streams, under sh.mu
	closed bool
	seq    uint16 // sequence number of the next packet
	ts     uint32 // timestamp of the latest tick
	at     int64  // mono() of the latest tick; 0 before the first
	resync bool   // advance ts by the wall time since at, not one frame
	marker bool   // the next packet starts a talk-spurt
	src    Source
	done   chan struct{} // closed when src ends or is replaced
	dtmf   []*dtmfSend   // queued events; dtmf[0] is being sent
	relay  *rewriter     // non-nil while a relay carries the stream on
}

const rtpHeaderSize = 12

// dtmfSend is one event SendDTMF queued.
type dtmfSend struct {
	code   uint8
	frames int    // duration in frames
	sent   int    // packets sent so far
	ts     uint32 // the event's timestamp, set at its first packet
	done   chan struct{}
}

// endPackets is how often the end of an event is sent (RFC 4733 §2.5.1.4).
const endPackets = 3

// NewStream returns a stream that sends on ep's RTP socket to ep's current
// (latched) remote, encoded with s's codec and payload type, telephone
// events on s.DTMF. It sends nothing until Play. The caller must Close it.
func (p *Pacer) NewStream(ep *Endpoint, s Session) *Stream {
	st := &Stream{
		ep:   ep,
		s:    s,
		ssrc: rand.Uint32(),
		seq:  uint16(rand.Uint32()),
		ts:   rand.Uint32(),
	}
	p.add(st)
	return st
}

// NewStreamAfter is NewStream for a phone that has been receiving another
// stream, numbered up to n (Relay.Sent once the relay to it has stopped, at
// a transfer say): the stream carries n's SSRC, its first packet follows n's
// sequence number, its timestamp is n's advanced by the wall time since n
// was sent (at least one frame), and it carries the marker bit. The phone
// thus hears one continuous stream from the bridged call into what the
// switch plays, as when a relay hands a Continue'd stream back. Like any
// stream, it may be given to Relay.Continue later, so that a new phone's
// audio carries on the same stream too. A zero n (nothing was sent) gives a
// fresh stream, as NewStream does.
func (p *Pacer) NewStreamAfter(ep *Endpoint, s Session, n Numbering) *Stream {
	if n.at == 0 {
		return p.NewStream(ep, s)
	}
	st := &Stream{
		ep:   ep,
		s:    s,
		ssrc: n.SSRC,
		seq:  n.Seq + 1,
		ts:   n.TS,
		at:   n.at,
		// As release does: the first tick moves ts on by the time since n.
		resync: true,
		marker: true,
	}
	p.add(st)
	return st
}

// SSRC returns the stream's synchronization source, which relayed packets
// carry after Relay.Continue as well.
func (st *Stream) SSRC() uint32 { return st.ssrc }

// Play replaces what the stream plays with src from the next tick on; the
// first packet of src carries the marker bit. The returned channel is
// closed when src ends, is replaced by another Play, or the stream is
// closed. Play(nil) sends nothing (silence suppression) while the clock runs
// on; its channel closes when it is replaced.
//
// While a relay carries the stream on (Relay.Continue), src waits: it starts
// when the relay stops.
func (st *Stream) Play(src Source) <-chan struct{} {
	done := make(chan struct{})
	st.mu.Lock()
	defer st.mu.Unlock()
	st.endSource()
	if st.closed {
		close(done)
		return done
	}
	st.src, st.done, st.marker = src, done, true
	return done
}

// SendDTMF sends digit ('0'-'9', '*', '#', 'A'-'D') as an RFC 4733 event
// lasting d (rounded up to whole frames, at least two, at most 8 s) on the
// session's telephone-event payload type: a first packet with the marker
// bit, an update every 20 ms, then the end packet three times, all with the
// timestamp of the event's start and in the stream's sequence space. Audio
// pauses meanwhile (the source is not advanced) and resumes with a marker.
// Events sent in a row queue up. The returned channel is closed when the
// last end packet has gone, or at once if the digit is invalid or the
// session has no telephone-event.
func (st *Stream) SendDTMF(digit byte, d time.Duration) <-chan struct{} {
	done := make(chan struct{})
	code, ok := EventCode(digit)
	st.mu.Lock()
	defer st.mu.Unlock()
	if !ok || st.s.DTMF == 0 || st.closed {
		close(done)
		return done
	}
	frames := int((d + frameDuration - 1) / frameDuration)
	frames = min(max(frames, 2), 0xffff/FrameSamples)
	st.dtmf = append(st.dtmf, &dtmfSend{code: code, frames: frames, done: done})
	return done
}

// Close stops the stream and takes it off the pacer; the channels of Play
// and SendDTMF close. A relay carrying the stream on is not affected. Close
// is idempotent.
func (st *Stream) Close() {
	if st.sh != nil {
		st.sh.remove(st)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	st.closeLocked()
}

func (st *Stream) closeLocked() {
	if st.closed {
		return
	}
	st.closed = true
	st.endSource()
	for _, ev := range st.dtmf {
		close(ev.done)
	}
	st.dtmf = nil
}

// endSource drops the current source and closes its channel.
func (st *Stream) endSource() {
	if st.done != nil {
		close(st.done)
	}
	st.src, st.done = nil, nil
}

// tick advances the stream's clock by one frame (plus skipped frames the
// pacer could not run) and builds the packet to send in st.pkt, returning
// its length, or 0 if there is nothing to send. now is the tick's mono().
// Only the stream's shard goroutine calls it; the send happens after
// st.mu is released.
func (st *Stream) tick(frame []int16, skipped uint32, now int64) int {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.closed || st.relay != nil {
		return 0
	}
	switch {
	case st.at == 0:
	case st.resync:
		st.ts += max(FrameSamples, samplesBetween(st.at, now))
	default:
		st.ts += FrameSamples * (1 + skipped)
		if skipped > 0 {
			st.marker = true // frames were lost to a stall: resync the phone
		}
	}
	st.at, st.resync = now, false

	if len(st.dtmf) > 0 {
		return st.dtmfPacket()
	}
	if st.src == nil {
		return 0
	}
	if !st.src.Next(frame[:FrameSamples]) {
		st.endSource()
		return 0
	}
	payload := st.pkt[rtpHeaderSize:]
	if st.s.Codec == PCMA {
		ALawEncodeFrame(payload, frame[:FrameSamples])
	} else {
		ULawEncodeFrame(payload, frame[:FrameSamples])
	}
	st.header(st.s.PT, st.ts)
	return rtpHeaderSize + FrameSamples
}

// dtmfPacket builds the next packet of the event at the head of the queue.
func (st *Stream) dtmfPacket() int {
	ev := st.dtmf[0]
	if ev.sent == 0 {
		ev.ts = st.ts
		st.marker = true
	}
	ev.sent++
	e := Event{Code: ev.code, Volume: 10, Duration: uint16(ev.sent * FrameSamples)}
	if ev.sent >= ev.frames {
		e.End, e.Duration = true, uint16(ev.frames*FrameSamples)
	}
	e.MarshalTo(st.pkt[rtpHeaderSize:])
	st.header(st.s.DTMF, ev.ts)
	if ev.sent >= ev.frames+endPackets-1 {
		close(ev.done)
		st.dtmf[0] = nil
		st.dtmf = st.dtmf[1:]
		st.marker = true // audio after the event is a new talk-spurt
	}
	return rtpHeaderSize + EventSize
}

// header writes the RTP header of the next packet and advances seq.
func (st *Stream) header(pt uint8, ts uint32) {
	b := st.pkt[:rtpHeaderSize]
	b[0] = 0x80 // version 2, no padding, extension or CSRC
	b[1] = pt & 0x7f
	if st.marker {
		b[1] |= 0x80
		st.marker = false
	}
	binary.BigEndian.PutUint16(b[2:], st.seq)
	binary.BigEndian.PutUint32(b[4:], ts)
	binary.BigEndian.PutUint32(b[8:], st.ssrc)
	st.seq++
}

// attach hands the stream's numbering to a relay's rewriter: generation
// stops and the current source ends.
func (st *Stream) attach(rw *rewriter) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.endSource()
	st.relay = rw
	rw.ssrc = st.ssrc
	rw.lastSeq, rw.lastTS, rw.lastAt = st.seq-1, st.ts, st.at
}

// release takes the numbering back from a stopped relay: the stream carries
// on after the last relayed packet, its timestamp advanced by the time
// elapsed since then, with a marker on its next packet.
func (st *Stream) release(rw *rewriter) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.relay != rw {
		return
	}
	st.relay = nil
	st.seq, st.ts, st.at = rw.lastSeq+1, rw.lastTS, rw.lastAt
	st.resync = st.at != 0
	st.marker = true
}

// samplesBetween is the wall time from mono() instant a to b in 8 kHz
// samples.
func samplesBetween(a, b int64) uint32 {
	if b <= a {
		return 0
	}
	return uint32((b - a) * SampleRate / int64(time.Second))
}
