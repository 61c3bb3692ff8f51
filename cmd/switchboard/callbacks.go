package main

import (
	"errors"

	"github.com/switchboard-voip/switchboard/api"
	"github.com/switchboard-voip/switchboard/config"
	"github.com/switchboard-voip/switchboard/flow"
)

// callbackView shows the flows' pending callbacks through the API (GET and DELETE
// /api/v1/callbacks), with who may see each: the caller, and the user or the queue's members
// who call back.
type callbackView struct {
	cfg   func() *config.Config // the current directory
	flows *flow.Engine
}

var _ api.Callbacks = callbackView{}

// Pending implements api.Callbacks.
func (v callbackView) Pending() []api.Callback {
	pending := v.flows.Callbacks()
	out := make([]api.Callback, 0, len(pending))
	for _, cb := range pending {
		var parties []string
		if cb.Caller != "" {
			parties = append(parties, cb.Caller)
		}
		if q, ok := v.cfg().Queue(cb.For); ok && cb.Queue {
			parties = append(parties, q.Members...)
		} else {
			parties = append(parties, cb.For)
		}
		out = append(out, api.Callback{ID: cb.ID, Number: cb.Number, Name: cb.Name, Trunk: cb.Trunk, For: cb.For,
			Queue: cb.Queue, Requested: cb.Requested, CallID: cb.CallID, Attempts: cb.Attempts,
			NotBefore: cb.NotBefore, Dialling: cb.Dialling, Parties: parties})
	}
	return out
}

// Cancel implements api.Callbacks: the flows' "no such callback" is the API's.
func (v callbackView) Cancel(id string) error {
	err := v.flows.CancelCallback(id)
	if errors.Is(err, flow.ErrNoSuchCallback) {
		return api.ErrNoSuchCallback
	}
	return err
}
