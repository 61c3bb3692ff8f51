package media

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"

	"github.com/switchboard-voip/switchboard/media/offload"
)

// Ports hands out RTP/RTCP port pairs from a configured range on one local
// IP: RTP on an even port, RTCP on the odd port above it (RFC 3550 §11).
//
// Pairs are handed out round-robin rather than lowest-first, so a pair freed
// by a call that just ended is the last to be reused and late packets of the
// old call do not land in a new one. A Ports is safe for concurrent use.
type Ports struct {
	addr    netip.Addr
	network string // "udp4" or "udp6", so sockets never see 4-in-6 addresses
	first   int    // lowest RTP port (even)

	// readers reads the sockets of running relays (poller.go).
	readers poller
	// kernel relays plain RTP of running relays in the kernel (RelayInKernel); nil: the
	// switch relays all.
	kernel *offload.Offload
	// relays are the running relays and the stopped ones' counters (relaystats.go).
	relays relayBook

	mu    sync.Mutex
	used  []bool // used[i]: pair first+2i is out
	next  int    // index of the pair to try first on the next Open
	inUse int
}

// rtpReadBuffer is an RTP socket's receive buffer: room for a burst of a few seconds of a
// call's audio arriving while the reader is behind (or the sender catches up after falling
// behind itself). The kernel's default (208 KiB) holds 256 packets of 172 bytes sent on
// loopback (TestEndpointHoldsABurstOfAudio), fewer of SIPp's: at 2,000 streaming calls on two
// busy CPUs, with one or two media readers, hundreds of caller-facing sockets overflowed by a
// few packets (queues full at 186 KB) in about half the runs, up to 35,000 packets lost in a
// run; with 1 MiB, none in 8 runs. The buffer is a limit, not an allocation: memory is only
// taken by packets waiting. The kernel caps the request at net.core.rmem_max (and doubles it
// for its own bookkeeping: 416 KiB on a stock kernel, still twice the default).
const rtpReadBuffer = 1 << 20

// NewPorts returns a pool of the pairs that fit in [minPort,maxPort] on addr.
// An odd minPort is rounded up, and a pair is only used if its RTCP port is
// <= maxPort.
// It fails if the range holds no whole pair or addr is invalid.
func NewPorts(addr netip.Addr, minPort, maxPort int) (*Ports, error) {
	if !addr.IsValid() {
		return nil, fmt.Errorf("media: invalid local address %v", addr)
	}
	if minPort < 1 || maxPort > 65535 || minPort > maxPort {
		return nil, fmt.Errorf("media: invalid port range %d-%d", minPort, maxPort)
	}
	first := minPort + minPort%2
	n := (maxPort - first + 1) / 2
	if n < 1 {
		return nil, fmt.Errorf("media: port range %d-%d holds no RTP/RTCP pair", minPort, maxPort)
	}
	addr = addr.Unmap()
	network := "udp4"
	if addr.Is6() {
		network = "udp6"
	}
	return &Ports{addr: addr, network: network, first: first, used: make([]bool, n)}, nil
}

// Open binds the next free pair and returns it as an Endpoint, which the
// caller must Close to give the pair back. Pairs the OS refuses (another
// process may hold one of the ports) are skipped; after a full lap without
// success Open returns an error wrapping ErrPortsExhausted.
func (p *Ports) Open() (*Endpoint, error) {
	// Binding under the lock keeps the bookkeeping simple; it costs two
	// syscalls per call setup, far from any per-packet path.
	p.mu.Lock()
	defer p.mu.Unlock()
	for range len(p.used) {
		i := p.next
		p.next = (p.next + 1) % len(p.used)
		if p.used[i] {
			continue
		}
		port := p.first + 2*i
		rtp, err := listenUDP(p.network, netip.AddrPortFrom(p.addr, uint16(port)))
		if err != nil {
			continue
		}
		_ = rtp.setReadBuffer(rtpReadBuffer) // best effort: the default still relays
		rtcp, err := listenUDP(p.network, netip.AddrPortFrom(p.addr, uint16(port+1)))
		if err != nil {
			rtp.close()
			continue
		}
		p.used[i] = true
		p.inUse++
		return newEndpoint(p, p.addr, port, rtp, rtcp), nil
	}
	return nil, fmt.Errorf("%w on %v ports %d-%d", ErrPortsExhausted, p.addr, p.first, p.first+2*len(p.used)-1)
}

// Close stops the readers that serve the pool's relays and the kernel's relaying; call it once
// the calls are over. Endpoints opened later still relay, each socket with a goroutine of its
// own.
func (p *Ports) Close() error {
	err := p.readers.Close()
	if p.kernel != nil {
		err = errors.Join(err, p.kernel.Close())
	}
	return err
}

// InUse reports how many pairs are out (opened and not yet closed).
func (p *Ports) InUse() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.inUse
}

// release gives a pair back; Endpoint.Close calls it once.
func (p *Ports) release(port int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	i := (port - p.first) / 2
	if p.used[i] {
		p.used[i] = false
		p.inUse--
	}
}
