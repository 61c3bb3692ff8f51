package history

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

func TestCallbacksSurviveReopening(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := OpenCallbacks(db)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	a := PendingCallback{ID: "20261204T090000000Z-aaaaaaaa", Caller: "1001", Number: "1001", For: "1002",
		Requested: t0, CallID: "x@y"}
	b := PendingCallback{ID: "20261204T090100000Z-bbbbbbbb", Number: "15551234567", Trunk: "carrier", For: "700",
		Queue: true, Requested: t0.Add(time.Minute), CallID: "z@y"}
	for _, cb := range []PendingCallback{b, a} {
		if err := s.Put(cb); err != nil {
			t.Fatal(err)
		}
	}
	a.Attempts, a.NotBefore = 1, t0.Add(5*time.Minute)
	if err := s.Put(a); err != nil { // an attempt failed
		t.Fatal(err)
	}
	if err := s.Put(PendingCallback{}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a callback without an id: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db, err = bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s, err = OpenCallbacks(db)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != a.ID || got[0].Attempts != 1 || !got[0].NotBefore.Equal(a.NotBefore) ||
		got[1].ID != b.ID || !got[1].Queue || got[1].Trunk != "carrier" {
		t.Fatalf("after reopening: %+v", got)
	}
	if err := s.Delete(a.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete("gone"); err != nil {
		t.Fatalf("deleting a callback not there: %v", err)
	}
	if got, _ := s.List(); len(got) != 1 || got[0].ID != b.ID {
		t.Fatalf("after delete: %+v", got)
	}
}
