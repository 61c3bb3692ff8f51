package media

import (
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/switchboard-voip/switchboard/media/offload"
)

// RelayInKernel makes the pool's relays hand their plain RTP to the kernel (package offload):
// once a relay direction has a packet from its phone, its phone's next packets are rewritten
// and sent on by the kernel without waking the switch, until anything about the direction
// changes (a new address, hold, SRTP keys, a Continue, the phone sending from elsewhere) or the
// relay stops; the switch then relays again until it can hand the direction over again. RTCP,
// SRTP, IPv6 and a phone on this machine reached from outside stay the switch's. It fails, and
// relays go on as before, where the kernel cannot (not Linux, no CAP_BPF and CAP_NET_ADMIN, a
// kernel before 6.6). Call it before the first relay starts.
func (p *Ports) RelayInKernel() error {
	o, err := offload.Open(p.addr, len(p.used))
	if err != nil {
		return fmt.Errorf("media: relay in the kernel: %w", err)
	}
	p.kernel = o
	return nil
}

// kernelFlow is a relay direction's part in the kernel: whether the kernel relays it now, from
// which source, and the numbering of the last RTP it relayed. The counts of what the kernel
// relayed go to the direction's counters when it stops (withdraw).
type kernelFlow struct {
	off *offload.Offload
	// on and refused are read without the lock on the packet path.
	on      atomic.Bool // the kernel relays the direction now
	refused atomic.Bool // the kernel would not take it: do not ask again until a change

	mu     sync.Mutex
	from   netip.AddrPort // the source the kernel takes
	closed bool           // the relay is ending: never again
	// last is the numbering of the last RTP the kernel sent (a Numbering's at is mono()).
	last Numbering
}

// handOver gives the direction to the kernel if it can take it: called with each packet the
// switch relays from src, after latching. A packet that reaches the switch while the kernel
// relays the direction came before the kernel took it, or from another source: then the
// kernel's part is withdrawn and handed over again for the new source.
func (f *flow) handOver(src netip.AddrPort) {
	k := f.k
	if k.refused.Load() || !f.plain() {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed || (k.on.Load() && src == k.from) {
		return
	}
	f.withdrawLocked()
	dst := f.out.remote.Load()
	if !f.plain() || dst == nil { // checked again under the lock: a change withdraws under it
		return
	}
	if err := k.off.Add(f.in.local, src, f.out.local, *dst); err != nil {
		k.refused.Store(true)
		return
	}
	k.from = src
	k.on.Store(true)
}

// plain reports whether the direction's RTP goes on unchanged: no SRTP on either side, no
// stream continued into it, the far side not on hold.
func (f *flow) plain() bool {
	return f.in.cipher.Load() == nil && f.out.cipher.Load() == nil && !f.out.mute.Load() &&
		f.cont.Load() == nil
}

// withdraw takes the direction back from the kernel after a change, or for good when the relay
// ends (final). A later packet hands it over again unless final.
func (f *flow) withdraw(final bool) {
	k := f.k
	k.mu.Lock()
	defer k.mu.Unlock()
	if final {
		k.closed = true
	}
	k.refused.Store(false) // a change may have made it possible
	f.withdrawLocked()
}

func (f *flow) withdrawLocked() {
	k := f.k
	if !k.on.Load() {
		return
	}
	k.on.Store(false)
	c, err := k.off.Remove(f.in.local)
	if err != nil {
		return
	}
	f.c.packets.Add(c.Packets)
	f.c.bytes.Add(c.Bytes)
	f.c.kernel.Add(c.Packets)
	if c.At == 0 {
		return
	}
	if at := mono() - int64(offload.Since(c.At)); at > k.last.at {
		k.last = numberingOf(c.Header[:], max(at, 1))
	}
}

// inKernel returns what the kernel has relayed of the direction and not yet given back.
func (f *flow) inKernel() (packets, bytes uint64) {
	k := f.k
	if k == nil || !k.on.Load() {
		return 0, 0
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.on.Load() {
		return 0, 0
	}
	c, err := k.off.Counts(f.in.local)
	if err != nil {
		return 0, 0
	}
	return c.Packets, c.Bytes
}

// lastInKernel is the numbering of the last RTP the kernel sent for the direction.
func (f *flow) lastInKernel() Numbering {
	k := f.k
	if k == nil {
		return Numbering{}
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.last
}
