package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/switchboard-voip/switchboard/flow"
	"github.com/switchboard-voip/switchboard/internal/browser"
	"github.com/switchboard-voip/switchboard/presence"
)

// wallboardQueue is the queue of the wallboard tests: Bob is its one agent, so whether a
// caller waits or is offered is his status alone.
const wallboardQueue = `queues:
  - ext: "700"
    name: Support
    members: ["1002"]
    ring_timeout: 15s
    max_wait: 5m
    wrapup: 0s
    fallback: "voicemail:1002"
`

// TestWallboardShowsAQueueCallLive: Dave signs in on /wallboard (a wall screen) while Carol
// calls queue 700 and Bob, its agent, is on DND: the board shows one caller waiting, the
// longest wait ticking and Bob on DND, without a reload. Bob turns DND off, his phone takes the
// call, and the board shows nobody waiting and Bob on a call; when Carol hangs up the answered
// count moves to 1, the service level to 100 % and the chart's slot of now to one call.
// (The switch counts by the wall clock: a run across midnight would see the call counted on
// the day before and fail; every other moment of the day is fine.)
func TestWallboardShowsAQueueCallLive(t *testing.T) {
	sw := startWebSwitch(t, wallboardQueue)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	bob := newWebPhone(t, sw.cfg.SIPPort, "1002")
	carol := newWebPhone(t, sw.cfg.SIPPort, "1003")
	bob.Register(ctx)
	carol.Register(ctx)
	if code, body := apiSend(t, http.MethodPut, sw.cfg.HTTPPort, "/api/v1/presence/1002", "1002", webPassword("1002"),
		"application/json", []byte(`{"status":"dnd"}`)); code != http.StatusOK {
		t.Fatalf("Bob's DND on: %d %s", code, body)
	}

	wall := &webPage{Page: browser.Start(t, 40*time.Second).Page(), t: t, sw: sw}
	wall.Do(chromedp.Navigate(sw.base + "/wallboard"))
	wall.WaitFor(`!document.getElementById('signin').hidden`, 5*time.Second)
	wall.Do(
		chromedp.SendKeys(chromedp.CSS("#signin-ext"), "1004"),
		chromedp.SendKeys(chromedp.CSS("#signin-password"), webPassword("1004")),
		chromedp.Click(chromedp.CSS("#signin-button")),
	)
	const q = `document.querySelector('.queue[data-ext="700"]')`
	figure := func(name string) string {
		return q + `.querySelector('[data-figure="` + name + `"] .value').textContent`
	}
	agent := func(ext string) string {
		return q + `.querySelector('.agent[data-ext="` + ext + `"]').dataset.state`
	}
	wall.WaitFor(`document.getElementById('live').dataset.live === 'true' && `+q+` !== null`, 5*time.Second)
	if got := webEval[[]string](wall, `[`+figure("waiting")+`, `+figure("answered")+`, `+figure("service-level")+`, `+agent("1002")+`]`); got[0] != "0" || got[1] != "0" || got[2] != "—" || got[3] != "dnd" {
		t.Errorf("board before any call: waiting, answered, service level, Bob = %q; want 0, 0, —, dnd", got)
	}
	if n := webEval[int](wall, q+`.querySelectorAll('.bars .bar').length`); n != 96 {
		t.Errorf("the chart has %d bars, want 96", n)
	}

	// Carol calls the queue: the switch answers her and she waits.
	webEval[bool](wall, `(window.__sameDocument = true)`)
	called := time.Now() // the switch runs in this process's time zone: the slot is the same
	d, _ := carol.Call(ctx, "700")
	took := wall.WaitFor(figure("waiting")+` === '1'`, 3*time.Second)
	t.Logf("the waiting caller showed %v after the switch answered", took.Round(time.Millisecond))
	wall.WaitFor(figure("longest-wait")+` !== '0:00'`, 3*time.Second) // ticks on the page

	// Bob is free again: the queue offers Carol to his phone, which answers.
	if code, body := apiSend(t, http.MethodPut, sw.cfg.HTTPPort, "/api/v1/presence/1002", "1002", webPassword("1002"),
		"application/json", []byte(`{"status":"available"}`)); code != http.StatusOK {
		t.Fatalf("Bob's DND off: %d %s", code, body)
	}
	select {
	case <-bob.Answered():
	case <-ctx.Done():
		t.Fatal("the queue never put Carol through to Bob's phone")
	}
	wall.WaitFor(figure("waiting")+` === '0' && `+agent("1002")+` === 'busy'`, 3*time.Second)
	if got := webEval[string](wall, figure("answered")); got != "0" {
		t.Errorf("answered %q while the call is still on, want 0 (a call counts when it ends)", got)
	}

	if err := d.Bye(ctx); err != nil {
		t.Fatalf("Carol's BYE: %v", err)
	}
	wall.WaitFor(figure("answered")+` === '1'`, 3*time.Second)
	wall.WaitFor(agent("1002")+` === 'available'`, 3*time.Second)
	if got := webEval[[]string](wall, `[`+figure("service-level")+`, `+figure("abandoned")+`, `+
		q+`.querySelector('.agent[data-ext="1002"] .count').textContent]`); got[0] != "100%" || got[1] != "0" || got[2] != "1 answered" {
		t.Errorf("after the call: service level, abandoned, Bob's count = %q; want 100%%, 0, 1 answered", got)
	}
	if !webEval[bool](wall, `window.__sameDocument === true`) {
		t.Error("the page was reloaded")
	}
	bars := webEval[[]int](wall, `[...`+q+`.querySelectorAll('.bars .bar')].map(b => Number(b.dataset.count))`)
	now := webEval[int](wall, `[...`+q+`.querySelectorAll('.bars .bar')].findIndex(b => b.dataset.now === 'true')`)
	total, at := 0, -1
	for i, n := range bars {
		total += n
		if n > 0 {
			at = i
		}
	}
	// The call is in the slot it came in (the one of `called`, or the next if a quarter hour
	// struck right then); the slot of now is marked: that one, or the next if one struck since.
	slot := called.Hour()*4 + called.Minute()/15
	if total != 1 || at < slot || at > slot+1 || now < at || now > at+1 {
		t.Errorf("chart: %d calls in all, in slot %d; slot of now %d; want the one call in slot %d (%s)",
			total, at, now, slot, called.Format("15:04"))
	}

	// Nothing sticks out sideways on a full-HD wall screen or a smaller one; pictures only when
	// SWITCHBOARD_SCREENSHOTS names a folder (make screenshots).
	dir := os.Getenv("SWITCHBOARD_SCREENSHOTS")
	if dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range []string{
		wall.Screenshot(dir, "system-wallboard-1080p.png", 1920, 1080, false),
		wall.Screenshot(dir, "system-wallboard-720p.png", 1280, 720, false),
	} {
		if s != "" {
			t.Logf("screenshot: %s", s)
		}
	}

	// The API says the same.
	code, body := sw.api(t, http.MethodGet, "/api/v1/queues/wallboard", "1004")
	var board struct {
		Queues []struct {
			AnsweredToday int      `json:"answered_today"`
			ServiceLevel  *float64 `json:"service_level"`
		} `json:"queues"`
	}
	if err := json.Unmarshal(body, &board); code != http.StatusOK || err != nil || len(board.Queues) != 1 ||
		board.Queues[0].AnsweredToday != 1 || board.Queues[0].ServiceLevel == nil || *board.Queues[0].ServiceLevel != 1 {
		t.Errorf("GET /api/v1/queues/wallboard: %d %s", code, body)
	}
}

