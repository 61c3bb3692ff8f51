package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/switchboard-voip/switchboard/internal/browser"
)

// The team page as the phone, against the real binary: headless Chromium with a fake
// microphone signs in at /phone (the phone in a window of its own), registers through the page's
// JsSIP with the credential its session got, and is used as a person would: the Call button on
// a colleague's row, the Transfer button while talking, Answer on an incoming call, Hang up.

// phonePage is the signed-in /phone page of ext, its microphone sending ext's peerTone.
func (ps *peerSwitch) phonePage(ext string) *browser.Page {
	t := ps.t
	t.Helper()
	wav := filepath.Join(ps.dir, "page-mic-"+ext+".wav")
	writeToneWAV(t, wav, peerTone[ext], 0.4, 60*time.Second)
	p := browser.StartWithMicrophone(t, 120*time.Second, wav).Page()
	p.Do(chromedp.Navigate(fmt.Sprintf("http://127.0.0.1:%d/phone", ps.cfg.HTTPPort)))
	p.WaitFor(`!document.getElementById('signin').hidden`, 10*time.Second)
	p.Do(
		chromedp.SendKeys(chromedp.CSS("#signin-ext"), ext),
		chromedp.SendKeys(chromedp.CSS("#signin-password"), testPassword(t, ext)),
		chromedp.Click(chromedp.CSS("#signin-button")),
	)
	p.WaitFor(`window.SwitchboardPhone.state === 'ready' && document.querySelectorAll('#team .row').length > 0`, 15*time.Second)
	// A steady test tone is what echo cancellation and noise suppression exist to remove: the
	// test's microphone goes without them, as a headset's often does.
	browser.Eval[bool](p, `(() => {
		const gum = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
		navigator.mediaDevices.getUserMedia = (c) => gum(c && c.audio ? { audio: { echoCancellation: false,
			noiseSuppression: false, autoGainControl: false }, video: false } : c);
		return true; })()`)
	return p
}

func TestWebPhonePageCallsTransfersAndAnswers(t *testing.T) {
	ps, _ := startBrowserSwitch(t)
	bob, carol := ps.baresipUser("1002"), ps.baresipUser("1003")
	page := ps.phonePage("1001")
	if !browser.Eval[bool](page, `document.body.classList.contains('phone-only') && getComputedStyle(document.querySelector('.tabs')).display === 'none'`) {
		t.Error("/phone shows the other tabs")
	}

	// Click to call Bob from his row.
	page.Do(chromedp.Click(chromedp.CSS(`#team .row[data-ext="1002"] .row-call`)))
	bob.answerNext(15 * time.Second)
	page.WaitFor(`window.SwitchboardPhone.call === 'talking' && document.getElementById('phone-timer').textContent !== ''`, 10*time.Second)
	heard := bob.waitHeard(samplesOf(1500*time.Millisecond), 10*time.Second)
	wantHears(t, "Bob hears the page", heard[samplesOf(500*time.Millisecond):], "1001", "1003")

	// Transfer Bob to Carol with the button on her row: Carol's phone rings, the page's call ends,
	// Bob now hears Carol.
	page.WaitFor(`!document.querySelector('#team .row[data-ext="1003"] .row-transfer-actions').hidden`, 10*time.Second)
	page.Do(chromedp.Click(chromedp.CSS(`#team .row[data-ext="1003"] .row-transfer`)))
	carol.answerNext(15 * time.Second)
	page.WaitFor(`window.SwitchboardPhone.call === 'idle'`, 10*time.Second)
	carolUp := len(bob.heard())
	after := bob.waitHeard(carolUp+samplesOf(1500*time.Millisecond), 10*time.Second)
	wantHears(t, "Bob after the transfer", after[carolUp+samplesOf(500*time.Millisecond):], "1003", "1001")
	bob.command("hangup", "")
	bob.waitEvent("CALL_CLOSED", 10*time.Second, isEvent("CALL_CLOSED"), nil)
	carol.waitEvent("CALL_CLOSED", 10*time.Second, isEvent("CALL_CLOSED"), nil)
	ps.waitAvailable("1002")

	// Bob calls Alice: the page rings with his name, she answers, then hangs up.
	bob.command("dial", ps.uri("1001"))
	page.WaitFor(`window.SwitchboardPhone.call === 'ringing' && document.getElementById('phone-caller').textContent.includes('Bob')`, 10*time.Second)
	page.Do(chromedp.Click(chromedp.CSS(`#phone-answer`)))
	bob.waitEvent("CALL_ESTABLISHED", 10*time.Second, isEvent("CALL_ESTABLISHED"), isEvent("CALL_CLOSED"))
	page.WaitFor(`window.SwitchboardPhone.call === 'talking'`, 10*time.Second)
	// Hold and resume (re-INVITEs through the switch, answered by Bob's phone), then a key of the
	// in-call keypad reaches Bob's phone as a tone.
	page.Do(chromedp.Click(chromedp.CSS(`#phone-hold`)))
	page.WaitFor(`document.getElementById('phone-hold').getAttribute('aria-pressed') === 'true'`, 10*time.Second)
	page.Do(chromedp.Click(chromedp.CSS(`#phone-hold`)))
	logOnFailure(t, ps.sw, "INVITE", "491", "browser")
	page.WaitFor(`document.getElementById('phone-hold').getAttribute('aria-pressed') === 'false'`, 10*time.Second)
	page.Do(chromedp.Click(chromedp.CSS(`#phone-keys`)), chromedp.Click(chromedp.CSS(`#phone-keypad-incall button[data-key="5"]`)))
	bob.waitEvent("the page's 5", 10*time.Second, func(ev baresipEvent) bool {
		return ev.Event && ev.Type == "CALL_DTMF_START" && strings.Contains(ev.raw, `"param":"5"`)
	}, isEvent("CALL_CLOSED"))
	page.Do(chromedp.Click(chromedp.CSS(`#phone-hangup`)))
	bob.waitEvent("CALL_CLOSED", 10*time.Second, isEvent("CALL_CLOSED"), nil)
	ps.waitAvailable("1001")
}

// TestWebPhonePageSaysWhenTheMicrophoneIsRefused: the browser refuses the microphone; calling
// says so plainly, and nothing is left ringing.
func TestWebPhonePageSaysWhenTheMicrophoneIsRefused(t *testing.T) {
	ps, _ := startBrowserSwitch(t)
	page := ps.phonePage("1001")
	browser.Eval[bool](page, `(navigator.mediaDevices.getUserMedia = () =>
		Promise.reject(new DOMException('Permission denied', 'NotAllowedError')), true)`)
	page.Do(
		chromedp.SendKeys(chromedp.CSS("#phone-number"), "1002"),
		chromedp.Click(chromedp.CSS("#phone-call")),
	)
	page.WaitFor(`!document.getElementById('phone-notice').hidden &&
		document.getElementById('phone-notice').textContent.includes('refused the microphone')`, 10*time.Second)
	if got := browser.Eval[string](page, `window.SwitchboardPhone.call`); got != "idle" {
		t.Errorf("phone call state %q after the refusal, want idle", got)
	}
}
