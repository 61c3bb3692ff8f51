//go:build !linux

package offload

import (
	"net/netip"
	"time"
)

// Offload is unavailable here: Open fails with ErrUnsupported.
type Offload struct{}

// Open fails: only Linux relays in the kernel.
func Open(netip.Addr, int) (*Offload, error) { return nil, ErrUnsupported }

// Add is never called without an Offload.
func (*Offload) Add(local, from, src, dst netip.AddrPort) error { return ErrUnsupported }

// Remove is never called without an Offload.
func (*Offload) Remove(netip.AddrPort) (Counts, error) { return Counts{}, ErrUnsupported }

// Counts is never called without an Offload.
func (*Offload) Counts(netip.AddrPort) (Counts, error) { return Counts{}, ErrUnsupported }

// Close does nothing.
func (*Offload) Close() error { return nil }

// Since is never called without an Offload.
func Since(int64) time.Duration { return 0 }
