package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/switchboard-voip/switchboard/backup"
)

// openTestStore opens a data store of the switch's name in a directory of the test's, closed at
// its end.
func openTestStore(t *testing.T) *bbolt.DB {
	t.Helper()
	db, err := bbolt.Open(filepath.Join(t.TempDir(), backup.DBFile), 0o600, &bbolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// storeKey is the test stores' key for value i, in the order of i.
func storeKey(i int) []byte { return fmt.Appendf(nil, "%08d", i) }

// A store whose pages were all read holds them in the switch's memory until dropStorePages; after
// it the pages are gone from the process and every value reads back the same.
func TestDropStorePagesKeepsTheData(t *testing.T) {
	db := openTestStore(t)
	const keys, size = 2048, 4000 // 8 MB of values
	value := func(i int) []byte { return bytes.Repeat([]byte{byte(i), byte(i >> 8), 'v'}, size/3) }
	bucket := []byte("b")
	if err := db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucket(bucket)
		if err != nil {
			return err
		}
		for i := range keys {
			if err := b.Put(storeKey(i), value(i)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	readAll := func() {
		t.Helper()
		if err := db.View(func(tx *bbolt.Tx) error {
			b := tx.Bucket(bucket)
			for i := range keys {
				if got := b.Get(storeKey(i)); !bytes.Equal(got, value(i)) {
					return fmt.Errorf("key %d: %d bytes, not the value written", i, len(got))
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	readAll()
	if kb := storePages([]int{os.Getpid()}); kb < 6<<10 {
		t.Fatalf("after reading 8 MB of values the store's mapping holds %d KB, want the pages read", kb)
	}
	if err := dropStorePages(db); err != nil {
		t.Fatal(err)
	}
	if kb := storePages([]int{os.Getpid()}); kb > 256 {
		t.Errorf("after dropStorePages the store's mapping holds %d KB, want next to nothing", kb)
	}
	readAll()
	// The store keeps working: a write after the drop reads back too.
	if err := db.Update(func(tx *bbolt.Tx) error { return tx.Bucket(bucket).Put([]byte("late"), []byte("x")) }); err != nil {
		t.Fatal(err)
	}
	if err := dropStorePages(db); err != nil {
		t.Fatal(err)
	}
	readAll()
}

func TestFindMapping(t *testing.T) {
	const maps = `55a80d2bc000-55a80d2be000 r--p 00000000 fe:00 247026                     /usr/bin/cat
7f00aa000000-7f00aa800000 r--s 00000000 103:02 1234                     /var/lib/switchboard/switchboard.db
7f00ab000000-7f00ab001000 rw-p 00000000 00:00 0
`
	store := fileID{major: 0x103, minor: 2, inode: 1234}
	for _, tc := range []struct {
		name    string
		start   uintptr
		file    fileID
		end     uintptr
		noMatch bool
	}{
		{name: "the store's mapping", start: 0x7f00aa000000, file: store, end: 0x7f00aa800000},
		{name: "another file there", start: 0x55a80d2bc000, file: store, noMatch: true},
		{name: "anonymous memory there", start: 0x7f00ab000000, file: store, noMatch: true},
		{name: "same inode on another device", start: 0x7f00aa000000, file: fileID{major: 0x103, minor: 3, inode: 1234}, noMatch: true},
		{name: "nothing starts there", start: 0x7f00aa001000, file: store, noMatch: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			end, err := findMapping(bufio.NewScanner(strings.NewReader(maps)), tc.start, tc.file)
			if tc.noMatch {
				if !errors.Is(err, errNoMapping) {
					t.Fatalf("got end %x, err %v; want errNoMapping", end, err)
				}
				return
			}
			if err != nil || end != tc.end {
				t.Fatalf("got end %x, err %v; want %x", end, err, tc.end)
			}
		})
	}
	if _, err := findMapping(bufio.NewScanner(strings.NewReader("7f00aa000000-zz r--s 0 103:02 1234 /x\n")), 0x7f00aa000000, store); err == nil || errors.Is(err, errNoMapping) {
		t.Errorf("a bad range gave %v, want an error naming it", err)
	}
}

// Dropping the pages while the store grows (bbolt remaps the file as it does) and is read never
// shows a reader other bytes than were written.
func TestDropStorePagesWhileTheStoreGrows(t *testing.T) {
	db := openTestStore(t)
	bucket := []byte("b")
	value := func(i int) []byte { return bytes.Repeat(fmt.Appendf(nil, "%07d", i), 256) } // 1.8 KB
	// 5 MB in all: the mapping is replaced several times on the way.
	const keys = 3000
	written := make(chan int, keys)
	failed := make(chan error, 2)
	go func() {
		defer close(written)
		for i := range keys {
			if err := db.Update(func(tx *bbolt.Tx) error {
				b, err := tx.CreateBucketIfNotExists(bucket)
				if err != nil {
					return err
				}
				return b.Put(storeKey(i), value(i))
			}); err != nil {
				failed <- err
				return
			}
			written <- i
		}
	}()
	drops := 0
	for i := range written {
		if i%50 == 0 {
			if err := dropStorePages(db); err != nil {
				t.Fatal(err)
			}
			drops++
		}
		if err := db.View(func(tx *bbolt.Tx) error {
			b := tx.Bucket(bucket)
			for j := 0; j <= i; j += 1 + i/20 {
				if got := b.Get(storeKey(j)); !bytes.Equal(got, value(j)) {
					return fmt.Errorf("key %d read %d bytes that are not the value written, after %d drops", j, len(got), drops)
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case err := <-failed:
		t.Fatal(err)
	default:
	}
}
