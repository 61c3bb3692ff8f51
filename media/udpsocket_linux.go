//go:build linux

package media

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// udpSocket is an RTP or RTCP socket the media readers serve by its descriptor alone. Go's
// network poller watches every socket made through package net, for reads and writes: each
// datagram in and each one sent queued an event there that a runtime thread then collected
// for nobody (the readers wait on epoll sets of their own), 11 % of the switch's CPU at 2,000
// streaming calls. A relay's socket is therefore made with socket(2) and read and written with
// system calls; a *net.UDPConn over it (conn) is made only for what reads with goroutines (a
// prompt's or the recorder's Receiver, the WebRTC gateway, readers without epoll), and from
// then on the socket is watched by Go's poller too, as before.
type udpSocket struct {
	// mu is held for reading while fd is in use (a read or a write) and for writing by close,
	// so that a descriptor number is never used after it was closed (and perhaps reused).
	mu sync.RWMutex
	fd int // -1 once closed

	connMu sync.Mutex
	c      *net.UDPConn
}

// listenUDP opens a non-blocking UDP socket bound to ap ("udp4" or "udp6" as network says).
func listenUDP(network string, ap netip.AddrPort) (*udpSocket, error) {
	family := unix.AF_INET
	if network == "udp6" {
		family = unix.AF_INET6
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		return nil, fmt.Errorf("media: socket: %w", err)
	}
	var sa unix.Sockaddr
	if family == unix.AF_INET6 {
		// As net.ListenUDP("udp6") does: this socket is IPv6 only.
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("media: socket: %w", err)
		}
		sa = &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
	} else {
		sa = &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("media: bind %v: %w", ap, err)
	}
	return &udpSocket{fd: fd}, nil
}

// setReadBuffer asks for a receive buffer of n bytes (the kernel caps it).
func (u *udpSocket) setReadBuffer(n int) error {
	return u.use(func(fd int) error { return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, n) })
}

// use runs f with the descriptor held open (net.ErrClosed if the socket is closed). On the
// per-packet path f is a function value bound once by the caller, so that it allocates nothing.
func (u *udpSocket) use(f func(fd int) error) error {
	u.mu.RLock()
	defer u.mu.RUnlock()
	if u.fd < 0 {
		return net.ErrClosed
	}
	return f(u.fd)
}

// writeTo sends b to dst without waiting: a full send buffer is an error (the packet is
// dropped), not a wait, as a reader serves many calls.
func (u *udpSocket) writeTo(b []byte, dst netip.AddrPort) error {
	if len(b) == 0 {
		return nil
	}
	var sa unix.RawSockaddrAny
	n := putSockaddr(&sa, dst)
	u.mu.RLock()
	defer u.mu.RUnlock()
	if u.fd < 0 {
		return net.ErrClosed
	}
	for {
		_, _, errno := unix.Syscall6(unix.SYS_SENDTO, uintptr(u.fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)),
			unix.MSG_DONTWAIT, uintptr(unsafe.Pointer(&sa)), uintptr(n))
		switch errno {
		case 0:
			return nil
		case unix.EINTR:
			continue
		}
		return errno
	}
}

// conn returns a *net.UDPConn over the socket, made on first use (on a duplicate of the
// descriptor, which Go's poller then watches); Close closes it with the socket.
func (u *udpSocket) conn() (*net.UDPConn, error) {
	u.connMu.Lock()
	defer u.connMu.Unlock()
	if u.c != nil {
		return u.c, nil
	}
	var c net.PacketConn
	err := u.use(func(fd int) error {
		// An os.File closes its descriptor when closed or collected: give it a copy.
		dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			return err
		}
		f := os.NewFile(uintptr(dup), "rtp")
		defer f.Close()
		c, err = net.FilePacketConn(f) // a descriptor of its own
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("media: socket as a net.UDPConn: %w", err)
	}
	uc, ok := c.(*net.UDPConn)
	if !ok {
		c.Close()
		return nil, errors.New("media: socket as a net.UDPConn: not UDP")
	}
	u.c = uc
	return uc, nil
}

// madeConn is the *net.UDPConn conn made, or nil.
func (u *udpSocket) madeConn() *net.UDPConn {
	u.connMu.Lock()
	defer u.connMu.Unlock()
	return u.c
}

// close closes the net.UDPConn if one was made, then the descriptor once no read or write
// uses it (closing the last descriptor of the socket also takes it out of every epoll set).
func (u *udpSocket) close() error {
	u.connMu.Lock()
	c := u.c
	u.connMu.Unlock()
	var errConn error
	if c != nil {
		errConn = c.Close()
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.fd < 0 {
		return errConn
	}
	err := unix.Close(u.fd)
	u.fd = -1
	return errors.Join(errConn, err)
}
