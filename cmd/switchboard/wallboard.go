package main

import (
	"fmt"
	"sync"
	"time"

	"github.com/switchboard-voip/switchboard/api"
	"github.com/switchboard-voip/switchboard/config"
	"github.com/switchboard-voip/switchboard/flow"
	"github.com/switchboard-voip/switchboard/history"
	"github.com/switchboard-voip/switchboard/internal/clock"
	"github.com/switchboard-voip/switchboard/presence"
	"github.com/switchboard-voip/switchboard/queuestats"
)

// countQueueCalls starts counting today's calls of the configured queues for the wallboard:
// every record stored from now on (this node's calls and other nodes' imported ones) is
// counted as it is added, then those already stored today are read (a record seen both ways
// counts once). changed is told after each change of the figures. The caller closes the
// result.
func countQueueCalls(cfg *config.Config, calls *history.Store, changed func()) (*queuestats.Today, error) {
	exts := make([]string, 0, len(cfg.Queues))
	for _, q := range cfg.Queues {
		exts = append(exts, q.Ext)
	}
	today := queuestats.New(queuestats.Options{Queues: exts, OnChange: changed})
	calls.OnAdd(today.Add)
	if err := today.Load(calls); err != nil {
		today.Close()
		return nil, fmt.Errorf("wallboard: %w", err)
	}
	return today, nil
}

// wallboardView joins the configured queues, the flows' callers waiting, the status table and
// today's counts into the queue wallboard (GET /api/v1/queues/wallboard and its events).
type wallboardView struct {
	cfg      func() *config.Config // the current directory
	flows    *flow.Engine
	statuses *presence.Table
	today    *queuestats.Today
	clock    clock.Clock
	changes  *changeSignal // queue changes (flows) and counted calls (today)
}

// Board implements api.Wallboard.
func (v wallboardView) Board() api.WallboardView {
	queues := v.cfg().Queues
	out := api.WallboardView{
		Now:                 v.clock.Now().In(time.Local),
		ServiceLevelSeconds: int(queuestats.DefaultServiceLevel / time.Second),
		ShortAbandonSeconds: int(queuestats.DefaultShortAbandon / time.Second),
		Queues:              make([]api.WallboardQueue, 0, len(queues)),
	}
	for _, q := range queues {
		live := v.flows.QueueStats(q.Ext)
		day := v.today.Queue(q.Ext)
		out.Date = day.Date
		view := api.WallboardQueue{Ext: q.Ext, Name: q.Name, Waiting: live.Waiting,
			LongestWaitMS:       live.LongestWait.Milliseconds(),
			AnsweredToday:       day.Answered,
			AbandonedToday:      day.Abandoned,
			ShortAbandonedToday: day.ShortAbandoned,
			UnansweredToday:     day.Unanswered,
			AnsweredInTimeToday: day.AnsweredInTime,
			AverageWaitMS:       day.AverageWait().Milliseconds(),
			Slots:               day.Slots[:],
		}
		if sl, ok := day.ServiceLevel(); ok {
			view.ServiceLevel = &sl
		}
		for _, m := range q.Members {
			st, _ := v.statuses.Get(m)
			view.Agents = append(view.Agents, api.WallboardAgent{Ext: m, Name: st.Name, Status: string(st.Status),
				State: agentState(st, live), Registered: st.Registered, AnsweredToday: day.AnsweredBy[m]})
		}
		out.Queues = append(out.Queues, view)
	}
	return out
}

// Changed implements api.Wallboard.
func (v wallboardView) Changed() <-chan struct{} { return v.changes.Changed() }

// agentState is what a queue makes of an agent: DND and a call come first (the queue offers
// neither), then the queue's own states, then whether a phone is there to ring.
func agentState(st presence.State, live flow.QueueStats) string {
	switch {
	case st.Status == presence.DND:
		return "dnd"
	case st.Status == presence.Busy:
		return "busy"
	case contains(live.Ringing, st.Ext):
		return "ringing"
	case contains(live.WrapUp, st.Ext):
		return "wrapup"
	case !st.Registered:
		return "offline"
	}
	return "available"
}

// changeSignal tells any number of waiters that something changed, without a goroutine: each
// waiter takes the current channel, which Notify closes and replaces. The flows' dispatchers
// and the day's counts notify it; each wallboard event stream waits on it.
type changeSignal struct {
	mu sync.Mutex
	ch chan struct{}
}

func newChangeSignal() *changeSignal { return &changeSignal{ch: make(chan struct{})} }

// Notify wakes everyone waiting on a channel Changed returned. It never waits.
func (s *changeSignal) Notify() {
	s.mu.Lock()
	close(s.ch)
	s.ch = make(chan struct{})
	s.mu.Unlock()
}

// Changed returns a channel closed at the next Notify.
func (s *changeSignal) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ch
}
