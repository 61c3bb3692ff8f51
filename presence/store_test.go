package presence

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/switchboard-voip/switchboard/internal/crashtest"
)

// crashDBEnv, when set, makes the test binary the crash child of TestDNDSurvivesSIGKILL: it
// sets DND on the DB at that path, says "ok" and waits to be killed.
const crashDBEnv = "PRESENCE_CRASH_DB"

func TestMain(m *testing.M) {
	if path := os.Getenv(crashDBEnv); path != "" {
		crashChild(path)
		return
	}
	os.Exit(m.Run())
}

func crashChild(path string) {
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		os.Exit(2)
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		fail(err)
	}
	store, err := NewBoltStore(db)
	if err != nil {
		fail(err)
	}
	tab, err := NewTable(demoUsers, store)
	if err != nil {
		fail(err)
	}
	if _, err := tab.SetDND("1002", true); err != nil {
		fail(err)
	}
	fmt.Println("ok")
	for {
		time.Sleep(time.Hour) // until SIGKILL; select{} would be a detected deadlock
	}
}

// openDB opens the bbolt file at path, closed at the end of the test unless closed before.
func openDB(t *testing.T, path string) *bbolt.DB {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// boltTable builds a table of the demo users over a BoltStore on db.
func boltTable(t *testing.T, db *bbolt.DB) *Table {
	t.Helper()
	store, err := NewBoltStore(db)
	if err != nil {
		t.Fatal(err)
	}
	tab, err := NewTable(demoUsers, store)
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

func TestSetDNDStoreFailsNothingChanges(t *testing.T) {
	tab, store := newTable(t)
	tab.CallStarted("1001", "c1")
	before, _ := tab.Get("1001")
	w := watch(t, tab)
	diskFull := errors.New("disk full")
	store.Fail(diskFull)

	s, err := tab.SetDND("1001", true)
	if !errors.Is(err, diskFull) {
		t.Fatalf("SetDND with a failing store: %v", err)
	}
	if s != (State{}) {
		t.Errorf("SetDND returned state %+v with its error", s)
	}
	if after, _ := tab.Get("1001"); after != before {
		t.Errorf("state changed to %+v, was %+v", after, before)
	}
	wantStatus(t, tab, "1001", Busy)
	noSignal(t, w)
	wantEvents(t, tab, w)

	store.Fail(nil)
	if s, err := tab.SetDND("1001", true); err != nil || s.Status != DND {
		t.Errorf("after the store recovered: %+v, %v", s, err)
	}
}

func TestBoltDNDSurvivesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "switchboard.db")
	db := openDB(t, path)
	tab := boltTable(t, db)
	tab.CallStarted("1001", "c1") // busy is never stored
	tab.SetRegistered("1001", true)
	for ext, on := range map[string]bool{"1002": true, "1003": true, "1004": true} {
		if _, err := tab.SetDND(ext, on); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tab.SetDND("1004", false); err != nil {
		t.Fatal(err)
	}
	db.Close()

	tab = boltTable(t, openDB(t, path))
	for ext, want := range map[string]Status{
		"1001": Available, "1002": DND, "1003": DND, "1004": Available, "1005": Available,
	} {
		wantStatus(t, tab, ext, want)
	}
	if s, _ := tab.Get("1001"); s.OnCall || s.Registered {
		t.Errorf("calls or registration came back from the DB: %+v", s)
	}
}

func TestDNDSurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	path := filepath.Join(t.TempDir(), "switchboard.db")
	child := crashtest.Start(t, crashDBEnv+"="+path)
	if line := child.Line(); strings.TrimSpace(line) != "ok" {
		t.Fatalf("child said %q", line)
	}
	child.Kill() // right after the acknowledgement

	tab := boltTable(t, openDB(t, path))
	wantStatus(t, tab, "1002", DND)
	wantStatus(t, tab, "1001", Available)
}

