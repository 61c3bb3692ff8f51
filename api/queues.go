package api

import "net/http"

// QueueMember is one agent of a call queue as the team sees it.
type QueueMember struct {
	Ext        string `json:"ext"`
	Name       string `json:"name"`
	State      string `json:"state"` // available, busy, dnd, ringing, wrapup
	Registered bool   `json:"registered"`
}

// QueueView is one call queue: who waits, for how long, and each member's state.
type QueueView struct {
	Ext           string        `json:"ext"`
	Name          string        `json:"name"`
	Waiting       int           `json:"waiting"`
	LongestWaitMS int64         `json:"longest_wait_ms"`
	Members       []QueueMember `json:"members"`
}

// Queues reports the configured call queues; cmd assembles it from the config, the SIP layer's
// queue state and the status table.
type Queues interface {
	Queues() []QueueView
}

// listQueues serves GET /api/v1/queues to any signed-in user: the queues are the team's.
func (s *Server) listQueues(w http.ResponseWriter, _ *http.Request, _ principal) {
	views := s.queues.Queues()
	if views == nil {
		views = []QueueView{}
	}
	writeJSON(w, http.StatusOK, views)
}
