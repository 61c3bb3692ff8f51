package sip

import (
	"maps"
	"sync"
	"time"
)

// recentByes remembers the dialogs a BYE ended here, for finishedTxLinger after the BYE, so
// that a retransmission of that BYE (our 200 was lost on the way) is answered 200 again. It
// stands in for the BYE's server transaction, which the switch ends as soon as it has answered:
// a finished transaction kept the parsed BYE and its 200, about 3.5 KB, for the whole linger,
// and a switch ending 330 calls a second (2,000 calls of 6 s) held 1,600 of them, about 6 MB
// of its memory at that load. An entry is the dialog's identity and a deadline.
type recentByes struct {
	mu sync.Mutex
	// until holds each remembered dialog's deadline, by byeKey.
	until map[string]time.Time
	// next is when the entries past their deadline are swept out; most, the most entries the
	// map held since it was last made (a Go map keeps the room of the most it held).
	next time.Time
	most int
}

// byeKey names a dialog: its Call-ID and both tags.
func byeKey(callID, ours, theirs string) string {
	return callID + "\x00" + ours + "\x00" + theirs
}

// add remembers the dialog key until now+finishedTxLinger.
func (r *recentByes) add(key string, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.until == nil {
		r.until = map[string]time.Time{}
	}
	if !now.Before(r.next) {
		r.sweep(now)
	}
	r.until[key] = now.Add(finishedTxLinger)
	r.most = max(r.most, len(r.until))
}

// ended reports whether a BYE ended the dialog key here less than finishedTxLinger ago.
func (r *recentByes) ended(key string, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	until, ok := r.until[key]
	return ok && now.Before(until)
}

// sweep drops the entries past their deadline, once a linger; when fewer than a quarter of
// the most it held are left, they move to a new map, so that a busy minute's room goes too.
func (r *recentByes) sweep(now time.Time) {
	r.next = now.Add(finishedTxLinger)
	for key, until := range r.until {
		if !now.Before(until) {
			delete(r.until, key)
		}
	}
	if len(r.until) < r.most/4 {
		left := make(map[string]time.Time, len(r.until))
		maps.Copy(left, r.until)
		r.until, r.most = left, len(left)
	}
}
