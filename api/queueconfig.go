package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"

	"github.com/switchboard-voip/switchboard/config"
	"github.com/switchboard-voip/switchboard/directory"
)

// queueConfig is a call queue's settings as /api/v1/queues/{ext} shows and takes them (GET
// /api/v1/queues, queues.go, is their live state). Music on hold is a file on the server, set
// in the file, and not changed here.
type queueConfig struct {
	Ext              string   `json:"ext"`
	Name             string   `json:"name"`
	Strategy         string   `json:"strategy"` // ringall, longest_idle or round_robin
	Members          []string `json:"members"`
	RingTimeout      float64  `json:"ring_timeout"`
	MaxWait          float64  `json:"max_wait"`
	Wrapup           float64  `json:"wrapup"`
	AnnouncePosition bool     `json:"announce_position"`
	Fallback         string   `json:"fallback"`
	AutoPause        int      `json:"auto_pause"`
	AutoResume       float64  `json:"auto_resume"`
}

func toQueueConfig(q *config.Queue) queueConfig {
	members := slices.Clone(q.Members)
	if members == nil {
		members = []string{}
	}
	return queueConfig{Ext: q.Ext, Name: q.Name, Strategy: q.Strategy, Members: members,
		RingTimeout: seconds(q.RingTimeout), MaxWait: seconds(q.MaxWait), Wrapup: seconds(q.Wrapup),
		AnnouncePosition: q.AnnouncePosition, Fallback: q.Fallback, AutoPause: q.AutoPause,
		AutoResume: seconds(q.AutoResume)}
}

// queueKind is how the handlers every kind shares (entryKind) make, change and show queues.
var queueKind = &entryKind[config.Queue, queueConfig]{
	noun:    "queue",
	path:    "queues[%d]",
	entries: func(d *config.Directory) *[]config.Queue { return &d.Queues },
	key:     func(q *config.Queue) string { return q.Ext },
	fresh:   config.NewQueue,
	decode: func(_ *config.Directory, q *config.Queue, raw json.RawMessage) (queueConfig, error) {
		return onto(toQueueConfig(q), raw)
	},
	lookup: lookupBy((*config.Config).Queue, toQueueConfig),
}

// getQueueConfig answers GET /api/v1/queues/{ext} (anyone signed in, as GET /api/v1/queues).
func (s *Server) getQueueConfig(w http.ResponseWriter, r *http.Request, _ principal) {
	queueKind.get(s, w, r.PathValue("ext"))
}

// queuesRoute answers GET /api/v1/queues: each queue's live state (listQueues), or with
// ?settings each queue's settings as GET /api/v1/queues/{ext} shows them, for the admins'
// forms. Either is 404 when the switch does not serve it.
func (s *Server) queuesRoute(w http.ResponseWriter, r *http.Request, p principal) {
	switch {
	case r.URL.Query().Has("settings") && s.dir != nil:
		s.listQueueConfigs(w, r, p)
	case !r.URL.Query().Has("settings") && s.queues != nil:
		s.listQueues(w, r, p)
	default:
		writeError(w, http.StatusNotFound, "not found")
	}
}

// listQueueConfigs answers GET /api/v1/queues?settings: every queue's settings.
func (s *Server) listQueueConfigs(w http.ResponseWriter, _ *http.Request, _ principal) {
	writeJSON(w, http.StatusOK, views(s.dir.Config().Queues, toQueueConfig))
}

// applyQueue sets q from v (all but its music on hold).
func applyQueue(d *config.Directory, q *config.Queue, v queueConfig, self string) error {
	name, ring, err := nameAndRing(v.Name, v.RingTimeout)
	if err != nil {
		return err
	}
	maxWait, err := duration("max_wait", v.MaxWait, false)
	if err != nil {
		return err
	}
	wrapup, err := duration("wrapup", v.Wrapup, true)
	if err != nil {
		return err
	}
	resume, err := duration("auto_resume", v.AutoResume, true)
	if err != nil {
		return err
	}
	if err := extAndMembers(d, v.Ext, self, v.Members); err != nil {
		return err
	}
	q.Ext, q.Name, q.Strategy, q.Members = v.Ext, name, v.Strategy, v.Members
	q.RingTimeout, q.MaxWait, q.Wrapup, q.AutoResume = ring, maxWait, wrapup, resume
	q.AnnouncePosition, q.Fallback, q.AutoPause = v.AnnouncePosition, v.Fallback, v.AutoPause
	return nil
}

// createQueue answers POST /api/v1/queues (admin): 201 with the queue; keys left out take a
// file's defaults.
func (s *Server) createQueue(w http.ResponseWriter, r *http.Request, p principal) {
	queueKind.create(s, w, r, p, applyQueue)
}

// putQueue answers PUT /api/v1/queues/{ext} (admin) with the fields to change: 200 with the
// queue. Callers waiting get the new settings at once (a member added is offered them); a new
// "ext" is refused while any wait, and what led to the old one (a fallback, a trunk's number)
// then leads to it.
func (s *Server) putQueue(w http.ResponseWriter, r *http.Request, p principal) {
	ext := r.PathValue("ext")
	// Asked before the change, not inside it: the switch's queue state is not the directory's
	// to lock, and a caller may arrive at any moment anyway (the switch copes with a queue
	// that goes).
	busy := s.waiting(ext) > 0
	queueKind.put(s, w, r, p, ext, func(d *config.Directory, q *config.Queue, v queueConfig, self string) error {
		if v.Ext != self && busy {
			return &editError{status: http.StatusConflict, field: "ext",
				msg: "callers are waiting in the queue: change its extension when it is empty"}
		}
		return applyQueue(d, q, v, self)
	})
}

// waiting is how many callers wait in queue ext, as GET /api/v1/queues shows them; 0 when the
// switch does not say.
func (s *Server) waiting(ext string) int {
	if s.queues == nil {
		return 0
	}
	for _, q := range s.queues.Queues() {
		if q.Ext == ext {
			return q.Waiting
		}
	}
	return 0
}

// deleteQueue answers DELETE /api/v1/queues/{ext} (admin): 204, or 409 while callers wait in
// it or a fallback or a trunk's number leads to it.
func (s *Server) deleteQueue(w http.ResponseWriter, r *http.Request, p principal) {
	ext := r.PathValue("ext")
	n := s.waiting(ext) // before the change: see putQueue
	s.removeEntry(w, r, p, "queue", func(d *config.Directory) error {
		if n > 0 && directory.QueueIndex(d, ext) >= 0 {
			return &editError{status: http.StatusConflict,
				msg: fmt.Sprintf("queue %s has %d callers waiting: remove it when it is empty", ext, n)}
		}
		return directory.RemoveQueue(d, ext)
	})
}
