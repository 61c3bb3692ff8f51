package sip

import (
	"errors"

	"github.com/emiago/sipgo/sip"
	"go.uber.org/zap"

	"github.com/switchboard-voip/switchboard/media"
	"github.com/switchboard-voip/switchboard/routing"
)

// onInvite takes a new call: authenticate, ask routing for a plan, carry it out. The handler
// goroutine owns the call until it ends; BYE, CANCEL and timers only signal it.
func (s *Server) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	if req.CallID() == nil || req.From() == nil || req.To() == nil || req.CSeq() == nil {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 400, "Bad Request", nil))
		return
	}
	if req.To().Params.Has("tag") {
		s.onReinvite(req, tx)
		return
	}
	if s.draining.Load() {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 503, "Service Unavailable", nil))
		return
	}
	caller, ok := s.authenticate(req, tx)
	if !ok {
		return
	}
	log := s.log.With(zap.String("call_id", callIDOf(req)), zap.String("from", caller),
		zap.String("to", req.Recipient.User))
	_ = tx.Respond(sip.NewResponseFromRequest(req, 100, "Trying", nil))

	plan := s.opts.Router.Decide(routing.Request{Caller: caller, Dialled: req.Recipient.User})
	log.Info("call routed", zap.Stringer("action", plan.Action), zap.Strings("trace", plan.Trace))
	if plan.Action == routing.Reject && plan.Announce == "" {
		code, reason := plan.Code, plan.Reason
		if code < 300 {
			code, reason = 500, "Server Internal Error"
		}
		_ = tx.Respond(sip.NewResponseFromRequest(req, code, reason, nil))
		return
	}
	newCall(s, req, tx, caller, log).run(plan)
}

// mediaError maps media errors to what the caller sees.
func mediaError(err error) (int, string) {
	switch {
	case errors.Is(err, media.ErrNoCommonCodec):
		return 488, "Not Acceptable Here"
	case errors.Is(err, media.ErrBadSDP):
		return 400, "Bad SDP"
	case errors.Is(err, media.ErrPortsExhausted):
		return 503, "Service Unavailable"
	}
	return 500, "Server Internal Error"
}
