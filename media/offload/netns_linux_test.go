//go:build linux

package offload

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/switchboard-voip/switchboard/internal/needs"
)

// elsewhere is another machine for a test: a network namespace joined to this one by a veth
// pair, this side at host and the other at peer, in a /24 of its own.
type elsewhere struct {
	ns         string
	host, peer netip.Addr
}

// newElsewhere makes one with iproute2's ip (skipping the test without it, failing it under CI),
// skipping the test where this process may not make namespaces.
func newElsewhere(t *testing.T) *elsewhere {
	t.Helper()
	ip := needs.Program(t, "iproute2", "ip")
	id := os.Getpid() % 200
	e := &elsewhere{ns: fmt.Sprintf("sbtest%d", os.Getpid()),
		host: netip.AddrFrom4([4]byte{10, 213, byte(id), 1}), peer: netip.AddrFrom4([4]byte{10, 213, byte(id), 2})}
	hostIf, peerIf := fmt.Sprintf("sbh%d", os.Getpid()), fmt.Sprintf("sbp%d", os.Getpid())
	run := func(args ...string) error {
		out, err := exec.Command(ip, args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("ip %v: %v: %s", args, err, out)
		}
		return nil
	}
	if err := run("netns", "add", e.ns); err != nil {
		t.Skip(err) // not privileged
	}
	t.Cleanup(func() {
		run("link", "del", hostIf)
		run("netns", "del", e.ns)
	})
	for _, args := range [][]string{
		{"link", "add", hostIf, "type", "veth", "peer", "name", peerIf, "netns", e.ns},
		{"addr", "add", e.host.String() + "/24", "dev", hostIf},
		{"link", "set", hostIf, "up"},
		{"-n", e.ns, "addr", "add", e.peer.String() + "/24", "dev", peerIf},
		{"-n", e.ns, "link", "set", peerIf, "up"},
	} {
		if err := run(args...); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// listen opens a UDP socket on the peer's side: a socket stays in the namespace it was made in.
func (e *elsewhere) listen(t *testing.T) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	err := func() error {
		runtime.LockOSThread()
		own, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			return err
		}
		defer own.Close()
		ns, err := os.Open("/run/netns/" + e.ns)
		if err != nil {
			runtime.UnlockOSThread()
			return err
		}
		defer ns.Close()
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			return err
		}
		c, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(e.peer, 0)))
		if unix.Setns(int(own.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread() // else the thread ends with the goroutine, in the namespace
		}
		return err
	}()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Phones on another machine: a call between two of them leaves by the interface towards them
// (to the next hop, the neighbour table giving its link address), as does a phone's of this
// machine to one of them; the other way, to a phone on this machine, stays the switch's.
func TestKernelRelaysToAndFromAnotherMachine(t *testing.T) {
	e := newElsewhere(t)
	o := open(t, e.host)
	caller, callee := e.listen(t), e.listen(t)
	a, b := listen(t, e.host), listen(t, e.host)
	if err := o.Add(addrOf(a), addrOf(caller), addrOf(b), addrOf(callee)); err != nil {
		t.Fatal(err)
	}
	for seq := range uint16(3) {
		send(t, caller, addrOf(a), rtp(seq, 160))
		expect(t, callee, addrOf(b), rtp(seq, 160))
	}

	// To a phone on this machine, the switch relays: rewritten to come from one of this
	// machine's addresses, the kernel would take it for a martian.
	for _, ip := range []string{"127.0.0.1", e.host.String()} {
		here := listen(t, netip.MustParseAddr(ip))
		if err := o.Add(addrOf(b), addrOf(callee), addrOf(a), addrOf(here)); err == nil {
			t.Errorf("%v was taken as a destination of a peer on another machine", addrOf(here))
		}
	}
	// The other way, from this machine to the other, the kernel relays.
	here := listen(t, e.host)
	if err := o.Add(addrOf(b), addrOf(here), addrOf(a), addrOf(caller)); err != nil {
		t.Fatal(err)
	}
	send(t, here, addrOf(b), rtp(7, 160))
	expect(t, caller, addrOf(a), rtp(7, 160))

	for _, s := range []*net.UDPConn{a, b} {
		if n, err := o.Counts(addrOf(s)); err != nil || n.Packets == 0 {
			t.Errorf("%v: %+v, %v", addrOf(s), n, err)
		}
	}
}
