package media

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
)

// Endpoint is one call leg's side of the switch: an RTP socket on Addr:Port
// and an RTCP socket on Addr:Port+1, plus where to send to the leg's phone.
//
// The remote is set from the phone's SDP (SetRemote) and then follows the
// phone's real source address (symmetric latching): phones behind NAT put
// their private address in SDP, so the address packets actually come from is
// the one that reaches them. RTP and RTCP latch separately.
//
// An Endpoint is obtained from Ports.Open and must be closed by its owner.
// Its methods are safe for concurrent use; at most one Relay may run on it at
// a time, because the relay owns the read side of both sockets.
type Endpoint struct {
	pool *Ports
	addr netip.Addr
	port int
	rtp  socket
	rtcp socket

	closeOnce sync.Once
	mu        sync.Mutex
	onClose   []func() // run once by Close (under mu until taken)
	closed    bool
}

// socket is one UDP socket of an endpoint and the peer address it sends to.
// The per-packet path reads both fields with atomic loads only.
type socket struct {
	udp *udpSocket
	// remote is where packets for the peer go; nil until known. It is
	// replaced, never mutated, and only when the address changes, so the
	// steady state neither allocates nor writes shared memory.
	remote atomic.Pointer[netip.AddrPort]
	// mute means the peer's SDP asked for nothing to be sent (c=0.0.0.0,
	// port 0). It is separate from remote so that latching, which keeps
	// following the source while on hold, cannot undo the hold.
	mute atomic.Bool
	// unsegmented means the route to the peer did not take a segmented datagram (sendBatch),
	// so batches go out one datagram per packet.
	unsegmented atomic.Bool
	// rtcp says which of the pair this is, for the cipher.
	rtcp bool
	// local is the socket's own address.
	local netip.AddrPort
	// relay is the running relay reading the socket, told of every change to the peer's
	// address, hold and keys (Relay.changed): the kernel may be relaying for it (kernel.go).
	relay atomic.Pointer[Relay]
	// cipher protects the peer's packets (SRTP); nil for plain RTP.
	cipher atomic.Pointer[cipherRef]
	// sealMu orders writers through sealBuf when there is a cipher.
	sealMu  sync.Mutex
	sealBuf []byte
}

// Cipher protects a leg's packets: SRTP with keys from SDP (media/srtp implements it). The
// switch decrypts what the peer sends as it is read and encrypts what it sends as it is
// written, so relays, prompts, the recorder and DTMF see plain RTP.
type Cipher interface {
	// Open authenticates and decrypts a received packet in place and returns the plain
	// packet, a prefix of pkt; an error means the packet is dropped (and not latched to:
	// a forger must not steer the media).
	Open(pkt []byte, rtcp bool) ([]byte, error)
	// Seal appends the protected form of pkt to dst.
	Seal(dst, pkt []byte, rtcp bool) ([]byte, error)
}

type cipherRef struct{ c Cipher }

// SetCipher makes the endpoint protect its peer's RTP and RTCP with c from the next packet on;
// nil goes back to plain RTP. A re-INVITE with new keys sets a new one.
func (e *Endpoint) SetCipher(c Cipher) {
	for _, s := range []*socket{&e.rtp, &e.rtcp} {
		if c == nil {
			s.cipher.Store(nil)
		} else {
			s.cipher.Store(&cipherRef{c})
		}
		s.changed()
	}
}

// open turns a packet read from the peer into plain RTP; false drops it.
func (s *socket) open(pkt []byte) ([]byte, bool) {
	ref := s.cipher.Load()
	if ref == nil {
		return pkt, true
	}
	out, err := ref.c.Open(pkt, s.rtcp)
	return out, err == nil
}

func newEndpoint(pool *Ports, addr netip.Addr, port int, rtp, rtcp *udpSocket) *Endpoint {
	e := &Endpoint{pool: pool, addr: addr, port: port}
	e.rtp.udp = rtp
	e.rtcp.udp = rtcp
	e.rtp.local = netip.AddrPortFrom(addr, uint16(port))
	e.rtcp.local = netip.AddrPortFrom(addr, uint16(port+1))
	e.rtcp.rtcp = true
	return e
}

// readers returns what reads the endpoint's sockets for a relay: its pool's poller.
func (e *Endpoint) readers() *poller { return &e.pool.readers }

// Port returns the local RTP port; RTCP is on Port()+1. It goes in the m=
// line of the SDP the switch sends to this leg.
func (e *Endpoint) Port() int { return e.port }

