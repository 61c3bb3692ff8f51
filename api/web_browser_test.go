package api

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/switchboard-voip/switchboard/internal/poll"
	"github.com/switchboard-voip/switchboard/media"
	"github.com/switchboard-voip/switchboard/presence"
)

// TestWebSignInTeamAndDNDLive: a user signs in, sees the team, sets DND
// with the switch; the API shows dnd and another session's page turns the
// row amber within a second, without reloading. A call turns a row red and
// its end green again.
func TestWebSignInTeamAndDNDLive(t *testing.T) {
	e := newDefaultWebEnv(t)
	b := newBrowser(t, e, 40*time.Second)
	bob, carol := b.tab(), b.tab()
	bob.signIn("1002")
	carol.signIn("1003")

	got := eval[[]string](bob, `[...document.querySelectorAll('#team .row')].map(r => r.dataset.ext + ' ' + r.querySelector('.name').firstChild.textContent)`)
	want := []string{"1001 Alice", "1002 Bob", "1003 Carol", "1004 Dave"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("team rows = %q, want %q", got, want)
	}
	if n := eval[int](bob, `document.querySelectorAll('#team .row-dnd').length`); n != 0 {
		t.Errorf("a non-admin sees %d status controls for others, want none", n)
	}
	if hint := eval[string](bob, `document.querySelector('#team .row[data-ext="1004"] .ext').innerText`); hint != "1004 · no phone registered" {
		t.Errorf("hint for a user without phone = %q", hint)
	}
	carol.WaitRow("1002", "available", time.Second)

	// Bob turns DND on with his switch (a real click).
	bob.Do(chromedp.Click(chromedp.CSS("#me-switch-label .track")))
	bob.WaitFor(`document.getElementById('dnd-switch').checked && document.getElementById('me-pill').dataset.status === 'dnd'`, 2*time.Second)
	if role := eval[string](bob, `document.getElementById('dnd-switch').getAttribute('role')`); role != "switch" {
		t.Errorf("the status switch has role %q, want switch", role)
	}
	if !poll.Until(2*time.Second, func() bool { st, _ := e.table.Get("1002"); return st.Status == presence.DND }) {
		st, _ := e.table.Get("1002")
		t.Fatalf("after the switch the table shows 1002 %s, want dnd", st.Status)
	}
	changed := time.Now()
	carol.WaitRow("1002", "dnd", time.Second)
	t.Logf("other session saw DND after %v", time.Since(changed).Round(time.Millisecond))

	// A call: Carol's page shows Dave busy (red) and available again after.
	e.table.SetRegistered("1004", true)
	e.table.CallStarted("1004", "c1")
	carol.WaitRow("1004", "busy", time.Second)
	if hint := eval[string](carol, `document.querySelector('#team .row[data-ext="1004"] .ext').innerText`); hint != "1004 · on a call" {
		t.Errorf("hint while on a call = %q, want \"1004 · on a call\"", hint)
	}
	e.table.CallEnded("1004", "c1")
	carol.WaitRow("1004", "available", time.Second)

	// Carol's own call shows in her header: Busy, and the switch still
	// offers only DND.
	e.table.CallStarted("1003", "c1")
	carol.WaitFor(`document.getElementById('me-pill').dataset.status === 'busy'`, time.Second)
	if txt := eval[string](carol, `document.getElementById('me-pill').innerText`); txt != "Busy · on a call" {
		t.Errorf("own pill on a call = %q", txt)
	}
	e.table.CallEnded("1003", "c1")

	// Bob switches back: available.
	bob.Do(chromedp.Click(chromedp.CSS("#me-switch-label .track")))
	carol.WaitRow("1002", "available", time.Second)
	if st, _ := e.table.Get("1002"); st.Status != presence.Available {
		t.Errorf("after switching back 1002 is %s", st.Status)
	}

	// The filter narrows the list by name or extension.
	bob.Do(chromedp.SendKeys(chromedp.CSS("#filter"), "car"))
	bob.WaitFor(`[...document.querySelectorAll('#team .row')].filter(r => !r.hidden).map(r => r.dataset.ext).join() === '1003'`, time.Second)
}

