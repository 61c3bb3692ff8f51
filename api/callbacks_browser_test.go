package api

import (
	"regexp"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestWebShowsCallbacks: the user who is to call back sees who waits for it in the Team view;
// an admin's Calls view lists every pending callback and cancels one.
func TestWebShowsCallbacks(t *testing.T) {
	e := newDefaultWebEnv(t)
	now := time.Now()
	e.callbacks.list = []Callback{
		{ID: "cb1", Number: "1003", Name: "Carol", For: "1002", Requested: now.Add(-3 * time.Minute), CallID: "x@y",
			Parties: []string{"1003", "1002"}},
		{ID: "cb2", Number: "15551234567", Trunk: "carrier", For: "700", Queue: true, Requested: now.Add(-time.Minute),
			Attempts: 1, NotBefore: now.Add(time.Minute), CallID: "z@y", Parties: []string{"1004"}},
	}
	b := newBrowser(t, e, 40*time.Second)
	bob, alice := b.tab(), b.tab()

	bob.signIn("1002")
	bob.WaitFor(`!document.getElementById('my-callbacks').hidden`, 5*time.Second)
	// The times depend on how fast the page came up: only their shape is checked.
	if got := eval[string](bob, `document.getElementById('my-callbacks-list').innerText`); !regexp.MustCompile(
		`^Carol \(1003\) is waiting for your callback \(asked \d+:\d\d ago\)\.$`).MatchString(got) {
		t.Errorf("Bob's Team view: %q", got)
	}

	alice.signIn("1001")
	alice.Do(chromedp.Click(chromedp.CSS("#tab-calls")))
	alice.WaitFor(`!document.getElementById('callbacks-section').hidden && document.querySelectorAll('#callbacks .call').length === 2`, 5*time.Second)
	rows := eval[[]string](alice, `[...document.querySelectorAll('#callbacks .call')].map(r => r.innerText.replace(/\s+/g, ' '))`)
	if len(rows) != 2 || !regexp.MustCompile(`^Carol \(1003\) ← Bob \(1002\) Waiting asked \d+:\d\d ago Cancel$`).MatchString(rows[0]) ||
		!regexp.MustCompile(`^15551234567 ← queue 700 Waiting asked \d+:\d\d ago · 1 attempt failed · next .+ Cancel$`).MatchString(rows[1]) {
		t.Errorf("callback rows %q", rows)
	}
	alice.Do(chromedp.Click(chromedp.CSS(`#callbacks .call[data-id="cb1"] button`)))
	alice.WaitFor(`document.querySelectorAll('#callbacks .call').length === 1`, 3*time.Second)
	if left := e.callbacks.Pending(); len(left) != 1 || left[0].ID != "cb2" {
		t.Errorf("after cancelling cb1: %+v", left)
	}
}
