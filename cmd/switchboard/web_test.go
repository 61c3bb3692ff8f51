package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/switchboard-voip/switchboard/media"
)

// Whole-system tests of the team page: the real switchboard binary, its page in a headless
// Chromium (chromedp) and sipgo phones placing real calls through it.

// TestWebCallTurnsCalleeRedThenGreen: Alice (admin) watches the team page while Carol's phone
// calls Bob's phone through the switch. Once Bob's phone answers, his row turns Busy (red)
// within a second; once Carol hangs up it is Available (green) again, without a reload. On the
// way Alice sets Dave to DND with her admin switch, and the team view is photographed at
// desktop and phone width with one user busy and one on DND.
func TestWebCallTurnsCalleeRedThenGreen(t *testing.T) {
	sw := startWebSwitch(t)
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	defer cancel()
	bob := newWebPhone(t, sw.cfg.SIPPort, "1002")
	carol := newWebPhone(t, sw.cfg.SIPPort, "1003")
	bob.Register(ctx)
	carol.Register(ctx)

	alice := newWebPage(t, sw, 25*time.Second)
	alice.signIn("1001")
	alice.WaitRow("1002", "available", time.Second)
	alice.WaitRow("1003", "available", time.Second)
	if hint := alice.RowHint("1002"); hint != "1002" {
		t.Errorf("Bob's registered, idle row says %q, want just \"1002\"", hint)
	}
	if hint := alice.RowHint("1005"); hint != "1005 · no phone registered" {
		t.Errorf("Erin's row (no phone) says %q", hint)
	}

	// Alice puts Dave on DND from the team view (an admin's control on his row).
	alice.Do(chromedp.Click(chromedp.CSS(`#team .row[data-ext="1004"] .switch .track`)))
	alice.WaitRow("1004", "dnd", 2*time.Second)
	if v := sw.presence(t, "1004"); v["status"] != "dnd" {
		t.Errorf("after the admin's click the API shows 1004 %v, want dnd", v)
	}

	// Carol calls Bob; Bob's phone answers.
	d, _ := carol.Call(ctx, "1002")
	answered := time.Now()
	select {
	case <-bob.Answered():
	case <-time.After(2 * time.Second):
		t.Fatal("Carol's call was answered but Bob's phone never saw the ACK for its 200")
	}
	took := alice.WaitRow("1002", "busy", time.Second)
	t.Logf("Bob's row turned busy %v after the answer (%v of it waiting on the page)",
		time.Since(answered).Round(time.Millisecond), took.Round(time.Millisecond))
	if hint := alice.RowHint("1002"); hint != "1002 · on a call" {
		t.Errorf("Bob's row on a call says %q, want \"1002 · on a call\"", hint)
	}
	if v := sw.presence(t, "1002"); v["status"] != "busy" || v["on_call"] != true {
		t.Errorf("API during the call: 1002 %v, want busy and on_call", v)
	}

	// Nothing sticks out sideways at desktop or phone width, with Bob (and Carol) busy and Dave
	// on DND. Pictures of it are written only when SWITCHBOARD_SCREENSHOTS names a folder
	// (`make screenshots`).
	dir := os.Getenv("SWITCHBOARD_SCREENSHOTS")
	if dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range []string{
		alice.Screenshot(dir, "system-team-desktop.png", 1280, 800, false),
		alice.Screenshot(dir, "system-team-phone.png", 390, 844, true),
	} {
		if s != "" {
			t.Logf("screenshot: %s", s)
		}
	}
	alice.Do(chromedp.EmulateViewport(1280, 800))

	// Carol hangs up: Bob's phone gets the BYE and his row is green again, without a reload.
	marked := webEval[bool](alice, `(window.__sameDocument = true)`)
	hungUp := time.Now()
	if err := d.Bye(ctx); err != nil {
		t.Fatalf("BYE: %v", err)
	}
	took = alice.WaitRow("1002", "available", time.Second)
	t.Logf("Bob's row turned available %v after the BYE (%v waiting on the page)",
		time.Since(hungUp).Round(time.Millisecond), took.Round(time.Millisecond))
	if hint := alice.RowHint("1002"); hint != "1002" {
		t.Errorf("Bob's row after the call says %q, want just \"1002\"", hint)
	}
	if !marked || !webEval[bool](alice, `window.__sameDocument === true`) {
		t.Error("the page was reloaded")
	}
	alice.WaitRow("1003", "available", time.Second)
	alice.WaitRow("1004", "dnd", time.Second)
	if v := sw.presence(t, "1002"); v["status"] != "available" || v["on_call"] != false {
		t.Errorf("API after the call: 1002 %v, want available, not on a call", v)
	}
}