func TestBoltStoreUsesOnlyItsBucket(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "switchboard.db"))
	err := db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucket([]byte("voicemail.counts"))
		if err != nil {
			return err
		}
		return b.Put([]byte("1001"), []byte{0, 0, 0, 1, 0, 0, 0, 0})
	})
	if err != nil {
		t.Fatal(err)
	}
	tab := boltTable(t, db)
	tab.SetDND("1001", true)
	err = db.View(func(tx *bbolt.Tx) error {
		var names []string
		tx.ForEach(func(name []byte, _ *bbolt.Bucket) error {
			names = append(names, string(name))
			return nil
		})
		if fmt.Sprint(names) != "[presence presence.changes presence.hours voicemail.counts]" {
			t.Errorf("buckets %v", names)
		}
		v := tx.Bucket([]byte("presence")).Get([]byte("1001"))
		if s, err := DecodeSetting(v); err != nil || !s.DND || s.Source != SourceUser || s.By != "1001" {
			t.Errorf("stored %q", v)
		}
		if v := tx.Bucket([]byte("voicemail.counts")).Get([]byte("1001")); len(v) != 8 || v[3] != 1 {
			t.Errorf("other bucket changed: %v", v)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestBoltStoreReadsSettingsStoredBeforeReasons: a data dir written by a switch whose settings
// were the words "dnd" and "available" loads with the same statuses.
func TestBoltStoreReadsSettingsStoredBeforeReasons(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "switchboard.db"))
	store, err := NewBoltStore(db)
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte("presence"))
		b.Put([]byte("1003"), []byte("dnd"))
		return b.Put([]byte("1004"), []byte("available"))
	})
	tab, err := NewTable(demoUsers, store)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, tab, "1003", DND)
	wantStatus(t, tab, "1004", Available)
}

// TestBoltStoreKeepsTheNewestChangesOfEachUser: past KeepChanges a user's oldest changes go,
// newest first, and another user's are untouched.
func TestBoltStoreKeepsTheNewestChangesOfEachUser(t *testing.T) {
	store, err := NewBoltStore(openDB(t, filepath.Join(t.TempDir(), "switchboard.db")))
	if err != nil {
		t.Fatal(err)
	}
	if err := store.SaveDND("1002", Setting{DND: true, Reason: "other"}); err != nil {
		t.Fatal(err)
	}
	for i := range KeepChanges + 5 {
		if err := store.SaveDND("1001", Setting{DND: i%2 == 0, Reason: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := store.SaveDND("10010", Setting{Reason: "a longer extension sharing the prefix"}); err != nil {
		t.Fatal(err)
	}
	got, err := store.DNDHistory("1001", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != KeepChanges || got[0].Reason != fmt.Sprint(KeepChanges+4) || got[len(got)-1].Reason != "5" {
		t.Fatalf("%d changes kept, newest %q, oldest %q; want %d, %d … 5", len(got), got[0].Reason, got[len(got)-1].Reason, KeepChanges, KeepChanges+4)
	}
	if got, _ := store.DNDHistory("1001", 3); len(got) != 3 || got[2].Reason != fmt.Sprint(KeepChanges+2) {
		t.Errorf("limit 3: %+v", got)
	}
	if got, _ := store.DNDHistory("1002", 0); len(got) != 1 || got[0].Reason != "other" {
		t.Errorf("1002's changes: %+v", got)
	}
	if got, _ := store.DNDHistory("1009", 0); len(got) != 0 {
		t.Errorf("a user without changes: %+v", got)
	}
}

func TestBoltStoreRejectsDamagedValue(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "switchboard.db"))
	store, err := NewBoltStore(db)
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte("presence")).Put([]byte("1003"), []byte("busy"))
	})
	if _, err := NewTable(demoUsers, store); err == nil || !strings.Contains(err.Error(), "1003") {
		t.Errorf("NewTable over a stored \"busy\": %v", err)
	}
}

func TestBoltStoreRefusesNoSync(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "switchboard.db"))
	db.NoSync = true
	if _, err := NewBoltStore(db); !errors.Is(err, ErrNoSync) {
		t.Errorf("NewBoltStore on a NoSync DB: %v", err)
	}
}

func TestBoltSaveFailsOnClosedDB(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "switchboard.db"))
	tab := boltTable(t, db)
	w := watch(t, tab)
	db.Close()
	if _, err := tab.SetDND("1001", true); err == nil {
		t.Fatal("SetDND on a closed DB succeeded")
	}
	wantStatus(t, tab, "1001", Available)
	noSignal(t, w)
}
