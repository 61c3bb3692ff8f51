package api

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/switchboard-voip/switchboard/history"
	"github.com/switchboard-voip/switchboard/internal/clock"
	"github.com/switchboard-voip/switchboard/presence"
	"github.com/switchboard-voip/switchboard/queuestats"
)

// boardNoon is the time of testBoard's day: the records it stores end then.
var boardNoon = time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)

// testBoard is a Wallboard as cmd assembles it, but with the live part (callers waiting) set
// by the test: today's counts come from a real queuestats.Today fed by a real history.Store's
// OnAdd, agents from the presence table.
type testBoard struct {
	table   *presence.Table
	today   *queuestats.Today
	history *history.Store

	mu      sync.Mutex
	waiting int
	joined  time.Time
	changed chan struct{}
}

func newTestBoard(t *testing.T) *testBoard {
	t.Helper()
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "history.db"), 0o600, &bbolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	store, err := history.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	b := &testBoard{history: store, changed: make(chan struct{})}
	// The day's figures on a clock of their own, so a run near midnight counts the same.
	b.today = queuestats.New(queuestats.Options{Queues: []string{"700"}, OnChange: b.notify,
		Clock: clock.NewFake(boardNoon), Location: time.UTC})
	t.Cleanup(b.today.Close)
	store.OnAdd(b.today.Add)
	return b
}

func (b *testBoard) notify() {
	b.mu.Lock()
	close(b.changed)
	b.changed = make(chan struct{})
	b.mu.Unlock()
}

// setWaiting sets the callers waiting, as the flows' dispatcher would, and tells.
func (b *testBoard) setWaiting(n int) {
	b.mu.Lock()
	b.waiting, b.joined = n, time.Now()
	b.mu.Unlock()
	b.notify()
}

func (b *testBoard) Changed() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.changed
}

func (b *testBoard) Board() WallboardView {
	b.mu.Lock()
	waiting, joined := b.waiting, b.joined
	b.mu.Unlock()
	day := b.today.Queue("700")
	q := WallboardQueue{Ext: "700", Name: "Support", Waiting: waiting, AnsweredToday: day.Answered,
		AbandonedToday: day.Abandoned, AnsweredInTimeToday: day.AnsweredInTime, Slots: day.Slots[:]}
	if waiting > 0 {
		q.LongestWaitMS = time.Since(joined).Milliseconds()
	}
	if sl, ok := day.ServiceLevel(); ok {
		q.ServiceLevel = &sl
	}
	for _, ext := range []string{"1002", "1003"} {
		st, _ := b.table.Get(ext)
		q.Agents = append(q.Agents, WallboardAgent{Ext: ext, Name: st.Name, Status: string(st.Status),
			State: string(st.Status), Registered: st.Registered, AnsweredToday: day.AnsweredBy[ext]})
	}
	return WallboardView{Date: day.Date, Now: time.Now(), ServiceLevelSeconds: 20, ShortAbandonSeconds: 5,
		Queues: []WallboardQueue{q}}
}

// answered stores the record of a queue call an agent answered after waiting wait, as the
// SIP layer does when the call ends.
func (b *testBoard) answered(t *testing.T, agent string, wait time.Duration) {
	t.Helper()
	now := boardNoon
	_, err := b.history.Add(history.Record{Started: now.Add(-wait - time.Minute), Ended: now, From: "15550001",
		To: "700", Via: "700", Outcome: history.Answered, AnsweredBy: agent, HeldMS: wait.Milliseconds()})
	if err != nil {
		t.Fatal(err)
	}
}

func newWallboardEnv(t *testing.T) (*env, *testBoard) {
	t.Helper()
	b := newTestBoard(t)
	e := newEnv(t, func(o *Options) { o.Wallboard = b })
	b.table = e.table
	return e, b
}

