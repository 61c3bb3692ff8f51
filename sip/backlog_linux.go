//go:build linux

package sip

import (
	"net"
	"unsafe"

	"golang.org/x/sys/unix"
)

// queuedBytes is what waits unread in conn's receive queue, in the kernel's accounting (each
// datagram with its buffer overhead: about twice its size), from SO_MEMINFO: one system call,
// where /proc/net/udp lists every socket of the machine (thousands of media sockets).
func queuedBytes(conn *net.UDPConn) (int, bool) {
	raw, err := conn.SyscallConn()
	if err != nil {
		return 0, false
	}
	var mem [unix.SK_MEMINFO_VARS]uint32
	ok := false
	if err := raw.Control(func(fd uintptr) {
		size := uint32(unsafe.Sizeof(mem))
		_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, fd, unix.SOL_SOCKET, unix.SO_MEMINFO,
			uintptr(unsafe.Pointer(&mem[0])), uintptr(unsafe.Pointer(&size)), 0)
		ok = errno == 0
	}); err != nil || !ok {
		return 0, false
	}
	return int(mem[unix.SK_MEMINFO_RMEM_ALLOC]), true
}
