package api

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-voip/switchboard/internal/poll"
	"github.com/switchboard-voip/switchboard/presence"
)

// sseEvent is one event read from a stream, or one comment line.
type sseEvent struct {
	name, id, data string
	comment        string // set for a comment line (": ..."), alone
	at             time.Time
}

// stream is an open GET /api/v1/presence/events.
type stream struct {
	resp   *http.Response
	ctx    context.Context
	cancel context.CancelFunc
	events chan sseEvent // closed at the end of the stream
	done   chan struct{} // closed when read returns
}

// openStream connects as ext and reads events in the background.
func (e *env) openStream(t *testing.T, ext string) *stream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.srv.URL+"/api/v1/presence/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(ext, users[ext].password)
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	s := &stream{resp: resp, ctx: ctx, cancel: cancel, events: make(chan sseEvent, 100), done: make(chan struct{})}
	if resp.StatusCode != http.StatusOK {
		cancel()
		resp.Body.Close()
		t.Fatalf("events: status %d", resp.StatusCode)
	}
	go s.read(t)
	t.Cleanup(func() {
		cancel()
		resp.Body.Close()
		<-s.done // no t.Errorf after the test
	})
	return s
}

// deliver passes ev to the test, unless the stream was cancelled.
func (s *stream) deliver(ev sseEvent) {
	select {
	case s.events <- ev:
	case <-s.ctx.Done():
	}
}

// read parses the stream strictly: every line is a comment or a field
// this API sends, and an event ends at a blank line.
func (s *stream) read(t *testing.T) {
	defer close(s.done)
	defer close(s.events)
	sc := bufio.NewScanner(s.resp.Body)
	var ev sseEvent
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "" && ev == (sseEvent{}):
			// The blank line after a comment: dispatches nothing.
		case line == "":
			if ev.data == "" {
				t.Errorf("event without data: %+v", ev)
			}
			ev.at = time.Now()
			s.deliver(ev)
			ev = sseEvent{}
		case strings.HasPrefix(line, ": "):
			s.deliver(sseEvent{comment: line[2:], at: time.Now()})
		case strings.HasPrefix(line, "event: "):
			ev.name = line[len("event: "):]
		case strings.HasPrefix(line, "id: "):
			ev.id = line[len("id: "):]
		case strings.HasPrefix(line, "data: "):
			if ev.data != "" {
				t.Errorf("event with two data lines")
			}
			ev.data = line[len("data: "):]
		default:
			t.Errorf("unexpected line %q", line)
		}
	}
}

// next returns the next event or comment, failing after timeout.
func (s *stream) next(t *testing.T, timeout time.Duration) sseEvent {
	t.Helper()
	select {
	case ev, ok := <-s.events:
		if !ok {
			t.Fatal("stream ended")
		}
		return ev
	case <-time.After(timeout):
		t.Fatalf("no event within %v", timeout)
	}
	panic("unreachable")
}

// nextEvent is next, skipping keep-alive comments.
func (s *stream) nextEvent(t *testing.T, timeout time.Duration) sseEvent {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ev := s.next(t, time.Until(deadline))
		if ev.comment == "" {
			return ev
		}
	}
}

// snapshot reads the first event and checks it is the snapshot.
func (s *stream) snapshot(t *testing.T) []presenceState {
	t.Helper()
	ev := s.nextEvent(t, 2*time.Second)
	if ev.name != "snapshot" {
		t.Fatalf("first event %+v, want a snapshot", ev)
	}
	var list []presenceState
	if err := json.Unmarshal([]byte(ev.data), &list); err != nil {
		t.Fatalf("snapshot %q: %v", ev.data, err)
	}
	var maxSeq uint64
	for _, p := range list {
		maxSeq = max(maxSeq, p.Seq)
	}
	if ev.id != strconv.FormatUint(maxSeq, 10) {
		t.Errorf("snapshot id %q, want the highest seq %d", ev.id, maxSeq)
	}
	return list
}

// waitFor polls cond for up to 2 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	if !poll.Until(2*time.Second, cond) {
		t.Fatalf("timed out waiting for %s", what)
	}
}

