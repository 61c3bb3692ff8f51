package sip_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"go.uber.org/zap"

	"github.com/switchboard-voip/switchboard/flow"
	"github.com/switchboard-voip/switchboard/internal/udpstat"
	"github.com/switchboard-voip/switchboard/media"
	"github.com/switchboard-voip/switchboard/presence"
	"github.com/switchboard-voip/switchboard/routing"
	sbsip "github.com/switchboard-voip/switchboard/sip"
	sbdigest "github.com/switchboard-voip/switchboard/sip/digest"
)

// Presence fan-out at the scale of a large office: 10,000 users, 1,000 phones' worth of
// presence subscriptions (10 UAs × 100) all watching one user, whose DND is toggled.

const (
	benchUserCount   = 10_000
	benchFirstExt    = 20_000 // extensions 20000..29999
	benchWatcherUAs  = 10
	benchSubsPerUA   = 100
	benchTargetExt   = "24321"
	benchNotifyLimit = 10 * time.Second // one toggle's fan-out must finish within this
)

// benchUsers knows benchUserCount extensions; each one's password is "pw-" + ext.
type benchUsers struct{}

func (benchUsers) Secret(ext string) (sbdigest.Secret, bool) {
	n, err := strconv.Atoi(ext)
	if err != nil || n < benchFirstExt || n >= benchFirstExt+benchUserCount || strconv.Itoa(n) != ext {
		return sbdigest.Secret{}, false
	}
	return sbdigest.Secret{Password: "pw-" + ext}, true
}

func (benchUsers) DisplayName(ext string) string { return "User " + ext }

// benchFlows is never run: the benchmark places no calls.
type benchFlows struct{}

func (benchFlows) Run(flow.Call, *routing.Plan) {}

// benchRouter is never asked: the benchmark places no calls.
type benchRouter struct{}

func (benchRouter) Decide(routing.Request) routing.Plan { return routing.Plan{} }

// benchTable is a presence table of benchUserCount users, DND kept in memory.
func benchTable(b *testing.B) (*presence.Table, []string) {
	b.Helper()
	exts := make([]string, benchUserCount)
	people := make([]presence.User, benchUserCount)
	for i := range exts {
		exts[i] = strconv.Itoa(benchFirstExt + i)
		people[i] = presence.User{Ext: exts[i], Name: "User " + exts[i]}
	}
	table, err := presence.NewTable(people, &presence.MemoryStore{})
	if err != nil {
		b.Fatal(err)
	}
	return table, exts
}

// fanoutWatchers counts, for the state currently awaited, how many subscriptions have received
// a NOTIFY showing it.
type fanoutWatchers struct {
	mu      sync.Mutex
	last    map[string]bool // by subscription Call-ID: DND as the last NOTIFY showed it
	want    bool            // the awaited state
	reached int             // subscriptions whose last NOTIFY shows want
	total   int             // subscriptions that must reach it
	done    chan struct{}   // closed when reached == total
	strays  atomic.Int64    // NOTIFYs for unknown subscriptions
}

// expect starts waiting for every subscription to show dnd; the returned channel closes when
// they all do.
func (f *fanoutWatchers) expect(dnd bool) <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.want, f.reached, f.done = dnd, 0, make(chan struct{})
	for _, v := range f.last {
		if v == dnd {
			f.reached++
		}
	}
	if f.reached == f.total {
		close(f.done)
	}
	return f.done
}

// seen records one NOTIFY.
func (f *fanoutWatchers) seen(callID string, dnd bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	prev, ok := f.last[callID]
	if !ok {
		f.strays.Add(1)
		return
	}
	if prev == dnd {
		return
	}
	f.last[callID] = dnd
	switch {
	case dnd == f.want:
		f.reached++
		if f.reached == f.total {
			close(f.done)
		}
	case prev == f.want:
		f.reached-- // a stale state arrived after the new one (must not happen)
	}
}

// benchWatcherUA is one sipgo UA holding benchSubsPerUA presence subscriptions.
type benchWatcherUA struct {
	ext    string
	ua     *sipgo.UserAgent
	client *sipgo.Client
	srv    *sipgo.Server
	conn   net.PacketConn
	uri    sip.Uri // the switch
	ct     sip.ContactHeader
}

