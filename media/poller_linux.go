//go:build linux

package media

import (
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// pollBurst is how many datagrams one ready socket may yield before the worker moves on to
// the next ready one: fairness between calls. epoll is level-triggered, so what is left is
// reported again at once. It is also the batch of one recvmmsg: a socket is read with one
// system call whatever it holds, where reading datagram by datagram until EAGAIN took two for
// the usual one (a phone's socket holds one packet each 20 ms), a third of the per-packet
// system calls of a relayed call.
const pollBurst = 32

// mmsghdr is struct mmsghdr of recvmmsg(2) (x/sys/unix has none): Go rounds the struct to
// the alignment of its pointers, as C does, so the layout holds on 32- and 64-bit machines.
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
}

// pollWorker is one goroutine waiting on one epoll set and reading the ready sockets in it
// into its one buffer. A socket belongs to one worker, so its datagrams are handled in order.
type pollWorker struct {
	epfd int
	// set is epfd as a file in Go's own poller: the worker parks like any goroutine waiting
	// for a socket until the set has something ready, instead of blocking a thread in
	// epoll_wait (a thread that then had to win a CPU back from the scheduler: 30 µs and
	// more per packet when idle). Closing it stops the worker.
	set  *os.File
	wait func(fd uintptr) bool // collect, bound once
	n    int                   // what collect found

	mu   sync.Mutex
	regs []*pollReg // by slot; nil when free
	gens []uint32   // per slot, bumped at each reuse: a stale event finds a new generation
	free []int32

	// Only the worker's goroutine touches what follows. msgs point into iovs, bufs and froms,
	// set up once (the worker does not move: it is on the heap).
	events [64]unix.EpollEvent
	msgs   [pollBurst]mmsghdr
	iovs   [pollBurst]unix.Iovec
	froms  [pollBurst]unix.RawSockaddrAny
	bufs   [pollBurst][relayBufSize]byte
	// batch sends a read's packets on (relays only).
	batch sendBatch

	done chan struct{}
}

// pollReg is a socket in a worker's set.
type pollReg struct {
	w    *pollWorker
	slot int32
	udp  *udpSocket
	sink packetSink
	// flow is sink when it is a relay's direction, whose packets go out in batches.
	flow *flow
	read func(fd int) error // drainFD, bound once so that reading allocates nothing

	// mu is held while the worker reads the socket; remove takes it to wait for a read in
	// progress, after which the sink is never called again.
	mu   sync.Mutex
	gone bool
}

// add starts reading u into sink; the handle's remove stops it and waits until sink is no
// longer called. The workers (readerCount) start with the first socket.
func (p *poller) add(u *udpSocket, sink packetSink) pollHandle {
	w := p.worker()
	if w == nil {
		return startGoReader(u, sink)
	}
	g := &pollReg{w: w, udp: u, sink: sink}
	g.flow, _ = sink.(*flow)
	g.read = g.drainFD
	w.mu.Lock()
	if n := len(w.free); n > 0 {
		g.slot = w.free[n-1]
		w.free = w.free[:n-1]
	} else {
		g.slot = int32(len(w.regs))
		w.regs = append(w.regs, nil)
		w.gens = append(w.gens, 0)
	}
	w.gens[g.slot]++
	gen := w.gens[g.slot]
	w.regs[g.slot] = g
	w.mu.Unlock()

	err := u.use(func(fd int) error {
		ev := unix.EpollEvent{Events: unix.EPOLLIN}
		ev.Fd, ev.Pad = g.slot, int32(gen)
		return unix.EpollCtl(w.epfd, unix.EPOLL_CTL_ADD, fd, &ev)
	})
	if err != nil {
		w.release(g.slot)
		return startGoReader(u, sink)
	}
	return g
}

// readerCount is how many workers read media when the runtime runs goroutines on procs CPUs:
// one fewer, so that media never holds every one and the signalling has one to run on (the
// switch's main adds one to the machine's CPUs for it, so that the readers still get one each).
// A worker under load seldom parks (its set has something ready again by the time it looks),
// and while every runtime CPU runs one, a ready SIP socket waits for a worker to park or for
// the runtime's monitor to poll the network (every 10 ms), and the goroutines it wakes wait
// behind the workers. At 2,000 streaming calls on two CPUs (SIPp beside the switch), with two
// workers on two, goroutines waited 10–117 ms for a CPU 8,270 times in a run and the callers'
// set-up p50/p99 were 32–168 / 336–1,224 ms; with one worker on two, 700 times and 8–12 /
// 172–216 ms, the switch's CPU the same (85–88 %). Yielding after each batch instead
// (runtime.Gosched) with two workers: 52–120 / 308–668 ms.
func readerCount(procs int) int {
	return max(1, procs-1)
}

// worker returns the worker for a new socket, round-robin, starting them on first use; nil
// when epoll is unavailable or the poller is closed.
func (p *poller) worker() *pollWorker {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.failed {
		return nil
	}
	if p.workers == nil {
		for range readerCount(runtime.GOMAXPROCS(0)) {
			w, err := newPollWorker()
			if err != nil {
				p.failed = true
				for _, w := range p.workers {
					w.stop()
				}
				p.workers = nil
				return nil
			}
			p.workers = append(p.workers, w)
		}
	}
	return p.workers[int(p.next.Add(1))%len(p.workers)]
}

