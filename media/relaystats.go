package media

import (
	"encoding/binary"
	"sync"
)

// RelayTotals are the counters of every relay on a pool of ports, summed over both directions
// and over the pool's life: the relays running now and those that have stopped. They feed the
// switch's metrics; reading them costs the packet path nothing, because each relay keeps its own
// counters (as it always has, for Stats) and the pool only adds a stopped relay's to its total,
// once, at Stop.
type RelayTotals struct {
	RTP  DirectionStats
	RTCP DirectionStats
}

// relayBook is a pool's bookkeeping of relays for RelayTotals.
type relayBook struct {
	mu      sync.Mutex
	running map[*Relay]struct{}
	ended   RelayTotals
}

// RelayTotals sums the counters of the relays on the pool's ports. It takes a lock that a
// relay's Start and Stop take too (never the packet path) and reads each running relay's
// counters: a few microseconds for thousands of calls.
func (p *Ports) RelayTotals() RelayTotals {
	b := &p.relays
	b.mu.Lock()
	defer b.mu.Unlock()
	t := b.ended
	for r := range b.running {
		t.add(r.Stats())
	}
	return t
}

// track counts r among the running relays; Relay.Start calls it.
func (b *relayBook) track(r *Relay) {
	b.mu.Lock()
	if b.running == nil {
		b.running = make(map[*Relay]struct{})
	}
	b.running[r] = struct{}{}
	b.mu.Unlock()
}

// untrack moves r's counters to the total of stopped relays, once; Relay.Stop calls it after
// the readers are gone, so the counters are final.
func (b *relayBook) untrack(r *Relay) {
	b.mu.Lock()
	if _, ok := b.running[r]; ok {
		delete(b.running, r)
		b.ended.add(r.Stats())
	}
	b.mu.Unlock()
}

func (t *RelayTotals) add(s RelayStats) {
	t.RTP.add(s.RTPAToB)
	t.RTP.add(s.RTPBToA)
	t.RTCP.add(s.RTCPAToB)
	t.RTCP.add(s.RTCPBToA)
}

func (d *DirectionStats) add(o DirectionStats) {
	d.Packets += o.Packets
	d.Bytes += o.Bytes
	d.InKernel += o.InKernel
	d.Dropped += o.Dropped
	d.Reports += o.Reports
	d.FractionLost += o.FractionLost
	d.Jitter += o.Jitter
}

// Offsets in RTCP (RFC 3550 §6.4).
const (
	rtcpSR          = 200 // sender report
	rtcpRR          = 201 // receiver report
	srBlocksAt      = 28  // header, SSRC, sender info
	rrBlocksAt      = 8   // header, SSRC
	reportBlockSize = 24
)

// readReports adds the reception report blocks of a compound RTCP packet (its SRs and RRs) to
// c: what the phone that sent it says of the stream it receives, loss (the fraction lost
// since its last report, in 1/256) and interarrival jitter (in RTP timestamp units). It reads
// the relayed packet in place and allocates nothing; a packet it cannot walk is left at the
// part it could (it is relayed all the same: the phones judge their own RTCP).
func readReports(b []byte, c *counters) {
	for len(b) >= 4 && b[0]>>6 == 2 {
		n := (int(binary.BigEndian.Uint16(b[2:])) + 1) * 4
		if n > len(b) {
			return
		}
		p := b[:n]
		at := 0
		switch p[1] {
		case rtcpSR:
			at = srBlocksAt
		case rtcpRR:
			at = rrBlocksAt
		}
		if at > 0 {
			for i := 0; i < int(p[0]&0x1f) && at+reportBlockSize <= len(p); i++ {
				blk := p[at : at+reportBlockSize]
				c.reports.Add(1)
				c.lost.Add(uint64(blk[4]))
				c.jitter.Add(uint64(binary.BigEndian.Uint32(blk[12:])))
				at += reportBlockSize
			}
		}
		b = b[n:]
	}
}
