//go:build !linux

package media

import (
	"net"
	"net/netip"
)

// udpSocket is an RTP or RTCP socket: without epoll readers (Linux's, udpsocket_linux.go)
// every use goes through a *net.UDPConn.
type udpSocket struct{ c *net.UDPConn }

func listenUDP(network string, ap netip.AddrPort) (*udpSocket, error) {
	c, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(ap))
	if err != nil {
		return nil, err
	}
	return &udpSocket{c: c}, nil
}

func (u *udpSocket) setReadBuffer(n int) error { return u.c.SetReadBuffer(n) }

func (u *udpSocket) writeTo(b []byte, dst netip.AddrPort) error {
	_, err := u.c.WriteToUDPAddrPort(b, dst)
	return err
}

func (u *udpSocket) conn() (*net.UDPConn, error) { return u.c, nil }

func (u *udpSocket) madeConn() *net.UDPConn { return u.c }

func (u *udpSocket) close() error { return u.c.Close() }