// TestWebAdminControlsOthers: an admin has a control on each other user's
// row and changes their status from the page.
func TestWebAdminControlsOthers(t *testing.T) {
	e := newDefaultWebEnv(t)
	b := newBrowser(t, e, 30*time.Second)
	alice := b.tab()
	alice.signIn("1001")
	if n := eval[int](alice, `document.querySelectorAll('#team .row-dnd').length`); n != 3 {
		t.Errorf("admin sees %d controls, want 3 (everyone but herself)", n)
	}
	label := eval[string](alice, `document.querySelector('#team .row[data-ext="1002"] .row-dnd').getAttribute('aria-label')`)
	if label != "Do not disturb for Bob (1002)" {
		t.Errorf("control label = %q", label)
	}
	alice.Do(chromedp.Click(chromedp.CSS(`#team .row[data-ext="1002"] .switch .track`)))
	alice.WaitRow("1002", "dnd", 2*time.Second)
	if st, _ := e.table.Get("1002"); !st.DND {
		t.Error("the admin's click did not set 1002 to DND")
	}
	alice.Do(chromedp.Click(chromedp.CSS(`#team .row[data-ext="1002"] .switch .track`)))
	alice.WaitRow("1002", "available", 2*time.Second)
}

// TestWebVoicemailInboxPlays: a message recorded into the mailbox shows in
// the inbox, its audio loads, and it can be marked heard and deleted.
func TestWebVoicemailInboxPlays(t *testing.T) {
	e := newDefaultWebEnv(t)
	older := leaveIn(t, e, "1002", "1003", "Carol", 8000)
	// The next message must have a later received time (kept to the millisecond).
	first, err := e.store.Get("1002", older)
	if err != nil {
		t.Fatal(err)
	}
	poll.Require(t, time.Second, "the clock passing the first message's received time", func() bool {
		return time.Now().Truncate(time.Millisecond).After(first.Received)
	})
	newer := leaveIn(t, e, "1002", "5551234", "", 16000)

	b := newBrowser(t, e, 30*time.Second)
	bob := b.tab()
	bob.signIn("1002")
	bob.WaitFor(`document.getElementById('vm-count').innerText === '2'`, 3*time.Second)
	bob.Do(chromedp.Click(chromedp.CSS("#tab-voicemail")))
	bob.WaitFor(`document.querySelectorAll('#vm-list .vm').length === 2`, 3*time.Second)
	ids := eval[[]string](bob, `[...document.querySelectorAll('#vm-list .vm')].map(li => li.dataset.id)`)
	if fmt.Sprint(ids) != fmt.Sprint([]string{newer, older}) {
		t.Errorf("inbox order = %v, want newest first %v", ids, []string{newer, older})
	}
	// The audio element loads the WAV (through the session cookie).
	bob.WaitFor(`(() => { const a = document.querySelector('#vm-list .vm[data-id="`+older+`"] audio');
		return a.readyState >= 1 && a.duration > 0.9 && a.duration < 1.1; })()`, 5*time.Second)

	bob.Do(chromedp.Click(chromedp.CSS(`#vm-list .vm[data-id="` + older + `"] .vm-actions button`)))
	bob.WaitFor(`document.getElementById('vm-count').innerText === '1'`, 3*time.Second)
	if m, err := e.store.Get("1002", older); err != nil || !m.Heard {
		t.Errorf("after \"Mark as heard\": heard=%v, err=%v", m.Heard, err)
	}
	bob.Do(chromedp.Click(chromedp.CSS(`#vm-list .vm[data-id="` + newer + `"] .button.danger`)))
	bob.WaitFor(`document.querySelectorAll('#vm-list .vm').length === 1 && document.getElementById('vm-count').hidden`, 3*time.Second)
	if _, err := e.store.Get("1002", newer); err == nil {
		t.Error("the deleted message is still in the store")
	}
}

