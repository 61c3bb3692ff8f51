package webrtc

import (
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/switchboard-voip/switchboard/internal/webrtcpeer"
	"github.com/switchboard-voip/switchboard/media"
)

// BenchmarkBrowserCalls holds 40 browser calls at once, each a gateway between a pion browser
// and an echoing "switch" socket, both directions streaming G.711 at 50 packets a second, and
// reports:
//
//	gateway-B/call   heap and stacks of a negotiated gateway (PeerConnection, ICE, its loops),
//	                 measured before the browsers connect
//	pair-B/call      the same once connected and streaming, browser's side included
//	cpu-ms/call-s    process CPU per call per second of streaming, browser's side included
//	                 (an upper bound for the gateway's)
func BenchmarkBrowserCalls(b *testing.B) {
	const calls = 40
	for i := 0; i < b.N; i++ {
		lo := block.Take(b, 2*calls)
		ports, err := media.NewPorts(loopback, lo, lo+2*calls-1)
		if err != nil {
			b.Fatal(err)
		}
		gs, err := NewGateways(Config{Ports: ports})
		if err != nil {
			b.Fatal(err)
		}
		browsers := make([]*webrtcpeer.Peer, calls)
		offers := make([][]byte, calls)
		for c := range browsers {
			browsers[c] = webrtcpeer.New(b, nil, pcmu)
			offers[c] = browsers[c].Offer()
		}
		heap := func() uint64 {
			runtime.GC()
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			return m.HeapInuse + m.StackInuse
		}
		before := heap()
		gws := make([]*Gateway, calls)
		answers := make([][]byte, calls)
		echoes := make([]*net.UDPConn, calls)
		for c := range gws {
			g, err := gs.New()
			if err != nil {
				b.Fatal(err)
			}
			gws[c] = g
			plain, err := g.FromBrowser(offers[c])
			if err != nil {
				b.Fatal(err)
			}
			echoes[c], err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				b.Fatal(err)
			}
			answer, _, err := media.AnswerOffer(plain, loopback, echoes[c].LocalAddr().(*net.UDPAddr).Port, media.NewOrigin())
			if err != nil {
				b.Fatal(err)
			}
			if answers[c], err = g.ToBrowser(answer); err != nil {
				b.Fatal(err)
			}
		}
		idle := heap()
		var wg sync.WaitGroup
		stopHearing := make(chan struct{})
		for c := range gws {
			wg.Add(1)
			go func(conn *net.UDPConn) { // the switch sends back what the browser says
				defer wg.Done()
				buf := make([]byte, 1500)
				for {
					n, src, err := conn.ReadFromUDPAddrPort(buf)
					if err != nil {
						return
					}
					_, _ = conn.WriteToUDPAddrPort(buf[:n], src)
				}
			}(echoes[c])
			browsers[c].Remote(webrtc.SDPTypeAnswer, answers[c])
		}
		for _, br := range browsers {
			br.WaitUp(20 * time.Second)
		}
		var heardPackets atomic.Int64
		for _, br := range browsers { // what the browsers hear is counted, not kept
			wg.Add(1)
			go func(heard <-chan *rtp.Packet) {
				defer wg.Done()
				for {
					select {
					case <-heard:
						heardPackets.Add(1)
					case <-stopHearing:
						return
					}
				}
			}(br.Heard)
		}
		stop := make(chan struct{})
		for _, br := range browsers {
			wg.Add(1)
			go func(mic *webrtc.TrackLocalStaticRTP) {
				defer wg.Done()
				tick := time.NewTicker(20 * time.Millisecond)
				defer tick.Stop()
				p := &rtp.Packet{Header: rtp.Header{Version: 2}, Payload: make([]byte, 160)}
				for {
					select {
					case <-stop:
						return
					case <-tick.C:
						p.SequenceNumber++
						p.Timestamp += 160
						_ = mic.WriteRTP(p)
					}
				}
			}(br.Mic)
		}
		const streaming = 5 * time.Second
		cpu0 := cpuTime()
		time.Sleep(streaming) // the measurement's window, not synchronisation
		cpu := cpuTime() - cpu0
		connected := heap()
		close(stop)
		close(stopHearing)
		if want := int64(calls * 50 * streaming.Seconds() / 2); heardPackets.Load() < want {
			b.Errorf("the browsers heard %d packets back, want at least %d", heardPackets.Load(), want)
		}
		for _, g := range gws {
			_ = g.Close()
		}
		for _, e := range echoes {
			_ = e.Close()
		}
		wg.Wait()
		b.ReportMetric(float64(idle-before)/calls, "gateway-B/call")
		b.ReportMetric(float64(connected-before)/calls, "pair-B/call")
		b.ReportMetric(float64(cpu.Milliseconds())/calls/streaming.Seconds(), "cpu-ms/call-s")
	}
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
