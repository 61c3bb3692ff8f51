package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"

	"go.etcd.io/bbolt"
	"golang.org/x/sys/unix"
)

// dropStorePages takes the data store's file pages out of the switch's memory
// (MADV_DONTNEED on bbolt's read-only shared mapping of the file). The file is only ever written
// with write(2), never through the mapping, so no data is lost: a later read finds the same
// bytes, from the kernel's cache or the disk. It runs in a read transaction, which keeps bbolt
// from remapping the file meanwhile, and it checks in the process's map that the range is the
// store's file mapping, from its start to its end, before it drops anything.
func dropStorePages(db *bbolt.DB) error {
	return db.View(func(*bbolt.Tx) error {
		var st unix.Stat_t
		if err := unix.Stat(db.Path(), &st); err != nil {
			return fmt.Errorf("find the data store's mapping: %w", err)
		}
		start := db.Info().Data
		end, err := mappingEnd(start, fileID{major: unix.Major(st.Dev), minor: unix.Minor(st.Dev), inode: st.Ino})
		if err != nil {
			return err
		}
		if _, _, e := unix.Syscall(unix.SYS_MADVISE, start, end-start, unix.MADV_DONTNEED); e != 0 {
			return fmt.Errorf("drop the data store's pages: madvise: %w", e)
		}
		return nil
	})
}

// fileID is a file as the process's map names it: its device and inode.
type fileID struct {
	major, minor uint32
	inode        uint64
}

// mappingEnd finds, in /proc/self/maps, the mapping that starts at start and returns its end,
// after checking that it maps file.
func mappingEnd(start uintptr, file fileID) (uintptr, error) {
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return 0, fmt.Errorf("find the data store's mapping: %w", err)
	}
	defer f.Close()
	return findMapping(bufio.NewScanner(f), start, file)
}

// errNoMapping is findMapping's answer when no mapping of the file starts there.
var errNoMapping = errors.New("no mapping of the data store's file starts at its address")

// findMapping reads lines of /proc/<pid>/maps ("start-end perms offset major:minor inode path",
// numbers in hex but the inode) for the one starting at start and returns its end, if it maps
// file.
func findMapping(lines *bufio.Scanner, start uintptr, file fileID) (uintptr, error) {
	want := []byte(strconv.FormatUint(uint64(start), 16) + "-")
	for lines.Scan() {
		line := lines.Bytes()
		if !bytes.HasPrefix(line, want) {
			continue
		}
		fields := bytes.Fields(line)
		if len(fields) < 5 {
			return 0, fmt.Errorf("find the data store's mapping: bad line %q", line)
		}
		end, err := strconv.ParseUint(string(fields[0][len(want):]), 16, 64)
		if err != nil || uintptr(end) <= start {
			return 0, fmt.Errorf("find the data store's mapping: bad range %q", fields[0])
		}
		dev := fmt.Sprintf("%02x:%02x", file.major, file.minor)
		if string(fields[3]) != dev || string(fields[4]) != strconv.FormatUint(file.inode, 10) {
			return 0, fmt.Errorf("%w (%s maps %s inode %s, the store is %s inode %d)", errNoMapping, fields[0], fields[3], fields[4], dev, file.inode)
		}
		return uintptr(end), nil
	}
	if err := lines.Err(); err != nil {
		return 0, fmt.Errorf("find the data store's mapping: %w", err)
	}
	return 0, errNoMapping
}