func newBenchWatcherUA(b *testing.B, ext, switchAddr string, f *fanoutWatchers) *benchWatcherUA {
	b.Helper()
	quiet := slog.New(slog.DiscardHandler) // retransmissions under load are expected, not news
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("bench-"+ext),
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(quiet)),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(quiet)))
	if err != nil {
		b.Fatal(err)
	}
	w := &benchWatcherUA{ext: ext, ua: ua}
	w.srv, _ = sipgo.NewServer(ua, sipgo.WithServerLogger(quiet))
	w.conn, err = net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	// One UA stands for 100 phones here, so its socket gets 100 NOTIFYs at once: give it the
	// room 100 phones would have (the kernel caps it at net.core.rmem_max).
	if err := w.conn.(*net.UDPConn).SetReadBuffer(4 << 20); err != nil {
		b.Fatal(err)
	}
	addr := w.conn.LocalAddr().String()
	host, port, _ := sip.ParseAddr(addr)
	w.client, _ = sipgo.NewClient(ua, sipgo.WithClientHostname(host), sipgo.WithClientAddr(addr))
	w.ct = sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: ext, Host: host, Port: port}}
	swHost, swPort, _ := sip.ParseAddr(switchAddr)
	w.uri = sip.Uri{Scheme: "sip", Host: swHost, Port: swPort}
	go func() { _ = w.srv.ServeUDP(&leanPhoneConn{PacketConn: w.conn, f: f}) }()
	return w
}

// leanPhoneConn stands in front of a watcher UA's socket and answers NOTIFYs itself, as a desk
// phone's firmware does: 200 OK with the request's Via, From, To, Call-ID and CSeq, then the
// state read from the body. Everything else (the SUBSCRIBE transactions of the set-up) goes on
// to sipgo. The watchers stand for 1,000 phones, each with a CPU of its own, but here they share
// the switch's cores: a full SIP stack's parse and server transaction per NOTIFY (what sipgo
// watchers did) cost as much CPU as the switch's own work and doubled the figure measured.
type leanPhoneConn struct {
	net.PacketConn
	f   *fanoutWatchers
	out []byte // sipgo reads a connection from one goroutine, so one buffer does
}

func (c *leanPhoneConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.PacketConn.ReadFrom(p)
		if err != nil || !bytes.HasPrefix(p[:n], []byte("NOTIFY ")) {
			return n, addr, err
		}
		c.answer(p[:n], addr)
	}
}

// answer sends 200 OK for one NOTIFY and records the state it shows.
func (c *leanPhoneConn) answer(msg []byte, addr net.Addr) {
	head, body, _ := bytes.Cut(msg, []byte("\r\n\r\n"))
	c.out = append(c.out[:0], "SIP/2.0 200 OK\r\n"...)
	var callID string
	lines := bytes.Split(head, []byte("\r\n"))
	for _, line := range lines[1:] {
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		switch strings.ToLower(string(bytes.TrimSpace(name))) {
		case "call-id", "i":
			callID = string(bytes.TrimSpace(value))
		case "via", "v", "from", "f", "to", "t", "cseq":
		default:
			continue
		}
		c.out = append(c.out, line...)
		c.out = append(c.out, "\r\n"...)
	}
	c.out = append(c.out, "Content-Length: 0\r\n\r\n"...)
	_, _ = c.PacketConn.WriteTo(c.out, addr)
	// DND is the only closed state the switch publishes (busy is open + on-the-phone).
	c.f.seen(callID, presenceWord(string(body)) == "dnd")
}

// subscribe opens one presence subscription to target with Call-ID callID, answering the
// digest challenge.
func (w *benchWatcherUA) subscribe(ctx context.Context, target, callID string) error {
	uri := w.uri
	uri.User = target
	req := sip.NewRequest(sip.SUBSCRIBE, uri)
	from := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: w.ext, Host: "127.0.0.1"}, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(8))
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: target, Host: "127.0.0.1"}})
	cid := sip.CallIDHeader(callID)
	req.AppendHeader(&cid)
	req.AppendHeader(w.ct.Clone())
	req.AppendHeader(sip.NewHeader("Event", "presence"))
	req.AppendHeader(sip.NewHeader("Expires", "3600"))
	res, err := w.client.Do(ctx, req)
	if err == nil && (res.StatusCode == 401 || res.StatusCode == 407) {
		res, err = w.client.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: w.ext, Password: "pw-" + w.ext})
	}
	if err != nil {
		return err
	}
	if res.StatusCode != 200 {
		return fmt.Errorf("SUBSCRIBE %s by %s: %d %s", target, w.ext, res.StatusCode, res.Reason)
	}
	return nil
}

func (w *benchWatcherUA) close() {
	_ = w.ua.Close()
	_ = w.conn.Close()
}

