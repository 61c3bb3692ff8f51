package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// sipCapture records the datagrams sent on the loopback interface to or from a few UDP ports,
// each with the time the kernel put it on the interface, which is when its sender's sendto ran:
// a server's share of a call's set-up is then the time between what it was sent and what it
// sent back, whoever was slow to read or to run. A kernel filter keeps every other datagram (the
// load's audio and signalling) out of it. It needs CAP_NET_RAW.
type sipCapture struct {
	f    *os.File
	done chan struct{}

	mu   sync.Mutex
	pkts []capturedDatagram
}

// startSIPCapture captures what is sent on lo to or from ports (IPv4 UDP), until close.
func startSIPCapture(ports []int) (*sipCapture, error) {
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		return nil, err
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_IP)))
	if err != nil {
		return nil, fmt.Errorf("packet socket: %w", err)
	}
	prog, err := bpf.Assemble(portFilter(ports))
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: (*unix.SockFilter)(unsafe.Pointer(&prog[0]))}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fprog); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("packet filter: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("timestamps: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_IP), Ifindex: lo.Index}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("bind to lo: %w", err)
	}
	c := &sipCapture{f: os.NewFile(uintptr(fd), "sip-capture"), done: make(chan struct{})}
	raw, err := c.f.SyscallConn()
	if err != nil {
		c.f.Close()
		return nil, err
	}
	go c.read(raw)
	return c, nil
}

// portFilter accepts IPv4 UDP datagrams (unfragmented) from or to one of ports as they arrive
// (on lo, within the sender's sendto; a socket bound to all protocols would see them leave too).
// Jumps count the instructions skipped: drop is at 9+2n, accept at 10+2n, so n may be 124 at
// most (a jump skips 255); the probe has four.
func portFilter(ports []int) []bpf.Instruction {
	n := len(ports)
	prog := []bpf.Instruction{
		bpf.LoadExtension{Num: bpf.ExtType},                                               // 0
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.PACKET_HOST, SkipFalse: uint8(7 + 2*n)}, // 1
		bpf.LoadAbsolute{Off: 9, Size: 1},                                                 // 2: protocol
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.IPPROTO_UDP, SkipFalse: uint8(5 + 2*n)}, // 3
		bpf.LoadAbsolute{Off: 6, Size: 2},                                                 // 4: fragment
		bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: 0x1fff, SkipTrue: uint8(3 + 2*n)},          // 5
		bpf.LoadMemShift{Off: 0},                                                          // 6: X = IP header length
		bpf.LoadIndirect{Off: 0, Size: 2},                                                 // 7: source port
	}
	for i, p := range ports { // 8+i
		prog = append(prog, bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(p), SkipTrue: uint8(1 + 2*n - i)})
	}
	prog = append(prog, bpf.LoadIndirect{Off: 2, Size: 2}) // 8+n: destination port
	for i, p := range ports {                              // 9+n+i
		prog = append(prog, bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(p), SkipTrue: uint8(n - i)})
	}
	return append(prog, bpf.RetConstant{Val: 0}, bpf.RetConstant{Val: 65535})
}

// read takes the datagrams the filter let through until the socket is closed.
func (c *sipCapture) read(raw syscall.RawConn) {
	defer close(c.done)
	buf := make([]byte, 65536)
	oob := make([]byte, 128)
	for {
		var n, oobn int
		var err error
		if rerr := raw.Read(func(fd uintptr) bool {
			n, oobn, _, _, err = unix.Recvmsg(int(fd), buf, oob, unix.MSG_DONTWAIT)
			return !errors.Is(err, unix.EAGAIN)
		}); rerr != nil {
			return // closed
		}
		if err != nil {
			continue
		}
		at := time.Now()
		if msgs, perr := unix.ParseSocketControlMessage(oob[:oobn]); perr == nil {
			for _, m := range msgs {
				if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SO_TIMESTAMPNS && len(m.Data) >= int(unsafe.Sizeof(unix.Timespec{})) {
					ts := *(*unix.Timespec)(unsafe.Pointer(&m.Data[0]))
					at = time.Unix(ts.Unix())
				}
			}
		}
		d, ok := parseIPv4UDP(buf[:n])
		if !ok {
			continue
		}
		d.at = at
		c.mu.Lock()
		c.pkts = append(c.pkts, d)
		c.mu.Unlock()
	}
}

// parseIPv4UDP takes an IPv4 packet apart into its UDP ports and payload (copied).
func parseIPv4UDP(p []byte) (capturedDatagram, bool) {
	if len(p) < 20 || p[0]>>4 != 4 {
		return capturedDatagram{}, false
	}
	ihl := int(p[0]&0x0f) * 4
	if len(p) < ihl+8 {
		return capturedDatagram{}, false
	}
	u := p[ihl:]
	return capturedDatagram{src: int(u[0])<<8 | int(u[1]), dst: int(u[2])<<8 | int(u[3]), payload: append([]byte(nil), u[8:]...)}, true
}

// take returns what was captured since the last take.
func (c *sipCapture) take() []capturedDatagram {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.pkts
	c.pkts = nil
	return p
}

func (c *sipCapture) close() {
	c.f.Close()
	<-c.done
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// The capture sees each datagram to or from its ports once, as it is sent, with the kernel's
// time, and nothing of other ports.
func TestSIPCaptureSeesItsPortsOnly(t *testing.T) {
	open := func() *net.UDPConn {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	a, b, other := open(), open(), open()
	port := func(c *net.UDPConn) int { return c.LocalAddr().(*net.UDPAddr).Port }
	c, err := startSIPCapture([]int{port(a)})
	if errors.Is(err, unix.EPERM) {
		t.Skip("capturing needs CAP_NET_RAW:", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	before := time.Now()
	send := func(from, to *net.UDPConn, msg string) {
		if _, err := from.WriteToUDP([]byte(msg), to.LocalAddr().(*net.UDPAddr)); err != nil {
			t.Fatal(err)
		}
	}
	send(other, b, "not mine")
	send(a, b, "from a")
	send(other, a, "to a") // the filter looks at both ports
	send(b, other, "not mine either")
	send(b, a, "end") // arrives after all the others: the kernel delivers in order here
	var got []capturedDatagram
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if got = append(got, c.take()...); len(got) > 0 && string(got[len(got)-1].payload) == "end" {
			break
		}
	}
	if len(got) != 3 || string(got[0].payload) != "from a" || got[0].src != port(a) || got[0].dst != port(b) ||
		string(got[1].payload) != "to a" || got[1].src != port(other) || got[1].dst != port(a) || string(got[2].payload) != "end" {
		t.Fatalf("captured %+v, want a→b, other→a and b→a only", got)
	}
	if got[0].at.Before(before.Add(-time.Second)) || got[1].at.Before(got[0].at) {
		t.Errorf("times %v, %v: want the kernel's, in order, after %v", got[0].at, got[1].at, before)
	}
}