// leaveIn records a message of n samples in box and returns its id.
func leaveIn(t *testing.T, e *webEnv, box, from, fromName string, n int) string {
	t.Helper()
	rec, err := e.store.Record(box, from, fromName)
	if err != nil {
		t.Fatal(err)
	}
	samples := make([]int16, n)
	for i := range samples {
		samples[i] = int16(4000 * math.Sin(float64(i)/5))
	}
	if err := rec.Write(samples); err != nil {
		t.Fatal(err)
	}
	m, err := rec.Commit(0)
	if err != nil {
		t.Fatal(err)
	}
	return m.ID
}

// TestWebGreetingUpload: a WAV chosen on the answering options page is
// uploaded, stored at 8 kHz, playable, and can be reset.
func TestWebGreetingUpload(t *testing.T) {
	e := newDefaultWebEnv(t)
	wav := filepath.Join(t.TempDir(), "my-dnd.wav")
	if err := os.WriteFile(wav, toneWAV(22050, 2, 0.6), 0o600); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, e, 30*time.Second)
	bob := b.tab()
	bob.signIn("1002")
	bob.Do(chromedp.Click(chromedp.CSS("#tab-greetings")))
	bob.WaitFor(`document.querySelectorAll('#greetings .greeting').length === 3`, 3*time.Second)
	if src := eval[string](bob, `document.querySelector('.greeting[data-kind="dnd"] .source').innerText`); src != "Built-in prompt" {
		t.Errorf("before upload the DND greeting shows %q", src)
	}
	bob.Do(
		chromedp.SetUploadFiles(chromedp.CSS(`.greeting[data-kind="dnd"] input[type=file]`), []string{wav}),
		chromedp.Click(chromedp.CSS(`.greeting[data-kind="dnd"] .button.primary`)),
	)
	bob.WaitFor(`document.querySelector('.greeting[data-kind="dnd"] .source').innerText === 'Your recording'`, 3*time.Second)
	bob.WaitFor(`(() => { const a = document.querySelector('.greeting[data-kind="dnd"] audio');
		return a && a.readyState >= 1 && a.duration > 0.5; })()`, 5*time.Second)

	// The API gives back the stored file: 8 kHz mono.
	resp := getAs(t, e, "1002", "/api/v1/users/1002/greetings/dnd")
	if resp.status != http.StatusOK {
		t.Fatalf("GET greeting: %d %s", resp.status, resp.body)
	}
	if rate := binary.LittleEndian.Uint32(resp.body[24:]); rate != media.SampleRate {
		t.Errorf("stored rate %d, want %d", rate, media.SampleRate)
	}
	samples, err := media.ReadWAV(bytes.NewReader(resp.body))
	if err != nil || len(samples) < 4700 || len(samples) > 4900 {
		t.Errorf("stored greeting: %d samples, err %v; want about 4800 (0.6 s)", len(samples), err)
	}
	if g := e.greetings.Greeting("1002", "dnd"); len(g) != len(samples) {
		t.Errorf("callers would hear %d samples, want the upload's %d", len(g), len(samples))
	}

	bob.Do(chromedp.Click(chromedp.CSS(`.greeting[data-kind="dnd"] .greeting-actions .button:not(.primary)`)))
	bob.WaitFor(`document.querySelector('.greeting[data-kind="dnd"] .source').innerText === 'Built-in prompt'`, 3*time.Second)
	if g := e.greetings.Greeting("1002", "dnd"); g != nil {
		t.Errorf("after reset callers hear %d samples, want the built-in prompt", len(g))
	}
}

// TestWebWrongPasswordMessage: a wrong password shows a clear message and
// the form stays.
func TestWebWrongPasswordMessage(t *testing.T) {
	e := newDefaultWebEnv(t)
	b := newBrowser(t, e, 30*time.Second)
	tb := b.tab()
	tb.open()
	tb.fillSignIn("1002", "not-bobs")
	tb.WaitFor(`!document.getElementById('signin-error').hidden`, 3*time.Second)
	if msg := eval[string](tb, `document.getElementById('signin-error').innerText`); msg != "Wrong extension or password. Please try again." {
		t.Errorf("message = %q", msg)
	}
	if !eval[bool](tb, `document.getElementById('app').hidden`) {
		t.Error("the app shows after a wrong password")
	}
	// No browser password dialog: the page got no Basic challenge.
	// Then the right password works from the same form.
	tb.fillSignIn("", users["1002"].password)
	tb.WaitFor(`!document.getElementById('app').hidden`, 3*time.Second)
}

