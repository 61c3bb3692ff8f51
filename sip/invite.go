package sip

import (
	"net"
	"net/netip"

	"github.com/emiago/sipgo/sip"
	"go.uber.org/zap"

	"github.com/switchboard-voip/switchboard/routing"
)

// onInvite takes a new call: authenticate, ask routing for a plan, and hand it to the flows on
// a call of its own. A goroutine of the call's owns it until it ends (call.own); BYE, CANCEL,
// INFO, re-INVITE and timers only post to it.
//
// The handler's goroutine waits until the caller has a final response and no longer: sipgo
// ends the INVITE's transaction when its handler returns, and until then its frames hold the
// INVITE and the transaction. A talking call that ran on it kept both for all its minutes
// (whatever the call let go of), and a stack 3 KB deep: the runtime halves a parked goroutine's
// stack only while under a quarter of it is in use, so those frames made it 8 KB where the
// call's own frames fit in 4. For the same reason the work is done in acceptInvite, whose
// large frame is gone before the call runs, and plans travel by pointer.
func (s *Server) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	c, plan := s.acceptInvite(req, tx)
	if c == nil {
		return
	}
	go c.own(plan)
	<-c.finalized
}

// absorbed takes an INVITE without a To tag whose Call-ID and From tag are those of a caller's
// dialog in progress: the same INVITE again after its transaction ended (Timer L), which the
// dialog absorbs without an answer (RFC 6026 §7.1: the 2xx is the call's to retransmit, until
// the ACK), or a merged request (RFC 3261 §8.2.2.2: another CSeq, 482 Loop Detected). It reports
// whether req was one.
func (s *Server) absorbed(req *sip.Request, tx sip.ServerTransaction) bool {
	l := s.dialogOf(callIDOf(req))
	if l == nil || !l.uas || l.remoteTag != tagOf(req.From().Params) {
		return false
	}
	if req.CSeq().SeqNo == l.createdSeq && req.CSeq().MethodName == sip.INVITE {
		tx.Terminate()
		return true
	}
	_ = tx.Respond(sip.NewResponseFromRequest(req, 482, "Loop Detected", nil))
	return true
}

// acceptInvite answers what refuses a new call at once (malformed, overloaded, not
// authenticated, an offer the switch cannot take) and otherwise returns the call and its plan.
// A re-INVITE is handed to its dialog here.
func (s *Server) acceptInvite(req *sip.Request, tx sip.ServerTransaction) (*call, *routing.Plan) {
	if req.CallID() == nil || req.From() == nil || req.To() == nil || req.CSeq() == nil {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 400, "Bad Request", nil))
		return nil, nil
	}
	if req.To().Params.Has("tag") {
		s.onReinvite(req, tx)
		return nil, nil
	}
	if s.absorbed(req, tx) {
		return nil, nil
	}
	if s.draining.Load() {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 503, "Service Unavailable", nil))
		return nil, nil
	}
	peer, fromPeer, refused := s.fromPeer(req, tx)
	if refused {
		return nil, nil
	}
	trunk, trunkExt, fromTrunk := s.fromTrunk(req)
	// Refused before the digest check: turning a call away must cost less than taking it.
	attempt := fromTrunk || fromPeer || headerNamed(req, "Proxy-Authorization") != nil || headerNamed(req, "Authorization") != nil
	if ok, why := s.admit.admit(s.ActiveCalls(), attempt); !ok {
		s.admit.refuse(req, tx)
		if n, first := s.gate.notes.note("overload", netip.Addr{}); first { // a line a minute
			s.log.Warn("new calls refused: overloaded", zap.String("why", why), zap.Int("unlogged", n),
				zap.Uint64("refused_total", s.admit.refused.Load()))
		}
		return nil, nil
	}
	dialled := req.Recipient.User
	caller, callerID := "", ""
	replaces := headerNamed(req, "Replaces")
	if fromPeer {
		// Another node routed this call and authenticated its caller; the From is theirs.
		callerID = req.From().Address.User
		if _, isUser := s.opts.Users.Secret(callerID); isUser {
			caller = callerID
		}
		replaces = nil
	} else if fromTrunk {
		if replaces != nil {
			_ = tx.Respond(sip.NewResponseFromRequest(req, 403, "Forbidden", nil))
			return nil, nil
		}
		// A carrier's call to one of its DIDs: no digest, the DID names the extension.
		callerID = req.From().Address.User
		s.log.Info("trunk call", zap.String("call_id", callIDOf(req)), zap.String("trunk", trunk),
			zap.String("did", dialled), zap.String("ext", trunkExt), zap.String("from", callerID))
		dialled = trunkExt
	} else {
		user, ok := s.authenticate(req, tx)
		if !ok {
			return nil, nil
		}
		caller, callerID = user, user
	}
	var picked *call
	if replaces != nil {
		// A BLF key's pickup: the call the Replaces names, as if *8 + the user it rings for.
		z, ext, ok := s.replacedCall(req, tx, replaces)
		if !ok {
			return nil, nil
		}
		picked, dialled = z, routing.FeaturePickup+ext
	}
	browser, ok := s.browserOffer(req, tx)
	if !ok {
		return nil, nil
	}
	if browser == nil {
		if browser, ok = s.srtpOffer(req, tx, caller); !ok {
			return nil, nil
		}
	}
	log := s.log.WithLazy(zap.String("call_id", callIDOf(req)), zap.String("from", callerID),
		zap.String("to", dialled))
	_ = tx.Respond(sip.NewResponseFromRequest(req, 100, "Trying", nil))

	plan := s.opts.Router.Decide(routing.Request{Caller: caller, Dialled: dialled, FromNode: peer})
	log.Info("call routed", zap.Stringer("action", plan.Action), zap.Strings("trace", plan.Trace))
	c := newCall(s, req, tx, caller, callerID, log)
	c.fromNode = peer
	if fromTrunk {
		c.trunk = trunk
	}
	c.replaces = picked
	c.browserA = browser
	return c, &plan
}

// InboundTrunks recognises carriers by source address.
type InboundTrunks interface {
	// TrunkFor returns the trunk whose allow list holds addr, with its DIDs (number → extension).
	TrunkFor(addr netip.Addr) (name string, dids map[string]string, ok bool)
}

// fromTrunk reports whether req is a trunk's call to one of its DIDs. A request from a trunk's
// address that carries credentials, or dials no DID, is a phone's and is authenticated as usual
// (phones and carriers may share an address, as on loopback in tests).
func (s *Server) fromTrunk(req *sip.Request) (trunk, ext string, ok bool) {
	if s.opts.Trunks == nil || headerNamed(req, "Proxy-Authorization") != nil || headerNamed(req, "Authorization") != nil {
		return "", "", false
	}
	host, _, err := net.SplitHostPort(req.Source())
	if err != nil {
		return "", "", false
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return "", "", false
	}
	name, dids, found := s.opts.Trunks.TrunkFor(addr)
	if !found {
		return "", "", false
	}
	for _, number := range []string{req.Recipient.User, req.To().Address.User} {
		if e, isDID := dids[number]; isDID {
			return name, e, true
		}
	}
	return "", "", false
}
