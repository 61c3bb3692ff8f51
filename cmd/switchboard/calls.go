package main

import (
	"errors"

	"github.com/switchboard-voip/switchboard/api"
	sbsip "github.com/switchboard-voip/switchboard/sip"
)

// callsView shows the SIP server's calls in progress through the API (GET and DELETE
// /api/v1/calls).
type callsView struct{ srv *sbsip.Server }

var _ api.Calls = callsView{}

// Active implements api.Calls.
func (v callsView) Active() []api.Call {
	calls := v.srv.Calls()
	out := make([]api.Call, 0, len(calls))
	for _, c := range calls {
		out = append(out, api.Call{ID: c.ID, From: c.From, To: c.To, State: c.State, Started: c.Started,
			Answered: c.Answered, Parties: c.Parties, Trace: c.Trace})
	}
	return out
}

// HangUp implements api.Calls: the SIP layer's "no such call" is the API's.
func (v callsView) HangUp(id string) error {
	err := v.srv.HangUp(id)
	if errors.Is(err, sbsip.ErrNoSuchCall) {
		return api.ErrNoSuchCall
	}
	return err
}
