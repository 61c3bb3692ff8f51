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
// Packets of one size (a stream's: G.711 is 172 bytes every 20 ms) go out as one segmented
// datagram (UDP_SEGMENT, "UDP GSO"): the kernel takes them through its IP and device layers
// once and cuts them into the datagrams the peer receives at the last moment (the network card,
// or on loopback the receiving socket). sendmmsg spares the system calls; the segments spare
// the kernel's per-datagram route, output and (on loopback) input path, which is most of what
// relaying costs the switch. BenchmarkSendBatch, the sender's time per 172-byte packet on
// loopback (delivery into the receiver's socket included): runs of 4 3.6–3.7 → 2.9–3.0 µs, of 8
// 3.8 → 1.7 µs, of 16 2.9 → 1.2 µs. A run of equal sizes may end with one shorter packet (the
// kernel's rule); another size starts a new datagram in the same sendmmsg, and runs shorter
// than minSegments (and empty datagrams) go as datagrams of their own. Where the route cannot
// take segmented datagrams (no checksum offload: EIO; a segment larger than the path's MTU:
// EINVAL) the packets go out one by one at once and the leg stops segmenting.
//
// A full send buffer (EAGAIN) drops the rest of the batch instead of waiting for room: a
// reader serves many calls and must not stop for one peer's.
type sendBatch struct {
	n int // packets queued
	m int // messages built from them

	// msgs point into dst (set once) and into iovs (a run of consecutive packets each) and ctrl,
	// set as the batch is built (the batch does not move: it is part of the worker, on the heap).
	msgs  [pollBurst]mmsghdr
	ctrl  [pollBurst]segmentControl // a message's UDP_SEGMENT
	first [pollBurst]uint8          // a message's first packet
	segs  [pollBurst]uint8          // how many packets a message carries
	iovs  [pollBurst]unix.Iovec     // one a packet
	dst   unix.RawSockaddrAny
	// namelen is dst's length for this batch's address.
	namelen uint32
	pkts    [pollBurst][]byte
	nows    [pollBurst]int64
	ok      [pollBurst]bool

	// gso: the kernel takes UDP_SEGMENT (Linux 4.18 and later; an older one would ignore the
	// option and send a run as one datagram, so it is asked first). refused is set by a send
	// whose segmented datagram the route did not take.
	gso, refused bool

	send func(fd int) error // sendFD, bound once so that sending allocates nothing
	// sendmmsg is the system call; tests replace it to refuse segmented datagrams.
	sendmmsg func(fd int, msgs *mmsghdr, n int) (int, unix.Errno)
	// calls counts sendmmsg calls and segmented the datagrams sent segmented, for tests.
	calls, segmented int
}

// segmentControl is the control message that makes a datagram segmented: UDP_SEGMENT and the
// segments' size. The size sits right after the header, where the kernel looks (CMSG_DATA: the
// header is a multiple of the alignment on 32- and 64-bit Linux), and the struct is aligned as
// the header must be.
type segmentControl struct {
	h    unix.Cmsghdr
	size uint16
	_    [6]byte // up to CMSG_SPACE(2)
}

const (
	// maxSegmentedBytes is the most one segmented datagram may carry: what one IPv4 datagram
	// can (the kernel's limit for the whole run, before it is cut).
	maxSegmentedBytes = 65507
	// maxSegments is the kernel's limit on segments per datagram in its first version (64).
	maxSegments = 64
	// minSegments is the shortest run worth segmenting: cutting the datagram up again has a
	// cost of its own (BenchmarkSendBatch, per 172-byte packet: runs of 2 3.8–4.3 µs as
	// datagrams, 3.7–4.5 segmented; of 3 3.3–3.4 and 3.3; of 4 3.6–3.7 and 2.9–3.0; of 8 3.8
	// and 1.7).
	minSegments = 4
)

func (b *sendBatch) init() {
	for i := range b.msgs {
		b.msgs[i].hdr.Name = (*byte)(unsafe.Pointer(&b.dst))
		c := &b.ctrl[i].h
		c.Level, c.Type = unix.SOL_UDP, unix.UDP_SEGMENT
		c.SetLen(unix.CmsgLen(2))
	}
	b.send = b.sendFD
	b.sendmmsg = sendmmsg
	b.gso = gsoAvailable()
}

