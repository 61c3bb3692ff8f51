package api

import (
	"net/http"
	"time"
)

// The queue wallboard: one figure sheet per queue for a wall screen (GET /wallboard) and for
// scripts: callers waiting now, today's answered and abandoned calls, the service level,
// the agents and calls per 15 minutes, as JSON and live over Server-Sent Events.

// WallboardAgent is one agent of a queue on the wallboard.
type WallboardAgent struct {
	Ext  string `json:"ext"`
	Name string `json:"name"`
	// Status is the agent's presence: available, busy or dnd.
	Status string `json:"status"`
	// State is what the queue makes of it: available (would be offered the next caller),
	// ringing (being offered one), busy (on a call), wrapup (resting after a call), dnd, or
	// offline (no phone registered).
	State      string `json:"state"`
	Registered bool   `json:"registered"`
	// AnsweredToday is the queue's calls this agent answered today.
	AnsweredToday int `json:"answered_today"`
}

// WallboardQueue is one queue's figures: live ones (waiting, longest wait, agents) and the
// day's (the rest, counted as each call ends).
type WallboardQueue struct {
	Ext           string `json:"ext"`
	Name          string `json:"name"`
	Waiting       int    `json:"waiting"`
	LongestWaitMS int64  `json:"longest_wait_ms"`
	// AnsweredToday, AbandonedToday and UnansweredToday split today's calls by how they left
	// the queue: an agent took them, the caller hung up, or max_wait sent them to the
	// queue's fallback. ShortAbandonedToday are the abandons within the short-abandon
	// threshold (in AbandonedToday, but not held against the service level).
	AnsweredToday       int `json:"answered_today"`
	AbandonedToday      int `json:"abandoned_today"`
	ShortAbandonedToday int `json:"short_abandoned_today"`
	UnansweredToday     int `json:"unanswered_today"`
	// AnsweredInTimeToday is the answered calls that waited at most the service-level
	// threshold.
	AnsweredInTimeToday int `json:"answered_in_time_today"`
	// ServiceLevel is AnsweredInTimeToday over answered, abandoned (but short abandons) and
	// unanswered calls, 0 to 1; null before the day's first call.
	ServiceLevel *float64 `json:"service_level"`
	// AverageWaitMS is the answered calls' average wait today.
	AverageWaitMS int64            `json:"average_wait_ms"`
	Agents        []WallboardAgent `json:"agents"`
	// Slots are today's calls per 15 minutes: Slots[0] came in from 00:00 to 00:15.
	Slots []int `json:"slots"`
}

// WallboardView is the whole wallboard.
type WallboardView struct {
	// Date is the day the figures count, YYYY-MM-DD in the switch's time zone.
	Date string `json:"date"`
	// Now is when the board was read, in the switch's time zone (its offset tells a wall
	// screen elsewhere the switch's time of day, for the clock and the chart's current slot).
	Now time.Time `json:"now"`
	// ServiceLevelSeconds and ShortAbandonSeconds are the thresholds the figures use.
	ServiceLevelSeconds int              `json:"service_level_seconds"`
	ShortAbandonSeconds int              `json:"short_abandon_seconds"`
	Queues              []WallboardQueue `json:"queues"`
}

// Wallboard is the source of the wallboard; cmd assembles it from the config, the flows'
// queues, the status table and today's counts (queuestats). Its methods must be safe for
// concurrent use.
type Wallboard interface {
	// Board returns the wallboard as it is now.
	Board() WallboardView
	// Changed returns a channel closed at the next change of what Board shows, other than
	// presence (the API follows the status table itself): a caller joining or leaving, an
	// offer or wrap-up, a call counted, midnight. Take it before reading Board, so no change
	// falls between them.
	Changed() <-chan struct{}
}

// wallboardMinGap is the least time between two boards on one event stream: a burst of
// changes (a ring-all offer, a queue draining) becomes one board, and a wall screen redraws
// a few times a second at most.
const wallboardMinGap = 250 * time.Millisecond

// getWallboard serves GET /api/v1/queues/wallboard to any signed-in user: as with GET
// /api/v1/queues, the queues are the team's, and a wall screen signs in as an ordinary user.
func (s *Server) getWallboard(w http.ResponseWriter, _ *http.Request, _ principal) {
	writeJSON(w, http.StatusOK, s.board())
}

// board is the wallboard with every list present ([] rather than null).
func (s *Server) board() WallboardView {
	v := s.wallboard.Board()
	if v.Queues == nil {
		v.Queues = []WallboardQueue{}
	}
	for i := range v.Queues {
		if v.Queues[i].Agents == nil {
			v.Queues[i].Agents = []WallboardAgent{}
		}
		if v.Queues[i].Slots == nil {
			v.Queues[i].Slots = []int{}
		}
	}
	return v
}

// wallboardEvents answers GET /api/v1/queues/wallboard/events with Server-Sent Events: the
// whole board at once, then again after anything on it changes, at most one every
// wallboardMinGap:
//
//	event: board
//	id: 1
//	data: {"date":"2026-12-04","queues":[...]}
//
//	: keep-alive
//
// Each board is GET /api/v1/queues/wallboard's body, complete, so a client just redraws and
// a reconnecting one needs nothing but the next board. Longest waits grow between boards
// without an event: a client adds the time since the board came. A ": keep-alive" comment
// goes out after keepAliveInterval without a board. The stream ends as the presence stream
// does: the client goes away, a write fails or times out, or the server closes.
func (s *Server) wallboardEvents(w http.ResponseWriter, r *http.Request, _ principal) {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusOK)
		return
	}

	// Follow changes before the first board, so none falls between.
	changed := s.wallboard.Changed()
	var statuses <-chan struct{}
	var feed StatusFeed
	if s.presence != nil {
		feed = s.presence.Watch()
		defer feed.Close()
		statuses = feed.Ready()
	}

	stream := eventStream{w: w, rc: http.NewResponseController(w)}
	defer func() { _ = stream.rc.SetWriteDeadline(time.Time{}) }()
	w.WriteHeader(http.StatusOK)
	var id uint64 = 1
	if !stream.send("board", id, s.board()) {
		return
	}
	sent := time.Now()

	keepAlive := time.NewTicker(keepAliveInterval)
	defer keepAlive.Stop()
	// gap fires when a pending board may go; nil while none is pending.
	var gap *time.Timer
	var gapC <-chan time.Time
	defer func() {
		if gap != nil {
			gap.Stop()
		}
	}()
	pending := false
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.closing:
			return
		case <-changed:
			changed = s.wallboard.Changed()
			pending = true
		case _, ok := <-statuses:
			if !ok {
				return // the table is going away
			}
			feed.Changes() // only that something changed matters: the board is read whole
			pending = true
		case <-gapC:
			gapC = nil
		case <-keepAlive.C:
			stream.buf.WriteString(": keep-alive\n\n")
			if !stream.flush() {
				return
			}
			continue
		}
		if !pending || gapC != nil {
			continue
		}
		if wait := wallboardMinGap - time.Since(sent); wait > 0 {
			if gap == nil {
				gap = time.NewTimer(wait)
			} else {
				gap.Reset(wait)
			}
			gapC = gap.C
			continue
		}
		pending = false
		id++
		if !stream.send("board", id, s.board()) {
			return
		}
		sent = time.Now()
		keepAlive.Reset(keepAliveInterval)
	}
}