// BenchmarkPresenceFanout measures one DND toggle of a watched user until every one of 1,000
// presence subscriptions (10 sipgo UAs × 100, all on that user) has received the NOTIFY showing
// it: p50, p99 and max in ms over the iterations, as metrics.
func BenchmarkPresenceFanout(b *testing.B) {
	table, _ := benchTable(b)
	// The benchmark places no calls: a few pairs from the sip package's port plan (12000-19999).
	ports, err := media.NewPorts(netip.MustParseAddr("127.0.0.1"), 19990, 19999)
	if err != nil {
		b.Fatal(err)
	}
	srv, err := sbsip.NewServer(sbsip.Options{
		Listen:    []sbsip.Listen{{Transport: "udp", Addr: "127.0.0.1:0"}},
		Realm:     "switchboard",
		MediaAddr: netip.MustParseAddr("127.0.0.1"),
		Ports:     ports,
		Users:     benchUsers{},
		Router:    benchRouter{},
		Flows:     benchFlows{},
		Locations: sbsip.NewMemoryLocations(nil),
		Presence:  table,
		Logger:    zap.NewNop(),
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		b.Fatal(err)
	}

	f := &fanoutWatchers{last: make(map[string]bool), total: benchWatcherUAs * benchSubsPerUA}
	was := make([]*benchWatcherUA, benchWatcherUAs)
	for i := range was {
		was[i] = newBenchWatcherUA(b, strconv.Itoa(benchFirstExt+i), srv.Addr("udp"), f)
	}
	defer func() {
		// The switch ends every subscription with a final NOTIFY, which the UAs answer.
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			b.Errorf("shutdown: %v", err)
		}
		for _, w := range was {
			w.close()
		}
	}()

	// Subscribe: each UA opens its 100 subscriptions one after another, the UAs in parallel.
	setup := time.Now()
	initial := f.expect(false) // every first NOTIFY shows the target available
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, len(was))
	for _, w := range was {
		wg.Go(func() {
			for range benchSubsPerUA {
				// Known before the SUBSCRIBE leaves: the first NOTIFY may beat the 200 back.
				id := sip.GenerateTagN(20)
				f.mu.Lock()
				f.last[id] = true // "not yet seen available": the first NOTIFY counts
				f.mu.Unlock()
				if err := w.subscribe(ctx, benchTargetExt, id); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	select {
	case <-initial:
	case <-time.After(benchNotifyLimit):
		b.Fatalf("initial NOTIFYs: %d of %d subscriptions show the target available", f.reached, f.total)
	}
	if n := srv.Subscriptions(); n != f.total {
		b.Fatalf("switch holds %d subscriptions, want %d", n, f.total)
	}
	b.Logf("setup: %d subscriptions to %s over %d UAs in %s", f.total, benchTargetExt, len(was),
		time.Since(setup).Round(time.Millisecond))

	var lat []time.Duration
	dnd := false
	drops0 := receiveDrops()
	for b.Loop() {
		dnd = !dnd
		done := f.expect(dnd)
		start := time.Now()
		if _, err := table.SetDND(benchTargetExt, dnd); err != nil {
			b.Fatal(err)
		}
		select {
		case <-done:
		case <-time.After(benchNotifyLimit):
			f.mu.Lock()
			reached := f.reached
			f.mu.Unlock()
			b.Fatalf("DND %v: after %s only %d of %d subscriptions were notified", dnd, benchNotifyLimit, reached, f.total)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	drops := receiveDrops() - drops0
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	pick := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	b.ReportMetric(ms(pick(0.50)), "p50-ms")
	b.ReportMetric(ms(pick(0.99)), "p99-ms")
	b.ReportMetric(ms(lat[len(lat)-1]), "max-ms")
	b.ReportMetric(float64(f.total), "notifies/op")
	if drops0 >= 0 {
		// Host-wide, so other processes' drops count too; on an idle host they are ours.
		b.ReportMetric(float64(drops)/float64(len(lat)), "udp-drops/op")
	}
}

// BenchmarkStatusRead is the status read routing does on every call, through the SIP layer's
// view of the table (10,000 users, rotating over them): lock-free, no allocation.
func BenchmarkStatusRead(b *testing.B) {
	table, exts := benchTable(b)
	table.CallStarted(exts[4321], "c1")
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, ok := table.Status(exts[i%len(exts)]); !ok {
				b.Fatal("unknown extension")
			}
			i++
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				table.Status(exts[i%len(exts)])
				i++
			}
		})
	})
}

// receiveDrops is udpstat.ReceiveDrops, or -1 where it cannot be read.
func receiveDrops() int64 {
	n, err := udpstat.ReceiveDrops()
	if err != nil {
		return -1
	}
	return n
}