// Sockets returns the endpoint's RTP and RTCP sockets, for an owner that moves packets itself
// instead of running a Relay on them (the WebRTC gateway: ICE on the first, a plain-RTP face
// towards the switch on the second). Close still closes them and returns the pair. It fails
// only if the process is out of descriptors.
func (e *Endpoint) Sockets() (rtp, rtcp *net.UDPConn, err error) {
	if rtp, err = e.rtp.udp.conn(); err != nil {
		return nil, nil, err
	}
	if rtcp, err = e.rtcp.udp.conn(); err != nil {
		return nil, nil, err
	}
	return rtp, rtcp, nil
}

// Addr returns the local IP the sockets are bound to.
func (e *Endpoint) Addr() netip.Addr { return e.addr }

// SetRemote sets where to send RTP, from the peer's SDP; RTCP goes to the
// next port up until RTCP from the peer is received (latching). Call it
// again on every re-INVITE: it replaces any latched address, and latching
// resumes with the next packet received. An unspecified address (0.0.0.0,
// the old-style hold), port 0 (stream rejected) or an invalid value means
// "send nothing" to this peer.
func (e *Endpoint) SetRemote(rtp netip.AddrPort) {
	rtp = netip.AddrPortFrom(rtp.Addr().Unmap(), rtp.Port())
	mute := !rtp.IsValid() || rtp.Addr().IsUnspecified() || rtp.Port() == 0
	e.rtp.setRemote(rtp, mute)
	if rtp.Port() == 65535 {
		e.rtcp.setRemote(netip.AddrPort{}, true)
		return
	}
	e.rtcp.setRemote(netip.AddrPortFrom(rtp.Addr(), rtp.Port()+1), mute)
}

// Remote returns where RTP for the peer currently goes (latched or from
// SDP) and false if nothing is being sent (unknown or on hold). It lets the
// call owner report address changes; it is not needed to relay.
func (e *Endpoint) Remote() (netip.AddrPort, bool) {
	if e.rtp.mute.Load() {
		return netip.AddrPort{}, false
	}
	if p := e.rtp.remote.Load(); p != nil {
		return *p, true
	}
	return netip.AddrPort{}, false
}

// OnClose registers f to run when the endpoint is closed (at once if it already is): what
// serves the endpoint's peer, such as a browser's media gateway, ends with it.
func (e *Endpoint) OnClose(f func()) {
	e.mu.Lock()
	if !e.closed {
		e.onClose = append(e.onClose, f)
		e.mu.Unlock()
		return
	}
	e.mu.Unlock()
	f()
}

// Close closes both sockets, which ends any Relay loop reading them, and
// gives the pair back to its pool, then runs the OnClose functions. It is
// idempotent: later calls return nil.
func (e *Endpoint) Close() error {
	var err error
	e.closeOnce.Do(func() {
		err = errors.Join(e.rtp.udp.close(), e.rtcp.udp.close())
		if e.pool != nil {
			e.pool.release(e.port)
		}
		e.mu.Lock()
		fs := e.onClose
		e.onClose, e.closed = nil, true
		e.mu.Unlock()
		for _, f := range fs {
			f()
		}
	})
	return err
}

func (s *socket) setRemote(ap netip.AddrPort, mute bool) {
	// Order matters little (a packet in between goes to either address),
	// but storing the address first means unmuting never sends to a stale one.
	s.store(ap)
	s.mute.Store(mute)
	s.changed()
}

// latch records src as the peer's address if it changed. The comparison is
// the steady state; the allocation happens only on a change.
func (s *socket) latch(src netip.AddrPort) {
	if cur := s.remote.Load(); cur != nil && *cur == src {
		return
	}
	s.store(src)
	s.changed()
}

// changed tells the relay reading the socket, if any, that its peer's address, hold or keys
// changed.
func (s *socket) changed() {
	if r := s.relay.Load(); r != nil {
		r.changed(s)
	}
}

func (s *socket) store(ap netip.AddrPort) {
	p := new(netip.AddrPort)
	*p = ap
	s.remote.Store(p)
}

// send writes b to the peer. It reports false if the packet was not sent:
// no address yet, on hold, or the write failed (the peer is gone or
// unreachable; UDP gives no more reason to retry).
func (s *socket) send(b []byte) bool {
	if s.mute.Load() {
		return false
	}
	dst := s.remote.Load()
	if dst == nil {
		return false
	}
	if ref := s.cipher.Load(); ref != nil {
		s.sealMu.Lock()
		defer s.sealMu.Unlock()
		out, err := ref.c.Seal(s.sealBuf[:0], b, s.rtcp)
		if err != nil {
			return false
		}
		s.sealBuf = out[:0] // grown once to a packet's size, then reused
		b = out
	}
	return s.udp.writeTo(b, *dst) == nil
}