// TestWallboardAgentStates: what the board calls an agent, from their status and the queue's
// view of them. DND and a call come first (a queue offers neither), then an offer and a
// wrap-up, then whether a phone is registered.
func TestWallboardAgentStates(t *testing.T) {
	live := flow.QueueStats{Ringing: []string{"1002"}, WrapUp: []string{"1003"}}
	for _, c := range []struct {
		st   presence.State
		want string
	}{
		{presence.State{Ext: "1001", Status: presence.Available, Registered: true}, "available"},
		{presence.State{Ext: "1001", Status: presence.Available}, "offline"},
		{presence.State{Ext: "1001", Status: presence.DND, Registered: true}, "dnd"},
		{presence.State{Ext: "1001", Status: presence.Busy, OnCall: true, Registered: true}, "busy"},
		{presence.State{Ext: "1002", Status: presence.Available, Registered: true}, "ringing"},
		{presence.State{Ext: "1003", Status: presence.Available, Registered: true}, "wrapup"},
		{presence.State{Ext: "1003", Status: presence.DND, Registered: true}, "dnd"},
		{presence.State{Ext: "1003", Status: presence.Busy, OnCall: true, Registered: true}, "busy"},
	} {
		if got := agentState(c.st, live); got != c.want {
			t.Errorf("%s %s registered=%t: %q, want %q", c.st.Ext, c.st.Status, c.st.Registered, got, c.want)
		}
	}
}

// TestWallboardChangeSignalWakesEveryWaiter: each Notify closes the channel every waiter holds
// and hands out a fresh one, so a waiter that took its channel before the change never misses
// it and one that takes it after waits for the next.
func TestWallboardChangeSignalWakesEveryWaiter(t *testing.T) {
	s := newChangeSignal()
	a, b := s.Changed(), s.Changed()
	s.Notify()
	for _, ch := range []<-chan struct{}{a, b} {
		select {
		case <-ch:
		default:
			t.Fatal("a waiter was not woken")
		}
	}
	select {
	case <-s.Changed():
		t.Fatal("the channel after a Notify is already closed")
	default:
	}
}