// TestWebScreenshots writes the team view at desktop and phone width, with
// every status and hint on show, for a person to look at. It makes pictures
// rather than checking much, so it runs only when SWITCHBOARD_SCREENSHOTS
// names the folder to write them to (`make screenshots`).
func TestWebScreenshots(t *testing.T) {
	dir := os.Getenv("SWITCHBOARD_SCREENSHOTS")
	if dir == "" {
		t.Skip("SWITCHBOARD_SCREENSHOTS not set: `make screenshots` writes the pictures")
	}
	people := []presence.User{
		{Ext: "1001", Name: "Alice Andersen"}, {Ext: "1002", Name: "Bob Brown"}, {Ext: "1003", Name: "Carol Chen"},
		{Ext: "1004", Name: "Dave Dubois"}, {Ext: "1005", Name: "Erin Evans"}, {Ext: "1006", Name: "Frank Fischer"},
		{Ext: "1007", Name: "Grace Garcia"}, {Ext: "1008", Name: "Heidi Hansen"},
	}
	us := testUsers{}
	for i, p := range people {
		us[p.Ext] = testUser{password: "pw-" + p.Ext, admin: i == 0}
	}
	e := newWebEnv(t, us, people)
	for _, ext := range []string{"1001", "1002", "1003", "1005", "1006", "1008"} {
		e.table.SetRegistered(ext, true)
	}
	e.table.CallStarted("1002", "c1")
	e.table.CallStarted("1006", "c1")
	e.calls.calls = []Call{{ID: "c1", From: "1006", To: "1002", State: CallTalking, Started: time.Now().Add(-95 * time.Second),
		Answered: time.Now().Add(-90 * time.Second), Parties: []string{"1006", "1002"}}}
	if _, err := e.table.SetDND("1003", true); err != nil {
		t.Fatal(err)
	}
	if _, err := e.table.SetDND("1007", true); err != nil {
		t.Fatal(err)
	}
	leaveIn(t, e, "1001", "1004", "Dave Dubois", 8000)
	leaveIn(t, e, "1001", "15551230000", "", 24000)
	if err := e.greetings.Put("1001", "dnd", toneWAV(8000, 1, 2)); err != nil {
		t.Fatal(err)
	}

	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, e, 40*time.Second)
	phone := []chromedp.EmulateViewportOption{chromedp.EmulateScale(2), chromedp.EmulateMobile, chromedp.EmulatePortrait}
	for _, c := range []struct {
		name          string
		width, height int64
		opts          []chromedp.EmulateViewportOption
		who           string // "" stays on the sign-in form, after a wrong password
		panel         string // tab to show; "" the team
	}{
		{"team-desktop.png", 1280, 800, nil, "1001", ""},
		{"team-phone.png", 390, 844, phone, "1005", ""},
		{"team-phone-admin.png", 390, 844, phone, "1001", ""},
		{"team-transfer-desktop.png", 1280, 800, nil, "1002", ""}, // Bob is on a call with Frank
		{"team-transfer-phone.png", 390, 844, phone, "1002", ""},
		{"voicemail-desktop.png", 1280, 800, nil, "1001", "voicemail"},
		{"greetings-phone.png", 390, 844, phone, "1001", "greetings"},
		{"signin-phone.png", 390, 844, phone, "", ""},
	} {
		tb := b.tab()
		tb.Do(chromedp.EmulateViewport(c.width, c.height, c.opts...))
		switch {
		case c.who == "":
			tb.open()
			tb.fillSignIn("1002", "wrong")
			tb.WaitFor(`!document.getElementById('signin-error').hidden`, 3*time.Second)
		case c.panel != "":
			tb.signIn(c.who)
			tb.Do(chromedp.Click(chromedp.CSS("#tab-" + c.panel)))
			tb.WaitFor(`document.querySelectorAll('#vm-list .vm audio, #greetings audio').length > 0 &&
				[...document.querySelectorAll('audio')].every(a => a.readyState >= 1)`, 3*time.Second)
		default:
			tb.signIn(c.who)
			tb.WaitFor(`document.getElementById('live').dataset.live === 'true'`, 3*time.Second)
			if c.who == "1002" {
				tb.WaitFor(`!document.getElementById('my-call').hidden`, 5*time.Second)
			}
		}
		png, err := chromedp.Run(tb.Context(), chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, c.name)
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
		// Nothing sticks out sideways on a phone.
		if w := eval[int](tb, `document.documentElement.scrollWidth`); w > int(c.width) {
			t.Errorf("%s: page is %d px wide in a %d px viewport", c.name, w, c.width)
		}
		t.Logf("screenshot: %s", path)
	}
}

