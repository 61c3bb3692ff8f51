package api

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/switchboard-voip/switchboard/history"
	"github.com/switchboard-voip/switchboard/internal/poll"
	"github.com/switchboard-voip/switchboard/presence"
)

// TestWebDNDQuickChoices: the menu's quick choices set DND with a reason and an end, shown
// beside the user's own pill and on their row in a colleague's page; a reason the server
// refuses is shown in the form, with the field marked.
func TestWebDNDQuickChoices(t *testing.T) {
	e := newDefaultWebEnv(t)
	b := newBrowser(t, e, 60*time.Second)
	bob, alice := b.tab(), b.tab()
	bob.signIn("1002")
	alice.signIn("1001")

	// choose opens the menu and clicks a choice; a choice's answer closes the menu. (The event
	// stream may show a change before the PUT's answer does: the menu, not the note, says the
	// choice is done.)
	const closed = `!document.getElementById('dnd-menu').open`
	choose := func(selector string) {
		t.Helper()
		bob.WaitFor(closed, 5*time.Second)
		bob.Do(chromedp.Click(chromedp.CSS("#dnd-menu > summary")))
		bob.WaitFor(`document.getElementById('dnd-menu').open`, 5*time.Second)
		bob.Do(chromedp.Click(chromedp.CSS(selector)))
	}

	before := time.Now()
	choose(`[data-dnd-reason="In a meeting"]`)
	bob.WaitFor(`document.getElementById('me-note').innerText.startsWith('In a meeting · until ') &&
		document.getElementById('dnd-switch').checked && `+closed, 5*time.Second)
	st, _ := e.table.Get("1002")
	if st.Status != presence.DND || st.Reason != "In a meeting" || st.Source != presence.SourceUser {
		t.Fatalf("after In a meeting: %+v", st)
	}
	if d := st.Until.Sub(before); d < time.Hour-time.Minute || d > time.Hour+time.Minute {
		t.Errorf("In a meeting ends %v from now, want an hour", d)
	}
	alice.WaitFor(`document.querySelector('#team .row[data-ext="1002"] .hint').innerText.startsWith('In a meeting · until ')`, 5*time.Second)

	choose(`[data-dnd-for="30m"]:not([data-dnd-reason])`)
	bob.WaitFor(`document.getElementById('me-note').innerText.startsWith('until ') && `+closed, 5*time.Second)
	if st, _ := e.table.Get("1002"); st.Reason != "" || time.Until(st.Until) > 31*time.Minute {
		t.Errorf("after For 30 min: %+v", st)
	}
	choose(`[data-dnd-for="tomorrow"]`)
	// The browser runs in this process's time zone (TZ is inherited).
	poll.Require(t, 5*time.Second, "DND until tomorrow 8:00", func() bool {
		st, _ := e.table.Get("1002")
		u := st.Until.Local()
		return u.Hour() == 8 && u.Minute() == 0 && u.After(time.Now()) && time.Until(u) < 32*time.Hour
	})

	// Past the input's own limit (set by a script): the server's 400 names the field.
	bob.WaitFor(closed, 5*time.Second)
	bob.Do(chromedp.Click(chromedp.CSS("#dnd-menu > summary")))
	bob.WaitFor(`document.getElementById('dnd-menu').open`, 5*time.Second)
	eval[bool](bob, `(() => { const r = document.getElementById('dnd-reason'); r.removeAttribute('maxlength');
		r.value = 'x'.repeat(81); return true; })()`)
	bob.Do(chromedp.Click(chromedp.CSS(`#dnd-custom button[type=submit]`)))
	bob.WaitFor(`!document.getElementById('dnd-custom-error').hidden &&
		document.getElementById('dnd-reason').getAttribute('aria-invalid') === 'true'`, 5*time.Second)
	if msg := eval[string](bob, `document.getElementById('dnd-custom-error').innerText`); !strings.Contains(msg, "reason") {
		t.Errorf("error shown: %q", msg)
	}
	// A custom reason and end.
	bob.Do(chromedp.SetValue(chromedp.CSS("#dnd-reason"), "with a customer"),
		chromedp.SetValue(chromedp.CSS("#dnd-until"), "2h"),
		chromedp.Click(chromedp.CSS(`#dnd-custom button[type=submit]`)))
	bob.WaitFor(`document.getElementById('me-note').innerText.startsWith('with a customer · until ')`, 5*time.Second)
}

