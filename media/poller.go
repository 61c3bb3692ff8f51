package media

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// packetSink receives the datagrams read from one socket: buf[:n] came from src. buf is the
// reader's and only valid during the call; n == len(buf) means the datagram may have been
// truncated. It runs on the reader's goroutine and must not block for long: on Linux that
// goroutine serves many sockets.
type packetSink interface {
	packet(buf []byte, n int, src netip.AddrPort)
}

// poller reads the sockets of running relays. On Linux (poller_linux.go) a few goroutines,
// one per epoll set, serve every socket: a relayed call then costs no goroutine and no read
// buffer of its own (four of each before, about 20 KB a call), and a busy worker reads many
// ready sockets per wake-up instead of the scheduler waking one goroutine per packet. Where
// epoll is not available a socket gets a goroutine of its own (goReader). The zero value is
// ready to use; Close stops the workers.
type poller struct {
	mu      sync.Mutex
	workers []*pollWorker
	next    atomic.Uint32
	closed  bool
	failed  bool // epoll could not be set up: every socket gets its own goroutine
}

// pollHandle is a registered socket; remove takes it back.
type pollHandle interface {
	remove()
}

// goReader is the portable reader: one goroutine reading one socket into its own buffer
// until removed. Removing it sets a read deadline in the past, as closing the socket is the
// endpoint owner's business.
type goReader struct {
	conn     *net.UDPConn
	sink     packetSink
	stopping atomic.Bool
	done     chan struct{}
}

// startGoReader reads u with a goroutine of its own; out of descriptors for the
// *net.UDPConn that takes, nothing is read (the relay's inactivity check ends the call).
func startGoReader(u *udpSocket, sink packetSink) pollHandle {
	conn, err := u.conn()
	if err != nil {
		return noReader{}
	}
	g := &goReader{conn: conn, sink: sink, done: make(chan struct{})}
	go g.run()
	return g
}

// noReader is a socket that could not be read.
type noReader struct{}

func (noReader) remove() {}

func (g *goReader) run() {
	defer close(g.done)
	buf := make([]byte, relayBufSize)
	for {
		n, src, err := g.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			// remove's deadline or the owner's Close ends the loop. Anything else (an
			// ICMP error surfacing on a read) concerns one packet, not the socket.
			if g.stopping.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		g.sink.packet(buf, n, src)
	}
}

func (g *goReader) remove() {
	g.stopping.Store(true)
	g.conn.SetReadDeadline(time.Now())
	<-g.done
}
