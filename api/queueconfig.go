package api

import (
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

// getQueueConfig answers GET /api/v1/queues/{ext} (anyone signed in, as GET /api/v1/queues).
func (s *Server) getQueueConfig(w http.ResponseWriter, r *http.Request, _ principal) {
	q, ok := s.dir.Config().Queue(r.PathValue("ext"))
	if !ok {
		writeError(w, http.StatusNotFound, "no such queue")
		return
	}
	writeJSON(w, http.StatusOK, toQueueConfig(q))
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
	cfg := s.dir.Config()
	out := make([]queueConfig, 0, len(cfg.Queues))
	for i := range cfg.Queues {
		out = append(out, toQueueConfig(&cfg.Queues[i]))
	}
	writeJSON(w, http.StatusOK, out)
}

// applyQueue sets q from v (all but its music on hold).
func applyQueue(d *config.Directory, q *config.Queue, v queueConfig, self string) error {
	name, err := named(v.Name)
	if err != nil {
		return err
	}
	ring, err := duration("ring_timeout", v.RingTimeout, false)
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
	if err := directory.ExtFree(d, v.Ext, self); err != nil {
		return own(err)
	}
	if err := directory.Members(d, v.Members); err != nil {
		return own(err)
	}
	q.Ext, q.Name, q.Strategy, q.Members = v.Ext, name, v.Strategy, v.Members
	q.RingTimeout, q.MaxWait, q.Wrapup, q.AutoResume = ring, maxWait, wrapup, resume
	q.AnnouncePosition, q.Fallback, q.AutoPause = v.AnnouncePosition, v.Fallback, v.AutoPause
	return nil
}

// createQueue answers POST /api/v1/queues (admin): 201 with the queue; keys left out take a
// file's defaults.
func (s *Server) createQueue(w http.ResponseWriter, r *http.Request, p principal) {
	raw, ok := readBody(w, r)
	if !ok {
		return
	}
	var at, ext string
	cfg, err := s.dir.Update(p.ext, func(d *config.Directory) error {
		q := config.NewQueue()
		v := toQueueConfig(&q)
		if err := decodeOnto(raw, &v); err != nil {
			return err
		}
		if err := applyQueue(d, &q, v, ""); err != nil {
			return err
		}
		d.Queues = append(d.Queues, q)
		ext, at = q.Ext, fmt.Sprintf("queues[%d]", len(d.Queues)-1)
		return nil
	})
	if err != nil {
		s.answerEdit(w, r, err, at, "queue")
		return
	}
	q, _ := cfg.Queue(ext)
	writeJSON(w, http.StatusCreated, toQueueConfig(q))
}

// putQueue answers PUT /api/v1/queues/{ext} (admin) with the fields to change: 200 with the
// queue. Callers waiting keep waiting; the new settings apply to what happens next.
func (s *Server) putQueue(w http.ResponseWriter, r *http.Request, p principal) {
	ext := r.PathValue("ext")
	raw, ok := readBody(w, r)
	if !ok {
		return
	}
	// Asked before the change, not inside it: the switch's queue state is not the directory's
	// to lock, and a caller may arrive at any moment anyway (the switch copes with a queue
	// that goes).
	busy := s.waiting(ext) > 0
	var at, now string
	cfg, err := s.dir.Update(p.ext, func(d *config.Directory) error {
		i := directory.QueueIndex(d, ext)
		if i < 0 {
			return directory.ErrNotFound
		}
		at = fmt.Sprintf("queues[%d]", i)
		v := toQueueConfig(&d.Queues[i])
		if err := decodeOnto(raw, &v); err != nil {
			return err
		}
		if v.Ext != ext && busy {
			return &editError{status: http.StatusConflict, field: "ext",
				msg: "callers are waiting in the queue: change its extension when it is empty"}
		}
		now = v.Ext
		return applyQueue(d, &d.Queues[i], v, ext)
	})
	if err != nil {
		s.answerEdit(w, r, err, at, "queue")
		return
	}
	q, _ := cfg.Queue(now)
	writeJSON(w, http.StatusOK, toQueueConfig(q))
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
	_, err := s.dir.Update(p.ext, func(d *config.Directory) error {
		if n > 0 && directory.QueueIndex(d, ext) >= 0 {
			return &editError{status: http.StatusConflict,
				msg: fmt.Sprintf("queue %s has %d callers waiting: remove it when it is empty", ext, n)}
		}
		return directory.RemoveQueue(d, ext)
	})
	if err != nil {
		s.answerEdit(w, r, err, "", "queue")
		return
	}
	noContent(w)
}
