package media

import (
	"encoding/binary"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// BenchmarkPacer500Streams plays music on hold on 500 streams from 500 real
// endpoints to four phone sockets for 2 s of audio per iteration (run it
// with -benchtime=1x). It reports the process CPU time per second of audio
// and stream (receiving side included), the pacer's own busy time, and the
// jitter of the packets' arrival: |inter-arrival − 20 ms| at the phones,
// p50 and p99.
func BenchmarkPacer500Streams(b *testing.B) {
	const (
		streams = 500
		sinks   = 4
		audio   = 2 * time.Second
	)
	pool := newPool(b, streams)
	music := Tone(440, 0.3, 3*time.Second)
	for b.Loop() {
		p := NewPacer(2)
		phones := make([]*phoneSink, sinks)
		for i := range phones {
			phones[i] = &phoneSink{last: map[uint32]time.Time{}}
			phones[i].conn = listen(b)
			phones[i].conn.SetReadBuffer(4 << 20)
		}
		var sts []*Stream
		for i := range streams {
			ep := open(b, pool)
			ep.SetRemote(addrOf(phones[i%sinks].conn))
			st := p.NewStream(ep, pcmu)
			phones[i%sinks].last[st.SSRC()] = time.Time{}
			sts = append(sts, st)
		}
		var wg sync.WaitGroup
		for _, ph := range phones {
			wg.Add(1)
			go func() { defer wg.Done(); ph.run() }()
		}
		for _, st := range sts {
			st.Play(Loop(music))
		}
		time.Sleep(200 * time.Millisecond) // warm up: every stream running

		busy0, ticks0 := p.busy()
		cpu0 := cpuTime()
		for _, ph := range phones {
			ph.record(true)
		}
		start := time.Now()
		time.Sleep(audio)
		for _, ph := range phones {
			ph.record(false)
		}
		wall := time.Since(start)
		cpu := cpuTime() - cpu0
		busy1, ticks1 := p.busy()

		p.Close()
		for _, ph := range phones {
			ph.conn.SetReadDeadline(time.Now())
		}
		wg.Wait()
		for _, st := range sts {
			st.ep.Close()
		}

		var jit []time.Duration
		received := 0
		for _, ph := range phones {
			jit = append(jit, ph.jitter...)
			received += ph.packets
		}
		slices.Sort(jit)
		streamSeconds := float64(streams) * wall.Seconds()
		b.ReportMetric(float64(cpu.Microseconds())/streamSeconds, "cpu-µs/stream-s")
		b.ReportMetric(float64(cpu)/float64(wall)*100, "cpu-%")
		b.ReportMetric(float64(busy1-busy0)/float64(wall)*100, "pacer-busy-%")
		b.ReportMetric(float64(busy1-busy0)/float64(ticks1-ticks0)/1e3, "µs/tick")
		b.ReportMetric(float64(received)/streamSeconds, "pkts/stream-s")
		if len(jit) > 0 {
			b.ReportMetric(float64(jit[len(jit)/2].Microseconds()), "jitter-p50-µs")
			b.ReportMetric(float64(jit[len(jit)*99/100].Microseconds()), "jitter-p99-µs")
			b.ReportMetric(float64(jit[len(jit)-1].Microseconds()), "jitter-max-µs")
		}
	}
}

// busy returns the pacer's total tick time and tick count.
func (p *Pacer) busy() (ns, ticks int64) {
	for _, sh := range p.shards {
		ns += sh.busy.Load()
		ticks += sh.ticks.Load()
	}
	return ns, ticks
}

// phoneSink is one receiving socket for many streams; it records each
// packet's deviation from 20 ms after the previous one of its stream.
type phoneSink struct {
	conn    *net.UDPConn
	on      atomic.Bool
	last    map[uint32]time.Time // SSRC → last arrival; keys filled before run
	jitter  []time.Duration
	packets int
}

func (ph *phoneSink) record(on bool) { ph.on.Store(on) }

func (ph *phoneSink) run() {
	buf := make([]byte, 2048)
	ph.jitter = make([]time.Duration, 0, 200*len(ph.last))
	for {
		n, _, err := ph.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		now := time.Now()
		if n < rtpHeaderSize {
			continue
		}
		ssrc := binary.BigEndian.Uint32(buf[8:])
		prev, ok := ph.last[ssrc]
		if !ok {
			continue
		}
		ph.last[ssrc] = now
		if !ph.on.Load() || prev.IsZero() {
			continue
		}
		ph.packets++
		d := now.Sub(prev) - frameDuration
		ph.jitter = append(ph.jitter, max(d, -d))
	}
}

// cpuTime is the process's user plus system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
