package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/switchboard-voip/switchboard/presence"
)

// StatusFeed is a stream of presence changes, coalesced to the latest per user: Ready is
// signalled when Changes has something, and closed by Close. It is an alias of an interface
// literal (as presence.Feed is), so any table whose Watch returns that literal satisfies
// Presence; *presence.Table does.
type StatusFeed = interface {
	Ready() <-chan struct{}
	Changes() []presence.State
	Close()
}

// keepAliveInterval is how often an idle event stream gets a comment line,
// so proxies and NATs keep the connection open and a vanished client is
// noticed. A variable so tests can shorten it.
var keepAliveInterval = 15 * time.Second

// eventWriteTimeout bounds each write to an event stream: a client that
// stops reading (its TCP window full) is dropped instead of holding the
// handler forever.
var eventWriteTimeout = 10 * time.Second

// presenceEvents answers GET /api/v1/presence/events with a stream of
// Server-Sent Events (text/event-stream):
//
//	event: snapshot
//	id: 42
//	data: [{"ext":"1001",...},{"ext":"1002",...}]
//
//	id: 43
//	data: {"ext":"1002","status":"dnd",...}
//
//	: keep-alive
//
// The first event, named "snapshot", holds every user's presence as GET
// /api/v1/presence returns it; its id is the highest seq in it. Then each
// change is one unnamed event (EventSource's "message"), one data line
// with the user's presence as GET /api/v1/presence/{ext} returns it and
// id = its seq. Changes come coalesced: a client that falls behind gets
// each user's latest presence, not every step. A ": keep-alive" comment
// goes out whenever the stream has been quiet for keepAliveInterval. A
// reconnecting client gets a fresh snapshot (Last-Event-ID is not needed).
//
// The stream ends when the client goes away, a write fails or times out,
// or the server closes (Server.Close); the watcher is closed then.
func (s *Server) presenceEvents(w http.ResponseWriter, r *http.Request, _ principal) {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx: pass events through at once
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusOK)
		return
	}

	// Watch before the snapshot, so no change falls between them; a change
	// the snapshot already shows is skipped below by its seq.
	watcher := s.presence.Watch()
	defer watcher.Close()
	snapshot := presenceList(s.presence.List())
	shown := make(map[string]uint64, len(snapshot))
	var last uint64
	for _, st := range snapshot {
		shown[st.Ext] = st.Seq
		last = max(last, st.Seq)
	}

	stream := eventStream{w: w, rc: http.NewResponseController(w)}
	// The deadlines set per write must not outlive the stream on a
	// connection that serves further requests.
	defer func() { _ = stream.rc.SetWriteDeadline(time.Time{}) }()
	w.WriteHeader(http.StatusOK)
	if !stream.send("snapshot", last, snapshot) {
		return
	}

	interval := keepAliveInterval
	keepAlive := time.NewTicker(interval)
	defer keepAlive.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.closing:
			return
		case _, ok := <-watcher.Ready():
			if !ok {
				return // closed under us: the table is going away
			}
			sent := false
			for _, st := range watcher.Changes() {
				if st.Seq != 0 && st.Seq <= shown[st.Ext] {
					continue // already in the snapshot
				}
				stream.add("", st.Seq, toPresenceState(st))
				sent = true
			}
			if sent {
				if !stream.flush() {
					return
				}
				keepAlive.Reset(interval)
			}
		case <-keepAlive.C:
			stream.buf.WriteString(": keep-alive\n\n")
			if !stream.flush() {
				return
			}
		}
	}
}

// eventStream writes Server-Sent Events: add queues events, flush sends
// them.
type eventStream struct {
	w   http.ResponseWriter
	rc  *http.ResponseController
	buf bytes.Buffer
}

// add queues one event; name "" is the default "message" event. The data
// is one line: JSON encoding escapes every newline.
func (e *eventStream) add(name string, id uint64, data any) {
	body, err := json.Marshal(data)
	if err != nil {
		panic("api: encoding event: " + err.Error()) // our own types always encode
	}
	if name != "" {
		e.buf.WriteString("event: " + name + "\n")
	}
	e.buf.WriteString("id: " + strconv.FormatUint(id, 10) + "\n")
	e.buf.WriteString("data: ")
	e.buf.Write(body)
	e.buf.WriteString("\n\n")
}

// send adds one event and flushes it.
func (e *eventStream) send(name string, id uint64, data any) bool {
	e.add(name, id, data)
	return e.flush()
}

// flush writes the queued events to the client within eventWriteTimeout;
// false if the stream is broken.
func (e *eventStream) flush() bool {
	// Not every writer supports deadlines (httptest.ResponseRecorder);
	// writing without one is still right, so the error is ignored.
	_ = e.rc.SetWriteDeadline(time.Now().Add(eventWriteTimeout))
	_, err := e.w.Write(e.buf.Bytes())
	e.buf.Reset()
	if err == nil {
		err = e.rc.Flush()
	}
	return err == nil
}
