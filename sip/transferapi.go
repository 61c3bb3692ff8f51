package sip

import (
	"errors"
	"fmt"
	"time"
)

// Errors of Server.Transfer.
var (
	// ErrNotParty: the user asking is not a party to the call, or Keep names nobody on it.
	ErrNotParty = errors.New("sip: not a party to the call")
	// ErrNotTransferable: the call is not connected to a phone now (ringing, on hold, in a
	// queue, in voicemail), so there is nobody to send on.
	ErrNotTransferable = errors.New("sip: the call cannot be transferred now")
)

// TransferRequest asks Server.Transfer to send one party of a call elsewhere, through the same
// status routing as a new call.
type TransferRequest struct {
	// By is the user asking. When By is a party, the other party is sent on and By's leg
	// ends. "" is an administrator, who names the party sent on in Keep.
	By string
	// Keep is the party that stays on the call and is sent to To (an administrator's
	// request; ignored when By is a party).
	Keep string
	// To is the extension (user, group, queue) or outside number the party is sent to.
	To string
	// Voicemail sends the party straight to To's mailbox.
	Voicemail bool
}

// transferRequest is a TransferRequest on its way to the call's owner, with where the owner
// answers.
type transferRequest struct {
	TransferRequest
	reply chan error
}

// transferWait bounds how long Transfer waits for the call's owner to take the request.
const transferWait = 8 * time.Second

// Transfer sends one party of call id to t.To and ends the other party's leg, the way a
// phone's blind transfer (REFER) does. It returns once the call's owner has taken the request
// (the party is on its way to the target) or refused it: ErrNoSuchCall, ErrNotParty or
// ErrNotTransferable.
func (s *Server) Transfer(id string, t TransferRequest) error {
	target := s.callByID(id)
	if target == nil {
		return ErrNoSuchCall
	}
	req := transferRequest{TransferRequest: t, reply: make(chan error, 1)}
	if !target.mail.post(req) {
		return ErrNoSuchCall
	}
	select {
	case err := <-req.reply:
		return err
	case <-target.done:
		return ErrNoSuchCall
	case <-time.After(transferWait):
		return fmt.Errorf("transfer %s: no answer from the call after %s", id, transferWait)
	}
}

// callByID finds a call in progress by its id (the caller leg's Call-ID).
func (s *Server) callByID(id string) *call {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.calls {
		if c.ID() == id {
			return c
		}
	}
	return nil
}