// sendmmsg sends n messages from msgs without waiting and returns how many went out.
func sendmmsg(fd int, msgs *mmsghdr, n int) (int, unix.Errno) {
	r, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(fd), uintptr(unsafe.Pointer(msgs)), uintptr(n),
		unix.MSG_DONTWAIT, 0, 0)
	return int(r), errno
}

// gsoAvailable reports whether the kernel segments UDP datagrams (UDP_SEGMENT).
func gsoAvailable() bool {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	_, err = unix.GetsockoptInt(fd, unix.SOL_UDP, unix.UDP_SEGMENT)
	return err == nil
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
	b.namelen = putSockaddr(&b.dst, *dst)
	b.n = 0
	for i := range n {
		pkt, now, ok := f.prepare(bufs[i][:], int(msgs[i].n), sourceOf(&froms[i]))
		if !ok {
			continue
		}
		j := b.n
		b.pkts[j], b.nows[j], b.ok[j] = pkt, now, false
		b.iovs[j].Base = unsafe.SliceData(pkt) // an empty datagram too: pkt is a prefix of the buffer
		b.iovs[j].SetLen(len(pkt))
		b.n++
	}
	if b.n > 0 {
		b.m, b.refused = 0, false
		b.pack(0, b.gso && !out.unsegmented.Load())
		_ = out.udp.use(b.send) // a closed socket: nothing was sent, all are dropped
		if b.refused {
			out.unsegmented.Store(true)
		}
	}
	for j := range b.n {
		f.sent(b.pkts[j], b.nows[j], b.ok[j])
	}
}

// pack builds messages from packet from on, after the b.m built: with segment, each run of
// minSegments or more packets of one size (and one shorter packet ending it) is one segmented
// datagram; every other packet is a message of its own.
func (b *sendBatch) pack(from int, segment bool) {
	for i := from; i < b.n; {
		size := len(b.pkts[i])
		k, total := 1, size
		for segment && size > 0 && i+k < b.n && k < maxSegments {
			next := len(b.pkts[i+k])
			if next > size || next == 0 || total+next > maxSegmentedBytes { // an empty segment is no datagram
				break
			}
			total += next
			k++
			if next < size {
				break
			}
		}
		if k < minSegments {
			for range k {
				b.message(i, 1)
				i++
			}
			continue
		}
		c := &b.ctrl[b.m] // its header is set once (init)
		c.size = uint16(size)
		msg := b.message(i, k)
		msg.hdr.Control = (*byte)(unsafe.Pointer(c))
		msg.hdr.SetControllen(unix.CmsgSpace(2))
		i += k
	}
}

// message builds the next message: k packets from packet first on, as one datagram.
func (b *sendBatch) message(first, k int) *mmsghdr {
	msg := &b.msgs[b.m]
	msg.hdr.Namelen = b.namelen
	msg.hdr.Iov = &b.iovs[first]
	msg.hdr.SetIovlen(k)
	msg.hdr.Control = nil
	msg.hdr.SetControllen(0)
	b.first[b.m], b.segs[b.m] = uint8(first), uint8(k)
	b.m++
	return msg
}

// sendFD sends the built messages, marking each packet that went out. A message the kernel
// refuses is dropped and the next one tried (an ICMP error surfacing on a send concerns one
// packet); a segmented one the route cannot take is sent again packet by packet; a full
// buffer drops the rest. It never asks to wait for the socket to be writable.
func (b *sendBatch) sendFD(fd int) error {
	for j := 0; j < b.m; {
		b.calls++
		r, errno := b.sendmmsg(fd, &b.msgs[j], b.m-j)
		switch errno {
		case 0:
			for k := j; k < j+r; k++ {
				first, segs := int(b.first[k]), int(b.segs[k])
				for p := first; p < first+segs; p++ {
					b.ok[p] = true
				}
				if segs > 1 {
					b.segmented++
				}
			}
			j += r
		case unix.EINTR:
		case unix.EAGAIN:
			return nil
		default:
			if b.segs[j] > 1 && segmentsRefused(errno) {
				b.refused = true
				b.m = j
				b.pack(int(b.first[j]), false)
				continue
			}
			j++
		}
	}
	return nil
}

// segmentsRefused reports whether a send failed because the datagram was segmented: the
// device cannot checksum it (EIO), a segment does not fit the path's MTU (EINVAL), or the
// kernel does not know the option.
func segmentsRefused(errno unix.Errno) bool {
	switch errno {
	case unix.EIO, unix.EINVAL, unix.EMSGSIZE, unix.ENOPROTOOPT, unix.EOPNOTSUPP:
		return true
	}
	return false
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