// TestWebFiveHundredUsers: a team of 500 renders, and a burst of changes
// is applied row by row without rebuilding the list.
func TestWebFiveHundredUsers(t *testing.T) {
	var people []presence.User
	us := testUsers{}
	for i := range 500 {
		ext := strconv.Itoa(2000 + i)
		people = append(people, presence.User{Ext: ext, Name: fmt.Sprintf("User %03d", i)})
		us[ext] = testUser{password: "pw"}
	}
	e := newWebEnv(t, us, people)
	b := newBrowser(t, e, 40*time.Second)
	tb := b.tab()
	tb.signIn("2000")
	tb.WaitFor(`document.querySelectorAll('#team .row').length === 500`, 5*time.Second)
	// Mark the first row's element: a full re-render would replace it.
	eval[bool](tb, `(document.querySelector('#team .row[data-ext="2001"]').__mark = true)`)

	start := time.Now()
	for i := 1; i < 500; i += 2 {
		e.table.CallStarted(strconv.Itoa(2000+i), "c1")
	}
	tb.WaitFor(`document.querySelectorAll('#team .row[data-status="busy"]').length === 250`, 5*time.Second)
	t.Logf("250 changes shown in %v", time.Since(start).Round(time.Millisecond))
	if !eval[bool](tb, `document.querySelector('#team .row[data-ext="2001"]').__mark === true`) {
		t.Error("the row element was replaced: the list is re-rendered per event")
	}
	tb.Do(chromedp.SendKeys(chromedp.CSS("#filter"), "User 49"))
	tb.WaitFor(`[...document.querySelectorAll('#team .row')].filter(r => !r.hidden).length === 10`, 2*time.Second)
}

// getAs is a GET with Basic credentials, outside the browser.
func getAs(t *testing.T, e *webEnv, ext, path string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(ext, e.users[ext].password)
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(resp.Body); err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b.Bytes()}
}

// toneWAV is a 16-bit PCM WAV of a 440 Hz tone.
func toneWAV(rate, channels int, seconds float64) []byte {
	n := int(float64(rate) * seconds)
	var data bytes.Buffer
	for i := range n {
		v := int16(8000 * math.Sin(2*math.Pi*440*float64(i)/float64(rate)))
		for range channels {
			_ = binary.Write(&data, binary.LittleEndian, v)
		}
	}
	var b bytes.Buffer
	le := binary.LittleEndian
	b.WriteString("RIFF")
	_ = binary.Write(&b, le, uint32(36+data.Len()))
	b.WriteString("WAVEfmt ")
	for _, v := range []any{uint32(16), uint16(1), uint16(channels), uint32(rate), uint32(rate * channels * 2), uint16(channels * 2), uint16(16)} {
		_ = binary.Write(&b, le, v)
	}
	b.WriteString("data")
	_ = binary.Write(&b, le, uint32(data.Len()))
	b.Write(data.Bytes())
	return b.Bytes()
}

