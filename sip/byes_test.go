package sip

import (
	"strconv"
	"testing"
	"time"
)

// A dialog a BYE ended is remembered for finishedTxLinger, not longer, and a burst of them
// goes with the room it took once a linger has passed.
func TestRecentByesForgetsAfterTheLinger(t *testing.T) {
	var r recentByes
	t0 := time.Unix(1_700_000_000, 0)
	for i := range 1000 {
		r.add(byeKey("call-"+strconv.Itoa(i), "ours", "theirs"), t0)
	}
	key := byeKey("call-7", "ours", "theirs")
	if !r.ended(key, t0.Add(finishedTxLinger-time.Millisecond)) {
		t.Fatal("a dialog a BYE ended is not remembered within the linger")
	}
	if r.ended(byeKey("call-7", "ours", "other"), t0) || r.ended(byeKey("call-1000", "ours", "theirs"), t0) {
		t.Fatal("a dialog no BYE ended is remembered")
	}
	if r.ended(key, t0.Add(finishedTxLinger)) {
		t.Fatal("a dialog is remembered past the linger")
	}
	r.add(byeKey("late", "ours", "theirs"), t0.Add(finishedTxLinger))
	if n := len(r.until); n != 1 || r.most != 1 {
		t.Fatalf("after the linger %d dialogs remembered in a map made for %d, want the late one alone", n, r.most)
	}
}
