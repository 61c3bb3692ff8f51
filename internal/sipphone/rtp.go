package sipphone

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"

	"github.com/switchboard-voip/switchboard/media"
)

// Listen sends PCMU silence to dst every 20 ms (so the switch sees media) and records what
// arrives on the RTP socket for d, decoded and ordered by sequence number; a lost frame is
// silence, to keep the timing.
func (p *Phone) Listen(ctx context.Context, dst *net.UDPAddr, d time.Duration) []int16 {
	p.t.Helper()
	type frame struct {
		seq     uint16
		samples []int16
	}
	var (
		mu     sync.Mutex
		frames []frame
	)
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			n, err := p.rtp.Read(buf)
			if err != nil {
				return
			}
			var pkt rtp.Packet
			if pkt.Unmarshal(buf[:n]) != nil || (pkt.PayloadType != 0 && pkt.PayloadType != 8) {
				continue
			}
			s := make([]int16, len(pkt.Payload))
			if pkt.PayloadType == 0 {
				media.ULawDecodeFrame(s, pkt.Payload)
			} else {
				media.ALawDecodeFrame(s, pkt.Payload)
			}
			mu.Lock()
			frames = append(frames, frame{pkt.SequenceNumber, s})
			mu.Unlock()
		}
	}()
	silence := make([]byte, 160)
	for i := range silence {
		silence[i] = 0xff // µ-law zero
	}
	pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SSRC: 0x3eb0600d}, Payload: silence}
	// The ticker paces the phone's media at real time, as a phone does: it makes timing, it
	// does not wait for anything.
	tick := time.NewTicker(20 * time.Millisecond)
	end := time.After(d)
loop:
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			break loop
		case <-end:
			break loop
		case <-tick.C:
		}
		pkt.SequenceNumber = uint16(i)
		pkt.Timestamp = uint32(i * 160)
		b, _ := pkt.Marshal()
		_, _ = p.rtp.WriteToUDP(b, dst)
	}
	tick.Stop()
	_ = p.rtp.SetReadDeadline(time.Now())
	<-done
	_ = p.rtp.SetReadDeadline(time.Time{})
	mu.Lock()
	defer mu.Unlock()
	if len(frames) == 0 {
		return nil
	}
	// Unwrap sequence numbers relative to the first frame and order by them.
	base := frames[0].seq
	ordered := map[int][]int16{}
	lo, hi := 0, 0
	for _, f := range frames {
		k := int(int16(f.seq - base))
		ordered[k] = f.samples
		lo, hi = min(lo, k), max(hi, k)
	}
	var out []int16
	for k := lo; k <= hi; k++ {
		if s, ok := ordered[k]; ok {
			out = append(out, s...)
		} else {
			out = append(out, make([]int16, 160)...)
		}
	}
	return out
}

// Stream sends a tone at f Hz as 20 ms PCMU frames to dst, paced in real time, for d or until
// ctx ends. sent, if not nil, counts the frames. It stops quietly when the switch is gone.
func (p *Phone) Stream(ctx context.Context, dst *net.UDPAddr, f float64, d time.Duration, sent *atomic.Int64) {
	const frame = 160
	pcm := media.Tone(f, 0.5, time.Second) // whole cycles of 1 kHz: loops without a click
	pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SSRC: 0x7e57ca11}, Payload: make([]byte, frame)}
	start := time.Now()
	for i := 0; time.Duration(i)*20*time.Millisecond < d; i++ {
		// Waiting here paces the audio at real time, as a phone sends it.
		if wait := time.Until(start.Add(time.Duration(i) * 20 * time.Millisecond)); wait > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
		} else if ctx.Err() != nil {
			return
		}
		off := (i * frame) % len(pcm)
		media.ULawEncodeFrame(pkt.Payload, pcm[off:off+frame])
		pkt.SequenceNumber = uint16(i)
		pkt.Timestamp = uint32(i * frame)
		b, err := pkt.Marshal()
		if err != nil {
			p.t.Error(err)
			return
		}
		if _, err := p.rtp.WriteToUDP(b, dst); err != nil {
			return // the switch is gone (the crash test kills it)
		}
		if sent != nil {
			sent.Add(1)
		}
	}
}