// TestWebReconnectsAfterDrop: when the event stream's connection drops,
// the page reconnects by itself and catches up with what changed
// meanwhile (the new stream starts with a snapshot).
func TestWebReconnectsAfterDrop(t *testing.T) {
	e := newDefaultWebEnv(t)
	b := newBrowser(t, e, 30*time.Second)
	bob := b.tab()
	bob.signIn("1002")
	bob.WaitFor(`document.getElementById('live').dataset.live === 'true'`, 2*time.Second)

	e.srv.CloseClientConnections()
	bob.WaitFor(`document.getElementById('live').dataset.live === 'false'`, 2*time.Second)
	if _, err := e.table.SetDND("1003", true); err != nil {
		t.Fatal(err)
	}
	// Chromium retries an event stream after about 3 s.
	bob.WaitRow("1003", "dnd", 8*time.Second)
	bob.WaitFor(`document.getElementById('live').dataset.live === 'true'`, time.Second)
	if !eval[bool](bob, `document.getElementById('signin').hidden`) {
		t.Error("a dropped connection signed the user out")
	}
}

// TestWebRestartAsksToSignInAgain: after a restart (a new session key) the
// page's stream is refused; the page shows the sign-in form with a
// message, and signing in again brings the team back.
func TestWebRestartAsksToSignInAgain(t *testing.T) {
	e := newDefaultWebEnv(t)
	b := newBrowser(t, e, 30*time.Second)
	bob := b.tab()
	bob.signIn("1002")
	bob.WaitFor(`document.getElementById('live').dataset.live === 'true'`, 2*time.Second)

	e.restart()
	e.srv.CloseClientConnections()
	bob.WaitFor(`!document.getElementById('signin').hidden`, 10*time.Second)
	if msg := eval[string](bob, `document.getElementById('signin-error').innerText`); msg != "Your session has ended. Please sign in again." {
		t.Errorf("message after a restart = %q", msg)
	}
	bob.fillSignIn("", users["1002"].password) // the extension is still filled in
	bob.WaitFor(`!document.getElementById('app').hidden && document.getElementById('live').dataset.live === 'true'`, 3*time.Second)
}

// TestWebAdminSeesCallsAndHangsUp: an admin's Calls view lists the calls in
// progress with their parties, state, duration and routing trace, follows
// them without a reload, and its Hang up button hangs a call up. A user
// without admin rights has no Calls view.
func TestWebAdminSeesCallsAndHangsUp(t *testing.T) {
	e := newDefaultWebEnv(t)
	now := time.Now()
	e.calls.mu.Lock()
	e.calls.calls = []Call{{ID: "talk@test", From: "1002", To: "1003", State: CallTalking,
		Started: now.Add(-75 * time.Second), Answered: now.Add(-70 * time.Second), Parties: []string{"1002", "1003"},
		Trace: []string{"1003 is available", "ring 1003's phones"}}}
	e.calls.mu.Unlock()
	b := newBrowser(t, e, 40*time.Second)
	alice, bob := b.tab(), b.tab()
	bob.signIn("1002")
	if !eval[bool](bob, `document.getElementById('tab-calls').hidden`) {
		t.Error("a user who is not an admin sees the Calls tab")
	}

	alice.signIn("1001")
	alice.Do(chromedp.Click(chromedp.CSS("#tab-calls")))
	const row = `document.querySelector('#calls .call[data-id="talk@test"]')`
	alice.WaitFor(row+` !== null`, 3*time.Second)
	got := eval[[]string](alice, `(() => { const r = `+row+`; return [
		r.querySelector('.call-parties').innerText, r.querySelector('.call-state').innerText,
		r.querySelector('.call-time').innerText]; })()`)
	if got[0] != "Bob (1002) → Carol (1003)" || got[1] != "Talking" {
		t.Errorf("call row shows %q", got)
	}
	var m, sec int
	if _, err := fmt.Sscanf(got[2], "%d:%d · answered", &m, &sec); err != nil {
		t.Errorf("call row time %q: %v", got[2], err)
	} else if shown, want := time.Duration(m*60+sec)*time.Second, time.Since(now.Add(-75*time.Second)); shown < want-3*time.Second || shown > want+time.Second {
		t.Errorf("call row time %q, want the call's duration, about %v", got[2], want.Round(time.Second))
	}
	// The trace opens on a click.
	alice.Do(chromedp.Click(chromedp.CSS(`#calls .call[data-id="talk@test"] .call-trace summary`)))
	steps := eval[[]string](alice, `[...`+row+`.querySelectorAll('.call-trace-steps li')].filter(li => li.offsetParent !== null).map(li => li.innerText)`)
	if fmt.Sprint(steps) != fmt.Sprint([]string{"1003 is available", "ring 1003's phones"}) {
		t.Errorf("visible trace %q", steps)
	}

	// A new call shows up on its own, newest first, and the open trace stays open.
	e.calls.mu.Lock()
	e.calls.calls = append(e.calls.calls, Call{ID: "ring@test", From: "15551234567", To: "1004", State: CallRinging,
		Started: time.Now(), Parties: []string{"1004"}})
	e.calls.mu.Unlock()
	alice.WaitFor(`[...document.querySelectorAll('#calls .call')].map(r => r.dataset.id).join() === 'ring@test,talk@test'`, 5*time.Second)
	if !eval[bool](alice, row+`.querySelector('.call-trace').open`) {
		t.Error("the trace closed when the list was refreshed")
	}

	// Hang up: the switch is asked to end that call, and its row goes.
	alice.Do(chromedp.Click(chromedp.CSS(`#calls .call[data-id="talk@test"] .call-hangup`)))
	alice.WaitFor(row+` === null && document.querySelectorAll('#calls .call').length === 1`, 3*time.Second)
	if ids := e.calls.hungUpIDs(); fmt.Sprint(ids) != "[talk@test]" {
		t.Errorf("hung up %v, want [talk@test]", ids)
	}
}