// TestWallboardJSONShapeAndAuth: GET /api/v1/queues/wallboard answers any signed-in user with
// the board: every field the page and scripts rely on, service_level null before the first
// call, 96 slots; without credentials 401; a server without a wallboard 404.
func TestWallboardJSONShapeAndAuth(t *testing.T) {
	e, _ := newWallboardEnv(t)
	e.call(t, request{path: "/api/v1/queues/wallboard", noAuth: true}, http.StatusUnauthorized)
	e.call(t, request{path: "/api/v1/queues/wallboard", ext: "1002", password: "wrong"}, http.StatusUnauthorized)
	e.call(t, request{path: "/api/v1/queues/wallboard/events", noAuth: true}, http.StatusUnauthorized)

	got := e.call(t, request{path: "/api/v1/queues/wallboard", ext: "1004"}, http.StatusOK)
	if ct := got.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	var v map[string]any
	if err := json.Unmarshal(got.body, &v); err != nil {
		t.Fatalf("%v in %s", err, got.body)
	}
	for _, k := range []string{"date", "now", "service_level_seconds", "short_abandon_seconds", "queues"} {
		if _, ok := v[k]; !ok {
			t.Errorf("board has no %q: %s", k, got.body)
		}
	}
	if v["date"] != "2026-12-04" || v["service_level_seconds"] != 20.0 {
		t.Errorf("date %v, service_level_seconds %v", v["date"], v["service_level_seconds"])
	}
	queues, _ := v["queues"].([]any)
	if len(queues) != 1 {
		t.Fatalf("queues %v, want one", v["queues"])
	}
	q := queues[0].(map[string]any)
	for _, k := range []string{"ext", "name", "waiting", "longest_wait_ms", "answered_today", "abandoned_today",
		"short_abandoned_today", "unanswered_today", "answered_in_time_today", "service_level", "average_wait_ms",
		"agents", "slots"} {
		if _, ok := q[k]; !ok {
			t.Errorf("queue has no %q: %v", k, q)
		}
	}
	if q["service_level"] != nil {
		t.Errorf("service_level %v before any call, want null", q["service_level"])
	}
	if slots, _ := q["slots"].([]any); len(slots) != queuestats.Slots {
		t.Errorf("%d slots, want %d", len(slots), queuestats.Slots)
	}
	agents, _ := q["agents"].([]any)
	if len(agents) != 2 {
		t.Fatalf("agents %v", q["agents"])
	}
	a := agents[0].(map[string]any)
	if a["ext"] != "1002" || a["name"] != "Bob" || a["status"] != "available" || a["state"] != "available" ||
		a["answered_today"] != 0.0 {
		t.Errorf("agent %v", a)
	}

	page := e.call(t, request{path: "/wallboard", noAuth: true}, http.StatusOK)
	if ct := page.header.Get("Content-Type"); ct != "text/html; charset=utf-8" || page.header.Get("Content-Security-Policy") == "" {
		t.Errorf("GET /wallboard: Content-Type %q, CSP %q", ct, page.header.Get("Content-Security-Policy"))
	}

	bare := newEnv(t)
	bare.call(t, request{path: "/api/v1/queues/wallboard", ext: "1002"}, http.StatusNotFound)
	bare.call(t, request{path: "/api/v1/queues/wallboard/events", ext: "1002"}, http.StatusNotFound)
}

// openEvents opens an event stream at path as ext and reads it in the background.
func (e *env) openEvents(t *testing.T, ext, path string) *stream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(ext, users[ext].password)
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		cancel()
		resp.Body.Close()
		t.Fatalf("%s: status %d", path, resp.StatusCode)
	}
	s := &stream{resp: resp, ctx: ctx, cancel: cancel, events: make(chan sseEvent, 100), done: make(chan struct{})}
	go s.read(t)
	t.Cleanup(func() {
		cancel()
		resp.Body.Close()
		<-s.done
	})
	return s
}

