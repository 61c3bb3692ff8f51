package api

import (
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestWebWallboardLiveAndSignsInAgain: /wallboard signs in with its form, then follows the
// board without a reload: callers waiting and the longest wait ticking, an agent's DND, the
// answered count and the service level with its colour. When the switch restarts (the
// session ends) the page asks to sign in again, and after that it is live again.
func TestWebWallboardLiveAndSignsInAgain(t *testing.T) {
	e := newDefaultWebEnv(t)
	board := newTestBoard(t)
	board.table = e.table
	e.wallboard = board
	e.restart()
	b := newBrowser(t, e, 40*time.Second)
	wall := b.tab()

	wall.Do(chromedp.Navigate(e.srv.URL + "/wallboard"))
	wall.WaitFor(`!document.getElementById('signin').hidden`, 5*time.Second)
	wall.fillSignIn("1003", users["1003"].password)
	const q = `document.querySelector('.queue[data-ext="700"]')`
	figure := func(name string) string {
		return q + `.querySelector('[data-figure="` + name + `"]')`
	}
	wall.WaitFor(`document.getElementById('live').dataset.live === 'true' && `+q+` !== null`, 5*time.Second)
	if got := eval[string](wall, `document.title`); got != "Wallboard · Switchboard" {
		t.Errorf("title %q", got)
	}
	eval[bool](wall, `(window.__sameDocument = true)`)

	board.setWaiting(2)
	wall.WaitFor(figure("waiting")+`.querySelector('.value').textContent === '2'`, 2*time.Second)
	wall.WaitFor(figure("longest-wait")+`.querySelector('.value').textContent !== '0:00'`, 3*time.Second)
	if tone := eval[string](wall, figure("waiting")+`.dataset.tone`); tone != "warn" {
		t.Errorf("waiting tile tone %q with callers waiting a few seconds, want warn", tone)
	}

	if _, err := e.table.SetDND("1002", true); err != nil {
		t.Fatal(err)
	}
	wall.WaitFor(q+`.querySelector('.agent[data-ext="1002"]').dataset.state === 'dnd'`, 2*time.Second)

	// One call answered in 5 s, one after 45 s: 1 of 2 within 20 s, 50 %, red.
	board.setWaiting(0)
	board.answered(t, "1003", 5*time.Second)
	board.answered(t, "1003", 45*time.Second)
	wall.WaitFor(figure("answered")+`.querySelector('.value').textContent === '2' && `+
		figure("service-level")+`.querySelector('.value').textContent === '50%'`, 2*time.Second)
	if tone := eval[string](wall, figure("service-level")+`.dataset.tone`); tone != "bad" {
		t.Errorf("service level tile tone %q at 50 %%, want bad", tone)
	}
	if got := eval[string](wall, figure("answered")+`.querySelector('.sub').textContent`); got != "1 within 20 s" {
		t.Errorf("answered tile says %q", got)
	}
	if !eval[bool](wall, `window.__sameDocument === true`) {
		t.Error("the page was reloaded")
	}

	// A restart signs everybody out: the wall screen shows the form, and is live again after.
	e.restart()
	wall.WaitFor(`!document.getElementById('signin').hidden`, 10*time.Second)
	if msg := eval[string](wall, `document.getElementById('signin-error').innerText`); msg != "The session has ended. Please sign in again." {
		t.Errorf("message after a restart = %q", msg)
	}
	wall.fillSignIn("", users["1003"].password) // the extension is still filled in
	wall.WaitFor(`document.getElementById('live').dataset.live === 'true' && `+
		figure("answered")+`.querySelector('.value').textContent === '2'`, 5*time.Second)
}
