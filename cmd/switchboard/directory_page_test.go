package main

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/switchboard-voip/switchboard/internal/browser"
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
