//go:build linux

package offload

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"math/bits"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"time"
)

// localEvery is how long the machine's own addresses are trusted before they are read again.
const localEvery = 5 * time.Second

// routeTable is the kernel's IPv4 routing table as Linux shows it (tests give routeTo a file
// of their own).
const routeTable = "/proc/net/route"

// routes tells how a datagram for a destination leaves: the machine's own addresses (read
// again when older than localEvery, so that an address added later is seen) and its IPv4
// routing table. The zero value is ready.
type routes struct {
	mu    sync.Mutex
	local map[netip.Addr]bool
	read  int64 // when local was read (Unix ns)
}

// way says how a datagram from from, rewritten for dst, goes on (the entry's mode and
// interface).
func (r *routes) way(from, dst netip.Addr) (mode uint16, ifindex int, err error) {
	here, err := r.isLocal(dst)
	if err != nil {
		return 0, 0, err
	}
	if here {
		fromHere, err := r.isLocal(from)
		if err != nil {
			return 0, 0, err
		}
		if !fromHere {
			// Delivered here or looped back through lo, a datagram from outside rewritten to come
			// from one of this machine's addresses is a martian to the kernel's input routing: the
			// switch relays it.
			return 0, 0, fmt.Errorf("offload: %v from %v is the switch's to relay", dst, from)
		}
		return modeHere, 0, nil
	}
	name, err := routeTo(routeTable, dst)
	if err != nil {
		return 0, 0, err
	}
	ix, err := net.InterfaceByName(name)
	if err != nil {
		return 0, 0, fmt.Errorf("offload: route to %v: %w", dst, err)
	}
	return modeOut, ix.Index, nil
}

// isLocal reports whether a is one of this machine's addresses.
func (r *routes) isLocal(a netip.Addr) (bool, error) {
	if a.IsLoopback() {
		return true, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if now := time.Now().UnixNano(); r.local == nil || now-r.read > int64(localEvery) {
		ifaces, err := net.Interfaces()
		if err != nil {
			return false, fmt.Errorf("offload: interfaces: %w", err)
		}
		local := make(map[netip.Addr]bool)
		for _, ix := range ifaces {
			as, err := ix.Addrs()
			if err != nil {
				continue
			}
			for _, a := range as {
				if n, ok := a.(*net.IPNet); ok {
					if ip, ok := netip.AddrFromSlice(n.IP); ok {
						local[ip.Unmap()] = true
					}
				}
			}
		}
		r.local, r.read = local, now
	}
	return r.local[a], nil
}

// routeTo returns the interface the most specific usable route to dst in table (the format of
// /proc/net/route) leaves by, the lowest metric first among equals.
func routeTo(table string, dst netip.Addr) (string, error) {
	b, err := os.ReadFile(table)
	if err != nil {
		return "", fmt.Errorf("offload: routes: %w", err)
	}
	// The table prints each address as the number its bytes make in this machine's order.
	d4 := dst.As4()
	d := binary.NativeEndian.Uint32(d4[:])
	best, bestLen, bestMetric := "", -1, uint64(0)
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Scan() // the header
	for sc.Scan() {
		f := bytes.Fields(sc.Bytes())
		if len(f) < 8 {
			continue
		}
		dest, err1 := strconv.ParseUint(string(f[1]), 16, 32)
		flags, err2 := strconv.ParseUint(string(f[3]), 16, 32)
		metric, err3 := strconv.ParseUint(string(f[6]), 10, 32)
		mask, err4 := strconv.ParseUint(string(f[7]), 16, 32)
		if err1 != nil || err2 != nil || err3 != nil || err4 != nil {
			continue
		}
		const up, reject = 0x1, 0x200
		if flags&up == 0 || flags&reject != 0 || d&uint32(mask) != uint32(dest) {
			continue
		}
		n := bits.OnesCount32(uint32(mask))
		if n > bestLen || n == bestLen && metric < bestMetric {
			best, bestLen, bestMetric = string(f[0]), n, metric
		}
	}
	if best == "" {
		return "", fmt.Errorf("offload: no route to %v", dst)
	}
	return best, nil
}
