package media

import (
	"context"
	"slices"
	"testing"
	"time"
)

// A transfer as the transferee A hears it: bridged to B through a plain
// relay (B's own SSRC), then ringback from the switch, then bridged to C.
// A must see one stream: B's SSRC throughout, sequence numbers one apart,
// timestamps +160 within a source and moved on by the wall time at each
// hop, and a marker exactly where a new source starts.
func TestTransferKeepsOneStreamFromRelayToSwitchToNewRelay(t *testing.T) {
	checkGoroutines(t)
	transferKeepsOneStream(t, newPool(t, 3))
}

// The same with the first relay's plain RTP relayed by the kernel: the numbering A heard last
// and when, which the stream carries on from, are the kernel's.
func TestTransferAfterTheKernelRelayedKeepsOneStream(t *testing.T) {
	checkGoroutines(t)
	transferKeepsOneStream(t, newKernelPool(t, 3))
}

func transferKeepsOneStream(t *testing.T, pool *Ports) {
	toA, toB, toC := open(t, pool), open(t, pool), open(t, pool)
	phoneA, phoneB, phoneC := listen(t), listen(t), listen(t)
	toA.SetRemote(addrOf(phoneA))
	toB.SetRemote(addrOf(phoneB))
	toC.SetRemote(addrOf(phoneC))
	col := collect(t, phoneA)

	const (
		ssrcB, ssrcC = 0xb0b, 0xc0c
		fillB, fillC = 0x11, 0x22
		nB, nRing    = 8, 5
		nC           = 8
	)
	bridge := NewRelay(toA, toB, 0)
	bridge.Start(context.Background())
	lastSeqB, lastTSB := uint16(0), uint32(0)
	for i := range nB {
		// B's numbering wraps on the way, as it may anywhere in a call.
		lastSeqB, lastTSB = uint16(65532+i), uint32(1<<32-640)+uint32(i)*FrameSamples
		send(t, phoneB, rtpAddr(toB), rtpFrom(ssrcB, lastSeqB, lastTSB, fillB))
		if i == 0 {
			col.waitCount(t, 1) // relayed by the switch, which hands the kernel the rest
		}
	}
	col.waitCount(t, nB)
	if pool.kernel != nil {
		if n, _ := bridge.flows[1].inKernel(); n != nB-1 {
			t.Errorf("the kernel relayed %d of B's packets, want %d", n, nB-1)
		}
	}
	if _, ok := bridge.Sent(toA); ok {
		t.Error("Sent reported a numbering while the relay ran")
	}
	bridge.Stop()

	n, ok := bridge.Sent(toA)
	if !ok || n.SSRC != ssrcB || n.Seq != lastSeqB || n.TS != lastTSB {
		t.Fatalf("Sent(toA) = %+v, %v; want SSRC %#x seq %d ts %d", n, ok, ssrcB, lastSeqB, lastTSB)
	}
	if n, ok := bridge.Sent(toB); ok {
		t.Errorf("Sent(toB) = %+v, true; nothing was sent out of toB", n)
	}
	if n, ok := bridge.Sent(toC); ok {
		t.Errorf("Sent of a foreign endpoint = %+v, true", n)
	}

	p := NewPacer(1)
	defer p.Close()
	st := p.NewStreamAfter(toA, pcmu, n)
	defer st.Close()
	if st.SSRC() != ssrcB {
		t.Errorf("NewStreamAfter SSRC %#x, want B's %#x", st.SSRC(), ssrcB)
	}
	ringByte := ULawEncode(1000)
	waitClosed(t, st.Play(Samples(constant(1000, nRing))), "ringback")
	col.waitCount(t, nB+nRing)

	bridge = NewRelay(toA, toC, 0)
	bridge.Continue(toA, st)
	bridge.Start(context.Background())
	for i := range nC {
		send(t, phoneC, rtpAddr(toC), rtpFrom(ssrcC, uint16(100+i), uint32(i)*FrameSamples, fillC))
	}
	col.waitCount(t, nB+nRing+nC)
	bridge.Stop()
	col.stop()

	pkts := col.packets()
	kind := func(p packet) string {
		switch p.payload[0] {
		case fillB:
			return "B"
		case ringByte:
			return "ringback"
		case fillC:
			return "C"
		}
		return "?"
	}
	var segments []string
	for i, p := range pkts {
		k := kind(p)
		start := i == 0 || k != kind(pkts[i-1])
		if start {
			segments = append(segments, k)
		}
		if p.ssrc != ssrcB {
			t.Errorf("packet %d (%s): SSRC %#x, want B's %#x", i, k, p.ssrc, ssrcB)
		}
		if i == 0 {
			continue
		}
		prev := pkts[i-1]
		if p.seq != prev.seq+1 {
			t.Errorf("packet %d (%s): seq %d after %d", i, k, p.seq, prev.seq)
		}
		dts := p.ts - prev.ts
		if stall := !start && p.marker && dts > maxCatchUp*FrameSamples; stall {
			t.Logf("packet %d (%s): frames skipped after a stall of the host", i, k)
			continue
		}
		if p.marker != start {
			t.Errorf("packet %d (%s): marker %v, want %v", i, k, p.marker, start)
		}
		switch {
		case !start && dts != FrameSamples:
			t.Errorf("packet %d (%s): timestamp +%d within a source, want +160", i, k, dts)
		case start && int32(dts) < FrameSamples:
			t.Errorf("packet %d (%s): timestamp +%d at a new source, want at least +160", i, k, int32(dts))
		case start:
			// The jump follows the wall clock (the collector's clock is
			// noisier than the sender's, hence the slack).
			gap := time.Duration(dts) * time.Second / SampleRate
			if d := gap - p.at.Sub(prev.at); d > 60*time.Millisecond || d < -60*time.Millisecond {
				t.Errorf("packet %d (%s): timestamp gap %v, arrival gap %v", i, k, gap, p.at.Sub(prev.at))
			}
		}
	}
	if want := []string{"B", "ringback", "C"}; !slices.Equal(segments, want) {
		t.Errorf("sources %v, want %v", segments, want)
	}

	// The second relay's record is the rewritten numbering, what A saw.
	last := pkts[len(pkts)-1]
	if n, ok := bridge.Sent(toA); !ok || n.SSRC != ssrcB || n.Seq != last.seq || n.TS != last.ts {
		t.Errorf("Sent(toA) after Continue = %+v, %v; want SSRC %#x seq %d ts %d", n, ok, ssrcB, last.seq, last.ts)
	}
}

// A zero Numbering (the relay sent nothing) gives a fresh stream, not one
// with SSRC 0 and sequence number 1.
func TestNewStreamAfterNothingSentIsFresh(t *testing.T) {
	pool := newPool(t, 2)
	ep := open(t, pool)
	r := NewRelay(ep, open(t, pool), 0)
	r.Stop()
	n, ok := r.Sent(ep)
	if ok {
		t.Fatalf("Sent of a relay never started = %+v, true", n)
	}
	p := manualPacer()
	st := p.NewStreamAfter(ep, pcmu, n)
	defer st.Close()
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.at != 0 || st.resync || st.marker || st.ssrc == 0 && st.seq == 1 {
		t.Errorf("stream after nothing sent: ssrc %#x seq %d at %d resync %v", st.ssrc, st.seq, st.at, st.resync)
	}
}