// TestWebUploadedDNDGreetingIsWhatCallersHear: Bob uploads a WAV (a 600 Hz tone, 16 kHz) as
// his DND greeting on the page's answering options, switches DND on with the page's switch,
// and the next caller hears that tone after the switch answers, before the 1 kHz beep.
func TestWebUploadedDNDGreetingIsWhatCallersHear(t *testing.T) {
	sw := startWebSwitch(t)
	const greetingLen = 1500 * time.Millisecond
	wav := filepath.Join(t.TempDir(), "bob-dnd-600hz.wav")
	if err := os.WriteFile(wav, toneWAV16k(600, 0.4, greetingLen), 0o600); err != nil {
		t.Fatal(err)
	}

	page := newWebPage(t, sw, 25*time.Second)
	page.signIn("1002")
	page.Do(chromedp.Click(chromedp.CSS("#tab-greetings")))
	page.WaitFor(`document.querySelectorAll('#greetings .greeting').length === 3`, 3*time.Second)
	dnd := `.greeting[data-kind="dnd"]`
	if src := webEval[string](page, `document.querySelector('`+dnd+` .source').innerText`); src != "Built-in prompt" {
		t.Errorf("before the upload the DND greeting shows %q, want \"Built-in prompt\"", src)
	}
	page.Do(
		chromedp.SetUploadFiles(chromedp.CSS(dnd+` input[type=file]`), []string{wav}),
		chromedp.Click(chromedp.CSS(dnd+` .button.primary`)),
	)
	page.WaitFor(`document.querySelector('`+dnd+` .source').innerText === 'Your recording'`, 3*time.Second)
	page.WaitFor(`(() => { const a = document.querySelector('`+dnd+` audio');
		return a && a.readyState >= 1 && a.duration > 1.3 && a.duration < 1.7; })()`, 5*time.Second)
	code, body := sw.api(t, http.MethodGet, "/api/v1/users/1002/greetings", "1002")
	var list []struct{ Kind, Source string }
	if code != http.StatusOK || json.Unmarshal(body, &list) != nil {
		t.Fatalf("GET /api/v1/users/1002/greetings: %d %s", code, body)
	}
	for _, g := range list {
		if want := map[bool]string{true: "uploaded", false: "builtin"}[g.Kind == "dnd"]; g.Source != want {
			t.Errorf("greeting %s is %q, want %q (%s)", g.Kind, g.Source, want, body)
		}
	}

	// DND on with the switch at the top of the page.
	page.Do(chromedp.Click(chromedp.CSS("#tab-team")), chromedp.Click(chromedp.CSS("#me-switch-label .track")))
	page.WaitFor(`document.getElementById('dnd-switch').checked && document.getElementById('me-pill').dataset.status === 'dnd'`, 2*time.Second)
	if v := sw.presence(t, "1002"); v["status"] != "dnd" {
		t.Fatalf("after the switch the API shows 1002 %v, want dnd", v)
	}

	// Carol calls Bob: the switch answers for him and plays his greeting, then the beep.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	carol := newWebPhone(t, sw.cfg.SIPPort, "1003")
	d, dst := carol.Call(ctx, "1002")
	heard := carol.Listen(ctx, dst, greetingLen+400*time.Millisecond+time.Second)
	if err := d.Bye(ctx); err != nil {
		t.Errorf("BYE: %v", err)
	}
	if len(heard) < media.SampleRate {
		t.Fatalf("the caller received %v of audio after the answer, want at least the greeting and the beep", durationOf(heard))
	}

	// Classify 50 ms blocks: the greeting's 600 Hz, the beep's 1 kHz, or neither.
	const block = media.SampleRate / 20
	dominant := func(s []int16, f float64, others ...float64) bool {
		l := media.ToneLevel(s, f, media.SampleRate)
		if l < 0.005 {
			return false
		}
		for _, o := range others {
			if media.ToneLevel(s, o, media.SampleRate)*20 > l {
				return false
			}
		}
		return true
	}
	first600, last600, firstBeep, n600 := -1, -1, -1, 0
	var kinds []byte
	for i := 0; (i+1)*block <= len(heard); i++ {
		s := heard[i*block : (i+1)*block]
		switch {
		case dominant(s, 600, 400, 500, 700, 800, 1000):
			kinds = append(kinds, '6')
			n600++
			if first600 < 0 {
				first600 = i
			}
			last600 = i
		case dominant(s, 1000, 600, 800, 900, 1100, 1200):
			kinds = append(kinds, 'B')
			if firstBeep < 0 {
				firstBeep = i
			}
		default:
			kinds = append(kinds, '.')
		}
	}
	t.Logf("50 ms blocks heard (6 = 600 Hz greeting, B = 1 kHz beep): %s", kinds)
	if first600 < 0 {
		t.Fatalf("no 600 Hz in the %v the caller heard: the uploaded greeting did not play", durationOf(heard))
	}
	if got, want := time.Duration(n600)*50*time.Millisecond, greetingLen; got < want-300*time.Millisecond || got > want+200*time.Millisecond {
		t.Errorf("600 Hz heard for %v, want about %v (the uploaded greeting)", got, want)
	}
	if firstBeep < 0 {
		t.Errorf("no 1 kHz beep after the greeting")
	} else if firstBeep <= last600 {
		t.Errorf("the beep (block %d) came before the end of the greeting (block %d)", firstBeep, last600)
	}
	greet := heard[first600*block : (last600+1)*block]
	level := media.ToneLevel(greet, 600, media.SampleRate)
	for _, o := range []float64{400, 500, 700, 800, 1000} {
		if ol := media.ToneLevel(greet, o, media.SampleRate); level < 20*ol {
			t.Errorf("greeting: level at 600 Hz %.4f is not clearly above %.0f Hz (%.4f)", level, o, ol)
		}
	}
	if first600 > 0 {
		// Nothing but (near) silence before the greeting: not the built-in prompt.
		pre := heard[:first600*block]
		if l := media.ToneLevel(pre, 600, media.SampleRate); loudness(pre) > 300 {
			t.Errorf("the caller heard %v of other audio (mean |x| %d, 600 Hz %.4f) before the greeting",
				durationOf(pre), loudness(pre), l)
		}
	}
}

// loudness is the mean absolute sample value.
func loudness(s []int16) int {
	if len(s) == 0 {
		return 0
	}
	var sum int
	for _, x := range s {
		sum += max(int(x), -int(x))
	}
	return sum / len(s)
}
