//go:build linux

package offload

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// key is one of the switch's RTP sockets, its address and port as they are on the wire.
type key struct {
	Addr [4]byte
	Port [2]byte
	_    [2]byte
}

// entry is what the program does with a datagram for a key; program_linux.go reads it by the
// offsets there.
type entry struct {
	From     [4]byte // the peer the socket latched to: only its datagrams are relayed
	FromPort [2]byte
	Mode     uint16  // modeHere or modeOut
	Src      [4]byte // the other leg's socket
	SrcPort  [2]byte
	_        [2]byte
	Dst      [4]byte // the other leg's peer
	DstPort  [2]byte
	_        [2]byte
	Ifindex  uint32 // modeOut: the interface the route to Dst leaves by
	_        uint32
	Packets  uint64
	Bytes    uint64
	Header   [12]byte
	_        uint32
	At       uint64
}

// How a rewritten datagram goes on.
const (
	// modeHere delivers it on this machine, where it already is: it came in through lo, from a
	// peer on this machine, for a peer on this machine.
	modeHere = 0
	// modeOut sends it out of Ifindex to the next hop towards Dst.
	modeOut = 1
)

// Offload is the loaded program, its table and its attachments. Its methods are safe for
// concurrent use.
type Offload struct {
	m      *ebpf.Map
	prog   *ebpf.Program
	links  []link.Link
	routes routes
}

// Open loads the program with a table of size sockets and attaches it to the ingress of the
// interfaces datagrams for addr (the switch's IPv4 media address) arrive on: lo, and the
// interface that holds addr (every Ethernet one if addr is unspecified). It fails without the
// privileges to do so (CAP_BPF and CAP_NET_ADMIN), for an IPv6 address, or if the kernel lacks
// tcx (Linux 6.6).
func Open(addr netip.Addr, size int) (*Offload, error) {
	if !addr.Is4() {
		return nil, fmt.Errorf("offload: %v is not an IPv4 address", addr)
	}
	ifaces, err := ingress(addr)
	if err != nil {
		return nil, err
	}
	m, err := ebpf.NewMap(&ebpf.MapSpec{Name: "switchboard_rtp", Type: ebpf.Hash,
		KeySize: 8, ValueSize: 72, MaxEntries: uint32(max(size, 1))})
	if err != nil {
		return nil, fmt.Errorf("offload: create table: %w", err)
	}
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Name: "switchboard_rtp", Type: ebpf.SchedCLS,
		License: "Switchboard", Instructions: program(m.FD())})
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("offload: load program: %w", err)
	}
	o := &Offload{m: m, prog: prog}
	for _, ix := range ifaces {
		l, err := link.AttachTCX(link.TCXOptions{Interface: ix.Index, Program: prog, Attach: ebpf.AttachTCXIngress})
		if err != nil {
			o.Close()
			return nil, fmt.Errorf("offload: attach to %s: %w", ix.Name, err)
		}
		o.links = append(o.links, l)
	}
	return o, nil
}

// ingress lists the interfaces datagrams for addr arrive on.
func ingress(addr netip.Addr) ([]net.Interface, error) {
	all, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("offload: interfaces: %w", err)
	}
	var out []net.Interface
	for _, ix := range all {
		switch {
		case ix.Flags&net.FlagLoopback != 0:
			out = append(out, ix) // this machine's own traffic, whatever the address
		case addr.IsLoopback() || ix.Flags&net.FlagUp == 0 || len(ix.HardwareAddr) != 6:
			// Not where addr's datagrams come from, or not framed as the program reads.
		case addr.IsUnspecified() || holds(ix, addr):
			out = append(out, ix)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("offload: no loopback interface")
	}
	return out, nil
}

func holds(ix net.Interface, addr netip.Addr) bool {
	as, err := ix.Addrs()
	if err != nil {
		return false
	}
	for _, a := range as {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok && ip.Unmap() == addr {
				return true
			}
		}
	}
	return false
}

// Close detaches the program and frees it and its table.
func (o *Offload) Close() error {
	var errs []error
	for _, l := range o.links {
		errs = append(errs, l.Close())
	}
	errs = append(errs, o.prog.Close(), o.m.Close())
	return errors.Join(errs...)
}

func keyOf(ap netip.AddrPort) key {
	return key{Addr: ap.Addr().As4(), Port: port(ap)}
}

func port(ap netip.AddrPort) [2]byte { return [2]byte{byte(ap.Port() >> 8), byte(ap.Port())} }

// Add relays in the kernel what reaches local (a socket of the switch) from from as a datagram
// from src (the switch's socket of the other leg) to dst, replacing what local relayed before
// (its counts start again). All four are IPv4. It fails when no route leads to dst, when dst is
// on this machine and from is not (the kernel's input routing would take the rewritten datagram,
// from one of this machine's addresses, for a martian), or when the table is full.
func (o *Offload) Add(local, from, src, dst netip.AddrPort) error {
	for _, ap := range []netip.AddrPort{local, from, src, dst} {
		if !ap.Addr().Is4() {
			return fmt.Errorf("offload: %v is not IPv4", ap)
		}
	}
	e := entry{From: from.Addr().As4(), FromPort: port(from), Src: src.Addr().As4(), SrcPort: port(src),
		Dst: dst.Addr().As4(), DstPort: port(dst)}
	mode, ifindex, err := o.routes.way(from.Addr(), dst.Addr())
	if err != nil {
		return err
	}
	e.Mode, e.Ifindex = mode, uint32(ifindex)
	if err := o.m.Put(keyOf(local), e); err != nil {
		return fmt.Errorf("offload: relay %v: %w", local, err)
	}
	return nil
}

// Remove stops relaying local in the kernel and returns what it relayed. A datagram being
// relayed meanwhile on another CPU may be missing from the counts.
func (o *Offload) Remove(local netip.AddrPort) (Counts, error) {
	var e entry
	if err := o.m.LookupAndDelete(keyOf(local), &e); err != nil {
		return Counts{}, fmt.Errorf("offload: stop relaying %v: %w", local, err)
	}
	return e.counts(), nil
}

// Counts returns what the kernel has relayed for local so far.
func (o *Offload) Counts(local netip.AddrPort) (Counts, error) {
	var e entry
	if err := o.m.Lookup(keyOf(local), &e); err != nil {
		return Counts{}, fmt.Errorf("offload: counts of %v: %w", local, err)
	}
	return e.counts(), nil
}

func (e *entry) counts() Counts {
	return Counts{Packets: e.Packets, Bytes: e.Bytes, Header: e.Header, At: int64(e.At)}
}

// Since is how long ago a Counts' At was.
func Since(at int64) time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano() - at)
}
