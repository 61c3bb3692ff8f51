package main

import (
	"errors"

	"github.com/switchboard-voip/switchboard/api"
	sbsip "github.com/switchboard-voip/switchboard/sip"
)

// callsView shows the SIP server's calls in progress through the API (GET and DELETE
// /api/v1/calls) and passes on the API's transfers (POST /api/v1/calls/{id}/transfer).
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
	return apiCallError(v.srv.HangUp(id))
}

// Transfer implements api.Calls: the call's owner carries the transfer out (sip.Server.Transfer);
// its refusals become the API's errors, which the API maps to statuses.
func (v callsView) Transfer(id string, t api.TransferRequest) error {
	return apiCallError(v.srv.Transfer(id, sbsip.TransferRequest{By: t.By, Keep: t.Keep, To: t.To, Voicemail: t.Voicemail}))
}

// apiCallError translates the SIP server's errors about a call into the api package's, which
// knows nothing of sip; anything else (a failure the API answers 500 and logs) passes as is.
func apiCallError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sbsip.ErrNoSuchCall):
		return api.ErrNoSuchCall
	case errors.Is(err, sbsip.ErrNotParty):
		return api.ErrNotParty
	case errors.Is(err, sbsip.ErrNotTransferable):
		return api.ErrNotTransferable
	}
	return err
}
