//go:build linux

package media

import (
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// sendBatch sends what one read of a socket yielded out of the relay's other socket with one
// sendmmsg instead of a sendto per packet. All of a read's packets go out of the same socket
// to the same address, and a reader that falls behind finds many in each socket: at 1,600
// streaming calls on this project's two-CPU box a read held 21 packets on average (11,051
// recvmmsg for 238,119 sendto in 3 s), and the system calls' own cost is what a busy machine
// has least of (a third of the time of a sendto there was entering and leaving the kernel).
// The batch gets bigger exactly when the machine is busiest; a read of one packet goes out
// with a plain sendto as before.
//
// A full send buffer (EAGAIN) drops the rest of the batch instead of waiting for room: a
// reader serves many calls and must not stop for one peer's.
type sendBatch struct {
	n int // packets queued

	// msgs point into iovs and dst, set up once (the batch does not move: it is part of the
	// worker, on the heap).
	msgs [pollBurst]mmsghdr
	iovs [pollBurst]unix.Iovec
	dst  unix.RawSockaddrAny
	pkts [pollBurst][]byte
	nows [pollBurst]int64
	ok   [pollBurst]bool

	send func(fd int) error // sendFD, bound once so that sending allocates nothing
	// calls counts sendmmsg calls, for tests.
	calls int
}

func (b *sendBatch) init() {
	for i := range b.msgs {
		b.msgs[i].hdr.Name = (*byte)(unsafe.Pointer(&b.dst))
		b.msgs[i].hdr.Iov = &b.iovs[i]
		b.msgs[i].hdr.SetIovlen(1)
	}
	b.send = b.sendFD
}

// relay sends the n datagrams a reader just read into bufs (from froms, lengths in msgs) on
// along f.
func (b *sendBatch) relay(f *flow, bufs *[pollBurst][relayBufSize]byte, msgs *[pollBurst]mmsghdr, froms *[pollBurst]unix.RawSockaddrAny, n int) {
	out := f.out
	dst := out.remote.Load()
	if n == 1 || out.cipher.Load() != nil || out.mute.Load() || dst == nil {
		// One packet, or one the socket's own send must handle (sealing, or dropping).
		for i := range n {
			f.packet(bufs[i][:], int(msgs[i].n), sourceOf(&froms[i]))
		}
		return
	}
	namelen := putSockaddr(&b.dst, *dst)
	b.n = 0
	for i := range n {
		pkt, now, ok := f.prepare(bufs[i][:], int(msgs[i].n), sourceOf(&froms[i]))
		if !ok {
			continue
		}
		j := b.n
		b.pkts[j], b.nows[j], b.ok[j] = pkt, now, false
		b.iovs[j].Base = &pkt[0]
		b.iovs[j].SetLen(len(pkt))
		b.msgs[j].hdr.Namelen = namelen
		b.n++
	}
	if b.n > 0 {
		_ = out.udp.use(b.send) // a closed socket: nothing was sent, all are dropped
	}
	for j := range b.n {
		f.sent(b.pkts[j], b.nows[j], b.ok[j])
	}
}

// sendFD sends the queued packets, marking each that went out. A packet the kernel refuses
// is dropped and the next one tried (an ICMP error surfacing on a send concerns one packet);
// a full buffer drops the rest. It never asks to wait for the socket to be writable.
func (b *sendBatch) sendFD(fd int) error {
	b.calls++
	for i := 0; i < b.n; {
		r, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(fd), uintptr(unsafe.Pointer(&b.msgs[i])), uintptr(b.n-i),
			unix.MSG_DONTWAIT, 0, 0)
		switch errno {
		case 0:
			for k := range int(r) {
				b.ok[i+k] = true
			}
			i += int(r)
		case unix.EINTR:
		case unix.EAGAIN:
			return nil
		default:
			i++
		}
	}
	return nil
}

// putSockaddr writes ap into sa as the kernel takes it and returns its length.
func putSockaddr(sa *unix.RawSockaddrAny, ap netip.AddrPort) uint32 {
	port := ap.Port()
	if a := ap.Addr(); a.Is4() {
		in := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		*in = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: a.As4()}
		p := (*[2]byte)(unsafe.Pointer(&in.Port))
		p[0], p[1] = byte(port>>8), byte(port)
		return unix.SizeofSockaddrInet4
	}
	in := (*unix.RawSockaddrInet6)(unsafe.Pointer(sa))
	*in = unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: ap.Addr().As16()}
	p := (*[2]byte)(unsafe.Pointer(&in.Port))
	p[0], p[1] = byte(port>>8), byte(port)
	return unix.SizeofSockaddrInet6
}