// nextBoard reads events until a board that satisfies ok, failing after within.
func nextBoard(t *testing.T, s *stream, within time.Duration, what string, ok func(WallboardQueue) bool) WallboardView {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ev := s.nextEvent(t, time.Until(deadline))
		if ev.name != "board" {
			t.Fatalf("event %+v, want a board", ev)
		}
		var v WallboardView
		if err := json.Unmarshal([]byte(ev.data), &v); err != nil {
			t.Fatalf("board %q: %v", ev.data, err)
		}
		if len(v.Queues) == 1 && ok(v.Queues[0]) {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("no board with %s within %v; last %s", what, within, ev.data)
		}
	}
}

// TestWallboardEventsFollowAQueueCall: the stream starts with the board, then sends it again
// when a caller joins, when an agent's status changes, and when the call's record is stored
// (answered_today and the service level move); a burst of changes comes as few boards, a
// quiet stream gets keep-alive comments, and the server's Close ends it.
func TestWallboardEventsFollowAQueueCall(t *testing.T) {
	old := keepAliveInterval
	keepAliveInterval = 50 * time.Millisecond
	t.Cleanup(func() { keepAliveInterval = old })
	e, b := newWallboardEnv(t)
	s := e.openEvents(t, "1004", "/api/v1/queues/wallboard/events")
	if ct := s.resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type %q", ct)
	}
	nextBoard(t, s, 2*time.Second, "the first board", func(q WallboardQueue) bool {
		return q.Waiting == 0 && q.AnsweredToday == 0 && q.ServiceLevel == nil
	})

	b.setWaiting(1)
	nextBoard(t, s, 2*time.Second, "a caller waiting", func(q WallboardQueue) bool { return q.Waiting == 1 })

	if _, err := e.table.SetDND("1003", true); err != nil {
		t.Fatal(err)
	}
	nextBoard(t, s, 2*time.Second, "Carol on DND", func(q WallboardQueue) bool { return q.Agents[1].Status == "dnd" })

	// Bob answers after 12 s; the call ends and its record is stored.
	b.setWaiting(0)
	b.answered(t, "1002", 12*time.Second)
	v := nextBoard(t, s, 2*time.Second, "the answered call counted", func(q WallboardQueue) bool {
		return q.Waiting == 0 && q.AnsweredToday == 1
	})
	q := v.Queues[0]
	if q.ServiceLevel == nil || *q.ServiceLevel != 1 || q.AnsweredInTimeToday != 1 || q.Agents[0].AnsweredToday != 1 {
		t.Errorf("after one call answered in 12 s: %+v", q)
	}
	total := 0
	for _, n := range q.Slots {
		total += n
	}
	if total != 1 {
		t.Errorf("slots hold %d calls, want 1", total)
	}

	// A burst of 200 changes within a few ms comes as a few boards (at most one per
	// wallboardMinGap), the last one current; keep-alive comments go on meanwhile.
	for i := range 200 {
		b.setWaiting(i%7 + 4)
	}
	b.setWaiting(3)
	boards, comments := 0, 0
	deadline := time.Now().Add(3 * time.Second)
	for settled := false; ; {
		ev := s.next(t, time.Until(deadline))
		if ev.comment != "" {
			if ev.comment != "keep-alive" {
				t.Errorf("comment %q", ev.comment)
			}
			comments++
			if settled && comments >= 2 {
				break // quiet for a while after the current board: nothing more follows
			}
			continue
		}
		boards++
		var v WallboardView
		if err := json.Unmarshal([]byte(ev.data), &v); err != nil {
			t.Fatal(err)
		}
		settled, comments = v.Queues[0].Waiting == 3, 0
	}
	if boards < 1 || boards > 3 {
		t.Errorf("%d boards for a burst of 201 changes, want 1 to 3 (at most one per %v)", boards, wallboardMinGap)
	}
	t.Logf("a burst of 201 changes came as %d boards", boards)

	// The server closing (shutdown) ends the stream.
	e.api.Close()
	for end := time.After(2 * time.Second); ; {
		select {
		case _, ok := <-s.events:
			if !ok {
				return
			}
		case <-end:
			t.Fatal("the stream goes on after Close")
		}
	}
}