func TestEventsSnapshotThenChangesWithin100ms(t *testing.T) {
	e := newEnv(t)
	if _, err := e.table.SetDND("1003", true); err != nil {
		t.Fatal(err)
	}
	s := e.openStream(t, "1004")
	for k, want := range map[string]string{
		"Content-Type":      "text/event-stream",
		"Cache-Control":     "no-cache",
		"X-Accel-Buffering": "no",
	} {
		if got := s.resp.Header.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	list := s.snapshot(t)
	if len(list) != 4 || list[2].Ext != "1003" || list[2].Status != "dnd" || list[0].Name != "Alice" {
		t.Fatalf("snapshot %+v", list)
	}

	// Another user's PUT: the change reaches this stream within 100 ms of
	// the PUT's answer (or before it).
	for _, status := range []string{"dnd", "available", "dnd"} {
		e.call(t, request{method: http.MethodPut, path: "/api/v1/presence/1002", body: `{"status":"` + status + `"}`, ext: "1002"}, http.StatusOK)
		answered := time.Now()
		ev := s.nextEvent(t, time.Second)
		lag := ev.at.Sub(answered)
		t.Logf("%s: event %v after the PUT returned", status, lag)
		if lag >= 100*time.Millisecond {
			t.Errorf("change arrived %v after the PUT returned, want < 100ms", lag)
		}
		if ev.name != "" {
			t.Errorf("change event named %q, want the default", ev.name)
		}
		p := decodePresence(t, []byte(ev.data))
		st, _ := e.table.Get("1002")
		if p.Ext != "1002" || p.Status != status || ev.id != strconv.FormatUint(st.Seq, 10) || p.Seq != st.Seq {
			t.Errorf("event id %s %+v; table has %+v", ev.id, p, st)
		}
	}

	// Changes from the SIP side (a call) arrive the same way.
	e.table.CallStarted("1004", "c1")
	p := decodePresence(t, []byte(s.nextEvent(t, time.Second).data))
	if p.Ext != "1004" || p.Status != "busy" || !p.OnCall {
		t.Errorf("call start event %+v", p)
	}
}

// TestEventsUserRemovedAndAdded: a user taken out of the directory gets one
// last event with "removed":true, one added gets an ordinary event, and no
// other event carries "removed".
func TestEventsUserRemovedAndAdded(t *testing.T) {
	e := newEnv(t)
	s := e.openStream(t, "1004")
	s.snapshot(t)

	if err := e.table.Remove("1003"); err != nil {
		t.Fatal(err)
	}
	ev := s.nextEvent(t, time.Second)
	if !strings.Contains(ev.data, `"removed":true`) {
		t.Errorf("removal event %s has no \"removed\":true", ev.data)
	}
	if p := decodePresence(t, []byte(ev.data)); p.Ext != "1003" || !p.Removed {
		t.Errorf("removal event %+v", p)
	}

	if _, err := e.table.Add(presence.User{Ext: "1009", Name: "Ivan"}); err != nil {
		t.Fatal(err)
	}
	ev = s.nextEvent(t, time.Second)
	if strings.Contains(ev.data, "removed") {
		t.Errorf("an added user's event %s mentions removed", ev.data)
	}
	if p := decodePresence(t, []byte(ev.data)); p.Ext != "1009" || p.Name != "Ivan" || p.Status != "available" {
		t.Errorf("added user's event %+v", p)
	}
}

func TestEventsKeepAlive(t *testing.T) {
	old := keepAliveInterval
	keepAliveInterval = 20 * time.Millisecond
	t.Cleanup(func() { keepAliveInterval = old })
	e := newEnv(t)
	s := e.openStream(t, "1002")
	s.snapshot(t)
	for range 2 {
		if ev := s.next(t, time.Second); ev.comment != "keep-alive" {
			t.Fatalf("got %+v, want a keep-alive comment", ev)
		}
	}
}

func TestEventsEndWhenClientLeaves(t *testing.T) {
	e := newEnv(t)
	s := e.openStream(t, "1002")
	s.snapshot(t)
	if n := e.table.Watchers(); n != 1 {
		t.Fatalf("%d watchers with one stream open, want 1", n)
	}
	s.cancel()
	waitFor(t, "the watcher to close", func() bool { return e.table.Watchers() == 0 })
	// The handler has returned: its request line is logged.
	waitFor(t, "the handler to return", func() bool {
		return e.logs.FilterMessage("http request").FilterField(zapString("path", "/api/v1/presence/events")).Len() == 1
	})
}

func TestEventsEndWhenServerCloses(t *testing.T) {
	e := newEnv(t)
	s1, s2 := e.openStream(t, "1002"), e.openStream(t, "1001")
	s1.snapshot(t)
	s2.snapshot(t)
	e.api.Close()
	e.api.Close() // idempotent
	for _, s := range []*stream{s1, s2} {
		select {
		case _, ok := <-s.events:
			if ok {
				t.Error("an event after Close")
			}
		case <-time.After(2 * time.Second):
			t.Fatal("stream still open 2 s after Close")
		}
	}
	waitFor(t, "the watchers to close", func() bool { return e.table.Watchers() == 0 })
	// Other routes still work.
	e.call(t, request{path: "/api/v1/presence", ext: "1002"}, http.StatusOK)
}

func TestEventsNeedAuth(t *testing.T) {
	e := newEnv(t)
	e.call(t, request{path: "/api/v1/presence/events", noAuth: true}, http.StatusUnauthorized)
	e.call(t, request{path: "/api/v1/presence/events", ext: "1002", password: "x"}, http.StatusUnauthorized)
	if n := e.table.Watchers(); n != 0 {
		t.Errorf("%d watchers after refused requests", n)
	}
	got := e.call(t, request{method: http.MethodHead, path: "/api/v1/presence/events", ext: "1002"}, http.StatusOK)
	if ct := got.header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("HEAD: Content-Type %q", ct)
	}
}
