// Package udpstat reads the kernel's UDP counters, for load tests and benchmarks that must tell
// datagrams lost in a socket's receive buffer from datagrams never sent.
package udpstat

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// ReceiveDrops is the host's count of UDP datagrams dropped because a socket's receive buffer
// was full (RcvbufErrors in /proc/net/snmp): every process's sockets, so on an idle host a
// test's own. It fails where there is no /proc (not Linux).
func ReceiveDrops() (int64, error) {
	data, err := os.ReadFile("/proc/net/snmp")
	if err != nil {
		return 0, fmt.Errorf("udp receive drops: %w", err)
	}
	var names []string
	for line := range strings.SplitSeq(string(data), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 || fields[0] != "Udp:" {
			continue
		}
		if names == nil {
			names = fields
			continue
		}
		for i, name := range names {
			if name == "RcvbufErrors" && i < len(fields) {
				n, err := strconv.ParseInt(fields[i], 10, 64)
				if err != nil {
					return 0, fmt.Errorf("udp receive drops: %w", err)
				}
				return n, nil
			}
		}
	}
	return 0, errors.New("udp receive drops: no RcvbufErrors in /proc/net/snmp")
}

// Socket is what the kernel reports of one UDP socket.
type Socket struct {
	// Drops is the datagrams dropped for a full receive buffer since the socket was opened.
	Drops int64
	// Queued is the memory the datagrams waiting to be read take (the rx_queue column: the
	// kernel's accounting of each datagram's buffer, several times its payload), in bytes.
	Queued int64
}

// Sockets returns, by socket inode, the UDP sockets the given processes hold (/proc/net/udp and
// udp6, for the socket inodes among each process's open files): what a server lost to full
// receive buffers and what waits in them, apart from other programs on the host. A closed
// socket's counts are gone with it, so a caller that wants a total over a while samples often
// and keeps the last counts seen of each socket.
func Sockets(pids ...int) (map[string]Socket, error) {
	inodes := make(map[string]bool)
	for _, pid := range pids {
		dir := fmt.Sprintf("/proc/%d/fd", pid)
		fds, err := os.ReadDir(dir)
		if err != nil {
			return nil, fmt.Errorf("udp sockets: %w", err)
		}
		for _, fd := range fds {
			target, err := os.Readlink(dir + "/" + fd.Name())
			if err != nil {
				continue // closed meanwhile
			}
			if inode, ok := strings.CutPrefix(target, "socket:["); ok {
				inodes[strings.TrimSuffix(inode, "]")] = true
			}
		}
	}
	socks := make(map[string]Socket)
	for _, table := range []string{"/proc/net/udp", "/proc/net/udp6"} {
		data, err := os.ReadFile(table)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			return nil, fmt.Errorf("udp sockets: %w", err)
		}
		for line := range strings.SplitSeq(string(data), "\n") {
			// sl local rem st tx:rx tr:when retrnsmt uid timeout inode ref pointer drops
			f := strings.Fields(line)
			if len(f) < 13 || !inodes[f[9]] {
				continue
			}
			drops, err := strconv.ParseInt(f[12], 10, 64)
			if err != nil {
				return nil, fmt.Errorf("udp sockets: %s: %w", table, err)
			}
			_, rx, _ := strings.Cut(f[4], ":")
			queued, err := strconv.ParseInt(rx, 16, 64)
			if err != nil {
				return nil, fmt.Errorf("udp sockets: %s: %w", table, err)
			}
			socks[f[9]] = Socket{Drops: drops, Queued: queued}
		}
	}
	return socks, nil
}