// TestWebHistoryExplainsWhy: the History view tells the user in words why their phone did not
// ring for a call that went to voicemail (DND, set by an admin at a time, with a reason; a
// group that skipped them), and lists their DND changes with how each came about.
func TestWebHistoryExplainsWhy(t *testing.T) {
	e := newDefaultWebEnv(t)
	if _, err := e.table.Set("1002", presence.Change{DND: true, Reason: "at lunch", Source: presence.SourceAdmin, By: "1001"}); err != nil {
		t.Fatal(err)
	}
	set, _ := e.table.Get("1002")
	now := time.Now()
	if _, err := e.history.Add(history.Record{Started: now.Add(-time.Minute), Ended: now.Add(-50 * time.Second), From: "1003", To: "1002",
		Outcome: history.Voicemail, Voicemail: "1002",
		Skipped: []history.Skip{{Ext: "1002", Why: history.SkipDND, Reason: "at lunch", Source: "admin", By: "1001", At: set.SetAt}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.history.Add(history.Record{Started: now.Add(-30 * time.Second), Ended: now, From: "1004", To: "600", Via: "600",
		Outcome: history.Answered, AnsweredBy: "1003",
		Skipped: []history.Skip{{Ext: "1002", Via: "600", ViaName: "Sales", Why: history.SkipOnCall}}}); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, e, 30*time.Second)
	bob := b.tab()
	bob.signIn("1002")
	bob.Do(chromedp.Click(chromedp.CSS("#tab-history")))
	bob.WaitFor(`document.querySelectorAll('#call-history .history-item').length === 2 &&
		document.querySelectorAll('#status-history .history-item').length === 1`, 5*time.Second)
	why := eval[[]string](bob, `[...document.querySelectorAll('#call-history .history-why li')].map((li) => li.innerText)`)
	// The time is the browser's locale's (10:02 or 10:02 AM).
	if len(why) != 2 || why[0] != "Skipped in Sales: you were on another call." ||
		!strings.HasPrefix(why[1], "You were on DND (“at lunch”, set by Alice (1001) at ") || !strings.HasSuffix(why[1], ").") {
		t.Errorf("why: %q", why)
	}
	change := eval[string](bob, `document.querySelector('#status-history .history-item').innerText`)
	if !strings.Contains(change, "Do not disturb · at lunch") || !strings.Contains(change, "set by Alice (1001)") {
		t.Errorf("status change shown as %q", change)
	}
}

// TestWebWorkingHoursForm: hours saved from the form apply at once; a span that ends before it
// starts is refused with the problem shown beside that day.
func TestWebWorkingHoursForm(t *testing.T) {
	e := newDefaultWebEnv(t)
	b := newBrowser(t, e, 30*time.Second)
	carol := b.tab()
	carol.signIn("1003")
	carol.Do(chromedp.Click(chromedp.CSS("#tab-greetings")))
	carol.WaitFor(`!document.getElementById('hours').hidden`, 5*time.Second)
	carol.Do(chromedp.SetValue(chromedp.CSS("#hours-zone"), "UTC"),
		chromedp.SetValue(chromedp.CSS("#hours-mon-from"), "17:00"),
		chromedp.SetValue(chromedp.CSS("#hours-mon-to"), "09:00"),
		chromedp.Click(chromedp.CSS(`#hours-form button[type=submit]`)))
	carol.WaitFor(`document.getElementById('hours-mon-error').innerText.includes('ends before it starts') &&
		document.getElementById('hours-mon-from').getAttribute('aria-invalid') === 'true'`, 5*time.Second)
	if _, ok := e.table.Hours("1003"); ok {
		t.Fatal("refused hours were stored")
	}
	carol.Do(chromedp.SetValue(chromedp.CSS("#hours-mon-from"), "09:00"),
		chromedp.SetValue(chromedp.CSS("#hours-mon-to"), "17:00"),
		chromedp.SetValue(chromedp.CSS("#hours-sat-from"), "00:00"),
		chromedp.SetValue(chromedp.CSS("#hours-sat-to"), "23:59"),
		chromedp.Click(chromedp.CSS(`#hours-form button[type=submit]`)))
	poll.Require(t, 5*time.Second, "working hours stored", func() bool {
		h, ok := e.table.Hours("1003")
		return ok && h.TimeZone == "UTC" && len(h.Week["mon"]) == 1 && h.Week["mon"][0] == "09:00-17:00" && h.Week["sat"][0] == "00:00-24:00"
	})
	if st, _ := e.table.Get("1003"); st.Source != presence.SourceSchedule {
		t.Errorf("the hours did not apply: %+v", st)
	}
	if !eval[bool](carol, `document.getElementById('hours-mon-error').innerText === ''`) {
		t.Error("the old error is still shown")
	}
}