// TestWebTransferCallToColleague: a user on a call sees it above the team, with Transfer and
// To voicemail next to each colleague but the one they talk to (Transfer stands out for an
// Available colleague, and is offered for DND too); a click asks the switch to send the other
// party on, with the user as By, and the offer goes. A second call goes to a DND colleague's
// voicemail. Without a call, nothing is offered.
func TestWebTransferCallToColleague(t *testing.T) {
	e := newDefaultWebEnv(t)
	if _, err := e.table.SetDND("1001", true); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, e, 40*time.Second)
	bob := b.tab()
	bob.signIn("1002")
	if n := eval[int](bob, `[...document.querySelectorAll('#team .row-transfer-actions')].filter(x => !x.hidden).length`); n != 0 {
		t.Errorf("without a call %d rows offer a transfer", n)
	}

	// Dave calls Bob; Bob answers.
	now := time.Now()
	e.calls.mu.Lock()
	e.calls.calls = []Call{{ID: "talk/1@test", From: "1004", To: "1002", State: CallTalking, Started: now.Add(-20 * time.Second),
		Answered: now.Add(-15 * time.Second), Parties: []string{"1004", "1002"}}}
	e.calls.mu.Unlock()
	e.table.CallStarted("1004", "talk/1@test")
	e.table.CallStarted("1002", "talk/1@test")
	bob.WaitFor(`!document.getElementById('my-call').hidden`, 5*time.Second)
	if with := eval[string](bob, `document.getElementById('my-call-with').innerText`); with != "On a call with Dave (1004)" {
		t.Errorf("call bar shows %q", with)
	}
	const shown = `[...document.querySelectorAll('#team .row')].filter(r => { const x = r.querySelector('.row-transfer-actions'); return x && !x.hidden; })`
	if got := eval[[]string](bob, shown+`.map(r => r.dataset.ext + ' ' + r.dataset.status + ' ' + r.querySelector('.row-transfer').classList.contains('primary'))`); fmt.Sprint(got) != fmt.Sprint([]string{"1001 dnd false", "1003 available true"}) {
		t.Errorf("rows offering a transfer (ext status primary) = %q, want Alice (DND, plain) and Carol (available, primary)", got)
	}
	if label := eval[string](bob, `document.querySelector('#team .row[data-ext="1003"] .row-transfer').getAttribute('aria-label')`); label != "Transfer the call to Carol (1003), Available" {
		t.Errorf("Transfer's label = %q", label)
	}

	// Bob transfers Dave to Carol.
	bob.Do(chromedp.Click(chromedp.CSS(`#team .row[data-ext="1003"] .row-transfer`)))
	poll.Require(t, 3*time.Second, "the switch asked to transfer the call", func() bool { return len(e.calls.transferred()) == 1 })
	if got, want := e.calls.transferred()[0], (fakeTransfer{ID: "talk/1@test", TransferRequest: TransferRequest{By: "1002", To: "1003"}}); got != want {
		t.Errorf("the switch was asked %+v, want %+v", got, want)
	}
	// The offer goes at once, though the call still lists Bob until the switch ends his leg.
	bob.WaitFor(`document.getElementById('my-call').hidden && `+shown+`.length === 0`, 2*time.Second)
	bob.WaitFor(`!document.getElementById('toast').hidden && document.getElementById('toast').innerText === 'Transferring Dave (1004) to Carol (1003).'`, 2*time.Second)
	time.Sleep(2500 * time.Millisecond) // a poll or more later, the handed-off call is still not offered
	if !eval[bool](bob, `document.getElementById('my-call').hidden`) {
		t.Error("the transferred call is offered again while it still lists Bob")
	}

	// A new call from Carol: Bob sends her to Alice's voicemail (Alice is on DND).
	e.calls.mu.Lock()
	e.calls.calls = []Call{{ID: "talk2@test", From: "1003", To: "1002", State: CallTalking, Started: time.Now(),
		Answered: time.Now(), Parties: []string{"1003", "1002"}}}
	e.calls.mu.Unlock()
	bob.WaitFor(`document.getElementById('my-call-with').innerText === 'On a call with Carol (1003)' && !document.getElementById('my-call').hidden`, 5*time.Second)
	bob.Do(chromedp.Click(chromedp.CSS(`#team .row[data-ext="1001"] .row-to-voicemail`)))
	poll.Require(t, 3*time.Second, "the switch asked to send the call to voicemail", func() bool { return len(e.calls.transferred()) == 2 })
	if got, want := e.calls.transferred()[1], (fakeTransfer{ID: "talk2@test", TransferRequest: TransferRequest{By: "1002", To: "1001", Voicemail: true}}); got != want {
		t.Errorf("the switch was asked %+v, want %+v", got, want)
	}

	// The call ends: nothing is offered.
	e.calls.mu.Lock()
	e.calls.calls = nil
	e.calls.mu.Unlock()
	e.table.CallEnded("1002", "talk/1@test")
	bob.WaitFor(`document.getElementById('my-call').hidden && `+shown+`.length === 0`, 3*time.Second)
}

