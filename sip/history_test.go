package sip_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/switchboard-voip/switchboard/history"
)

// openHistory opens a call history in a fresh DB that the test closes at its end.
func openHistory(t *testing.T) *history.Store {
	t.Helper()
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "history.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	store, err := history.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	return store
}

func TestCallOutcomesAreRecorded(t *testing.T) {
	store := openHistory(t)
	sw := startSwitch(t, func(o *switchOpts) { o.History = store })
	bob := newPhone(t, sw, "1002", "udp").mustRegister()
	alice := newPhone(t, sw, "1001", "udp").mustRegister()

	_, hangup, _ := bridged(t, alice, bob)
	time.Sleep(50 * time.Millisecond)
	_ = hangup()
	<-bob.byes
	// The record is written once the call's owner has ended both legs: wait for it, so the next
	// call's record is the newer one.
	eventually(t, "the answered call recorded", func() bool {
		recs, err := store.List("1001", 10, "")
		return err == nil && len(recs) == 1
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := alice.call(ctx, "1999"); statusOf(err) != 404 {
		t.Fatalf("call to 1999: %v", err)
	}
	sw.waitIdle(t)

	recs, err := store.List("1001", 10, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 {
		t.Fatalf("records for 1001: %+v", recs)
	}
	rejected, answered := recs[0], recs[1] // newest first
	if rejected.Outcome != history.Rejected || rejected.Code != 404 || rejected.To != "1999" {
		t.Fatalf("rejected call record: %+v", rejected)
	}
	if answered.Outcome != history.Answered || answered.AnsweredBy != "1002" || answered.From != "1001" ||
		answered.TalkMS < 40 || len(answered.Trace) == 0 {
		t.Fatalf("answered call record: %+v", answered)
	}
	if bobs, _ := store.List("1002", 10, ""); len(bobs) != 1 {
		t.Fatalf("records for 1002: %+v", bobs)
	}
}
