//go:build !linux

package sip

import "net"

// queuedBytes is not known on this system: the backlog is not watched.
func queuedBytes(*net.UDPConn) (int, bool) { return 0, false }
