package main

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/switchboard-voip/switchboard/internal/browser"
	"github.com/switchboard-voip/switchboard/internal/poll"
	"github.com/switchboard-voip/switchboard/internal/sipphone"
)

// TestPageAdminAddsAUserWhosePhoneRegistersAtOnce: Alice, an admin, adds Frank on the page
// (Team → Add user) of the real binary. Dave, who has the team page open, sees Frank's row
// appear without a reload; Frank's phone registers at once and Dave's row stops saying "no phone
// registered". Alice removes Frank, and the row leaves Dave's page.
func TestPageAdminAddsAUserWhosePhoneRegistersAtOnce(t *testing.T) {
	sw := startWebSwitch(t)
	alice := newWebPage(t, sw, 60*time.Second)
	alice.signIn("1001")
	dave := newWebPage(t, sw, 60*time.Second)
	dave.signIn("1004")
	if webEval[bool](dave, `document.getElementById('add-user').hidden === false`) {
		t.Error("Dave, not an admin, is offered Add user")
	}

	alice.Do(chromedp.Click(chromedp.CSS(`#add-user`)))
	alice.WaitFor(`document.getElementById('user-form-ext') !== null`, 5*time.Second)
	alice.Do(chromedp.SetValue(chromedp.CSS(`#user-form-name`), "Frank"),
		chromedp.SetValue(chromedp.CSS(`#user-form-ext`), "1006"),
		chromedp.SetValue(chromedp.CSS(`#user-form-password`), "frank-secret"),
		chromedp.Click(chromedp.CSS(`#user-form button[type=submit]`)))
	dave.WaitFor(browser.RowJS("1006")+`.dataset.status === 'available'`, 5*time.Second)
	if hint := dave.RowHint("1006"); hint != "1006 · no phone registered" {
		t.Errorf("Frank's row before his phone registers: %q", hint)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sipphone.New(t, sw.cfg.SIPPort, "1006", "frank-secret").Register(ctx)
	dave.WaitFor(`document.querySelector('#team .row[data-ext="1006"] .ext').innerText === '1006'`, 5*time.Second)

	if code, body := sw.admin(t, http.MethodDelete, "/api/v1/users/1006", ""); code != http.StatusNoContent {
		t.Fatalf("removing Frank: %d %s", code, body)
	}
	dave.WaitFor(`document.querySelector('#team .row[data-ext="1006"]') === null`, 5*time.Second)
}

// TestPageQueueMemberAddedWhileACallerWaits: Carol waits in queue 700, whose one agent (Bob) is
// on DND. Alice, an admin, opens the Directory tab, edits the queue and ticks Dave; Dave's phone
// is offered Carol's call and answers it.
func TestPageQueueMemberAddedWhileACallerWaits(t *testing.T) {
	sw := startWebSwitch(t, directoryQueue)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if code, body := sw.admin(t, http.MethodPut, "/api/v1/presence/1002", `{"status": "dnd"}`); code != http.StatusOK {
		t.Fatalf("Bob's DND: %d %s", code, body)
	}
	dave := newWebPhone(t, sw.cfg.SIPPort, "1004")
	dave.Register(ctx)
	carol := newWebPhone(t, sw.cfg.SIPPort, "1003")
	carol.Register(ctx)
	carol.Call(ctx, "700")
	poll.Require(t, 5*time.Second, "Carol waiting in queue 700", func() bool { return sw.waitingIn(t, "700") == 1 })

	alice := newWebPage(t, sw, 60*time.Second)
	alice.signIn("1001")
	alice.Do(chromedp.Click(chromedp.CSS(`#tab-directory`)))
	alice.WaitFor(`document.querySelector('#directory-queues .row[data-key="700"] button') !== null`, 5*time.Second)
	alice.Do(chromedp.Click(chromedp.CSS(`#directory-queues .row[data-key="700"] button`)))
	alice.WaitFor(`document.querySelector('#queue-form-members input[value="1004"]') !== null`, 5*time.Second)
	alice.Do(chromedp.Click(chromedp.CSS(`#queue-form-members input[value="1004"]`)),
		chromedp.Click(chromedp.CSS(`#queue-form button[type=submit]`)))
	select {
	case <-dave.Answered():
	case <-time.After(10 * time.Second):
		t.Fatal("Dave, ticked as a member while Carol waited, was not offered her call")
	}
	poll.Require(t, 5*time.Second, "nobody waiting", func() bool { return sw.waitingIn(t, "700") == 0 })
}
