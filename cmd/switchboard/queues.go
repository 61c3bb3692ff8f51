package main

import (
	"github.com/switchboard-voip/switchboard/api"
	"github.com/switchboard-voip/switchboard/config"
	"github.com/switchboard-voip/switchboard/flow"
	"github.com/switchboard-voip/switchboard/presence"
)

// queueView joins the configured queues, the flows' callers waiting and the status table
// into what GET /api/v1/queues shows.
type queueView struct {
	cfg      func() *config.Config // the current directory
	flows    *flow.Engine
	statuses *presence.Table
}

// Queues implements api.Queues.
func (v queueView) Queues() []api.QueueView {
	queues := v.cfg().Queues
	out := make([]api.QueueView, 0, len(queues))
	for _, q := range queues {
		stats := v.flows.QueueStats(q.Ext)
		view := api.QueueView{Ext: q.Ext, Name: q.Name, Waiting: stats.Waiting,
			LongestWaitMS: stats.LongestWait.Milliseconds()}
		for _, m := range q.Members {
			st, _ := v.statuses.Get(m)
			state := string(st.Status)
			if st.Status == presence.Available {
				switch {
				case contains(stats.Ringing, m):
					state = "ringing"
				case contains(stats.WrapUp, m):
					state = "wrapup"
				}
			}
			view.Members = append(view.Members, api.QueueMember{Ext: m, Name: st.Name, State: state,
				Registered: st.Registered})
		}
		out = append(out, view)
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