// Close stops the workers. Sockets still registered stop being read (their relays should
// have been stopped first); new ones get goroutines of their own.
func (p *poller) Close() error {
	p.mu.Lock()
	ws := p.workers
	p.workers, p.closed = nil, true
	p.mu.Unlock()
	for _, w := range ws {
		w.stop()
	}
	return nil
}

func newPollWorker() (*pollWorker, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("media: epoll: %w", err)
	}
	if err := unix.SetNonblock(epfd, true); err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("media: epoll: %w", err)
	}
	set := os.NewFile(uintptr(epfd), "media-readers")
	raw, err := set.SyscallConn()
	if err != nil {
		set.Close()
		return nil, fmt.Errorf("media: epoll: %w", err)
	}
	w := &pollWorker{epfd: epfd, set: set, done: make(chan struct{})}
	w.wait = w.collect
	w.batch.init()
	for i := range w.msgs {
		w.iovs[i].Base = &w.bufs[i][0]
		w.iovs[i].SetLen(relayBufSize)
		w.msgs[i].hdr.Name = (*byte)(unsafe.Pointer(&w.froms[i]))
		w.msgs[i].hdr.Namelen = uint32(unsafe.Sizeof(w.froms[i]))
		w.msgs[i].hdr.Iov = &w.iovs[i]
		w.msgs[i].hdr.SetIovlen(1)
	}
	go w.run(raw)
	return w, nil
}

func (w *pollWorker) stop() {
	_ = w.set.Close() // wakes the worker: its wait fails
	<-w.done
}

// collect takes what the set has ready without blocking; false parks the worker until the
// set is readable (something in it is).
func (w *pollWorker) collect(fd uintptr) bool {
	for {
		n, err := unix.EpollWait(int(fd), w.events[:], 0)
		if err == unix.EINTR {
			continue
		}
		w.n = n
		return n > 0 || err != nil
	}
}

func (w *pollWorker) run(raw syscall.RawConn) {
	defer close(w.done)
	for {
		if err := raw.Read(w.wait); err != nil {
			return // the set was closed
		}
		for i := range w.n {
			ev := &w.events[i]
			w.mu.Lock()
			var g *pollReg
			if s := int(ev.Fd); s < len(w.regs) && w.gens[s] == uint32(ev.Pad) {
				g = w.regs[s]
			}
			w.mu.Unlock()
			if g != nil {
				g.drain()
			}
		}
	}
}

// release frees a slot.
func (w *pollWorker) release(slot int32) {
	w.mu.Lock()
	w.regs[slot] = nil
	w.free = append(w.free, slot)
	w.mu.Unlock()
}

// drain reads what the socket holds, up to pollBurst datagrams. The socket holds its
// descriptor open while drainFD runs (a concurrent close waits), so the descriptor read is
// always this socket's. Closing a socket takes it out of the set (its last descriptor goes).
func (g *pollReg) drain() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.gone {
		return
	}
	_ = g.udp.use(g.read) // a closed socket has left the set
}

// drainFD is the per-packet path: one recvmmsg into the worker's buffers, a relay's packets
// sent on together (sendBatch), no allocation. What a full batch leaves is reported again by
// the level-triggered set.
func (g *pollReg) drainFD(fd int) error {
	w := g.w
	for range pollBurst {
		n, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(fd), uintptr(unsafe.Pointer(&w.msgs[0])), uintptr(len(w.msgs)),
			unix.MSG_DONTWAIT, 0, 0)
		switch errno {
		case 0:
		case unix.EAGAIN, unix.EINTR:
			return nil
		default:
			continue // an ICMP error surfacing on a read concerns one packet, not the socket
		}
		if g.flow != nil {
			w.batch.relay(g.flow, &w.bufs, &w.msgs, &w.froms, int(n))
		} else {
			for i := range int(n) {
				g.sink.packet(w.bufs[i][:], int(w.msgs[i].n), sourceOf(&w.froms[i]))
			}
		}
		for i := range int(n) {
			w.msgs[i].hdr.Namelen = uint32(unsafe.Sizeof(w.froms[i])) // the kernel wrote its length
		}
		return nil
	}
	return nil
}

// sourceOf is the address a datagram came from.
func sourceOf(from *unix.RawSockaddrAny) netip.AddrPort {
	switch from.Addr.Family {
	case unix.AF_INET:
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(from))
		p := (*[2]byte)(unsafe.Pointer(&sa.Port))
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(p[0])<<8|uint16(p[1]))
	case unix.AF_INET6:
		sa := (*unix.RawSockaddrInet6)(unsafe.Pointer(from))
		p := (*[2]byte)(unsafe.Pointer(&sa.Port))
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), uint16(p[0])<<8|uint16(p[1]))
	}
	return netip.AddrPort{}
}

// unwatch takes the socket out of the epoll set (if it is still open: closing it did that).
func (g *pollReg) unwatch() {
	_ = g.udp.use(func(fd int) error {
		return unix.EpollCtl(g.w.epfd, unix.EPOLL_CTL_DEL, fd, nil)
	})
}

// remove stops reading the socket and waits for a read in progress: after it returns the
// sink is not called again. The socket stays open.
func (g *pollReg) remove() {
	g.mu.Lock()
	if g.gone {
		g.mu.Unlock()
		return
	}
	g.gone = true
	g.unwatch()
	g.mu.Unlock()
	g.w.release(g.slot)
}
