// Package offload relays plain RTP in the kernel. A small tc program, attached to the ingress of
// the interfaces media arrives on, looks each IPv4 UDP datagram's destination up in a table of
// the switch's RTP sockets; when it comes from the phone that socket latched to, the program
// rewrites it into the datagram the switch would have sent (from the other leg's socket to the
// other leg's phone) and sends it on, so the switch is never woken for it. Anything else (another
// source, IPv6, fragments, RTCP, an unknown socket) goes on to the socket as before.
//
// This is what rtpengine's kernel module does for Kamailio, without a module: the program is
// written here instruction by instruction (cilium/ebpf's assembler) and loaded at start, which
// takes CAP_BPF and CAP_NET_ADMIN (or root). Without them Open fails and the switch relays in
// user space, as it always could.
package offload

import "errors"

// ErrUnsupported is returned by Open where the kernel cannot relay (not Linux).
var ErrUnsupported = errors.New("offload: kernel relaying needs Linux")

// Counts is what the kernel relayed for one socket, and the RTP header of the last packet.
type Counts struct {
	Packets, Bytes uint64
	// Header is the first 12 bytes of the last RTP packet relayed (version 2, not RTCP) and
	// At when it was, on CLOCK_MONOTONIC in nanoseconds; At is 0 if none was.
	Header [12]byte
	At     int64
}
