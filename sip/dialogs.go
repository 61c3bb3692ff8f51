package sip

import "github.com/emiago/sipgo/sip"

// Established legs are found by the Call-ID of in-dialog requests. They are added and removed
// here only: a leg is added when its dialog is confirmed (or, for a screening party, while the
// switch talks to it) and removed when its BYE arrives, when it is released, or when its call
// ends.

// addDialog makes l reachable by in-dialog requests.
func (s *Server) addDialog(l *leg) {
	s.mu.Lock()
	s.dialogs[l.callID] = l
	s.mu.Unlock()
}

// removeDialog makes l unreachable, if it still is.
func (s *Server) removeDialog(l *leg) {
	if l == nil {
		return
	}
	s.mu.Lock()
	if s.dialogs[l.callID] == l {
		delete(s.dialogs, l.callID)
	}
	s.mu.Unlock()
}

// removeDialogs removes every leg of c.
func (s *Server) removeDialogs(c *call) {
	s.removeDialog(c.a)
	s.removeDialog(c.b)
	if c.party != nil {
		s.removeDialog(c.party.leg())
	}
}

// lookupLeg finds the established leg an in-dialog request belongs to: its Call-ID names the leg,
// and the tags must match ours (To) and the peer's (From) (RFC 3261 §12.2.2).
func (s *Server) lookupLeg(req *sip.Request) *leg {
	callID, ours, theirs, ok := dialogIDOf(req)
	if !ok {
		return nil
	}
	return s.legOf(callID, ours, theirs)
}

// dialogIDOf is the dialog an in-dialog request names: its Call-ID, our tag (its To's) and the
// peer's (its From's); false for a request without a To or a From.
func dialogIDOf(req *sip.Request) (callID, ours, theirs string, ok bool) {
	if req.To() == nil || req.From() == nil {
		return "", "", "", false
	}
	return callIDOf(req), tagOf(req.To().Params), tagOf(req.From().Params), true
}

// legOf is the established leg with this Call-ID whose dialog has these tags, or nil.
func (s *Server) legOf(callID, ours, theirs string) *leg {
	l := s.dialogOf(callID)
	if l == nil || ours != l.localTag || theirs != l.remoteTag {
		return nil
	}
	return l
}

// dialogOf is the established leg with this Call-ID, whatever its tags, or nil.
func (s *Server) dialogOf(callID string) *leg {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dialogs[callID]
}

// tagOf is the tag parameter of a From or To header ("" when it has none).
func tagOf(p sip.HeaderParams) string {
	t, _ := p.Get("tag")
	return t
}

// onStrayResponse takes a response that matches no transaction. A retransmitted 2xx to an
// INVITE of ours gets the ACK its dialog sent (dialog.acknowledge ended the transaction): the
// From tag of a response to our request is ours, its To tag the peer's. Anything else (an
// answer after its transaction gave up, to a request never sent, to a dialog that is over) is
// dropped (RFC 3261 §18.1.2).
func (s *Server) onStrayResponse(res *sip.Response) {
	if !res.IsSuccess() || res.CSeq() == nil || res.CSeq().MethodName != sip.INVITE || res.To() == nil || res.From() == nil {
		return
	}
	if l := s.legOf(callIDOf(res), tagOf(res.From().Params), tagOf(res.To().Params)); l != nil {
		l.resendAck(s, res.CSeq().SeqNo)
	}
}

// addCall and removeCall keep the set of calls in progress; the Server's wait group counts a
// call from addCall until its owner returns. Once Shutdown has begun waiting, addCall refuses:
// a wait group must not grow from zero while it is waited on.
func (s *Server) addCall(c *call) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping {
		return false
	}
	s.calls[c] = struct{}{}
	s.wg.Add(1)
	return true
}

func (s *Server) removeCall(c *call) {
	s.mu.Lock()
	delete(s.calls, c)
	s.mu.Unlock()
}