// TestWebTransferRefusedShowsWhy: when the switch refuses (the call is no longer connected),
// the page says so and keeps offering the call.
func TestWebTransferRefusedShowsWhy(t *testing.T) {
	e := newDefaultWebEnv(t)
	e.calls.mu.Lock()
	e.calls.calls = []Call{{ID: "talk@test", From: "1002", To: "1003", State: CallTalking, Started: time.Now(),
		Answered: time.Now(), Parties: []string{"1002", "1003"}}}
	e.calls.transferErr = ErrNotTransferable
	e.calls.mu.Unlock()
	e.table.CallStarted("1002", "talk@test")
	b := newBrowser(t, e, 30*time.Second)
	bob := b.tab()
	bob.signIn("1002")
	bob.WaitFor(`!document.getElementById('my-call').hidden`, 5*time.Second)
	bob.Do(chromedp.Click(chromedp.CSS(`#team .row[data-ext="1004"] .row-transfer`)))
	bob.WaitFor(`document.getElementById('toast').dataset.kind === 'error' && !document.getElementById('toast').hidden`, 3*time.Second)
	if msg := eval[string](bob, `document.getElementById('toast').innerText`); msg != "The call cannot be transferred right now: it is not connected." {
		t.Errorf("toast %q", msg)
	}
	if eval[bool](bob, `document.getElementById('my-call').hidden || document.querySelector('#team .row[data-ext="1004"] .row-transfer').disabled`) {
		t.Error("after a refusal the call is no longer offered")
	}
}
