package sip

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
	"go.uber.org/zap"
)

// REFER (RFC 3515) inside a call is a phone's Transfer key: Refer-To names where the other
// party goes (a blind transfer), or, with a Replaces header in it (RFC 3891), the transferring
// user's other call whose far party the other party is joined with (an attended transfer).
// The handler only finds the leg and posts; the call's owner decides (transfer.go).

// referEvent: a REFER arrived on one of the call's legs.
type referEvent struct {
	l   *leg
	req *sip.Request
	tx  sip.ServerTransaction
}

// onRefer passes a REFER in a call to the call's owner. A REFER outside any dialog names no
// call the sender is a party to: it is refused once the sender is known.
func (s *Server) onRefer(req *sip.Request, tx sip.ServerTransaction) {
	if req.CallID() == nil || req.From() == nil || req.To() == nil || req.CSeq() == nil {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 400, "Bad Request", nil))
		return
	}
	if !req.To().Params.Has("tag") {
		if _, ok := s.authenticate(req, tx); !ok {
			return
		}
		_ = tx.Respond(sip.NewResponseFromRequest(req, 403, "Not a Party to a Call", nil))
		return
	}
	l := s.lookupLeg(req)
	if l == nil || !l.call().mail.post(referEvent{l: l, req: req, tx: tx}) {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 481, "Call/Transaction Does Not Exist", nil))
	}
}

// referTarget is what a REFER's Refer-To asks for.
type referTarget struct {
	to       string    // the extension or number (the URI's user part)
	replaces *replaces // an attended transfer: the dialog whose far party the other joins
}

// replaces names a dialog (RFC 3891 §6.1): its Call-ID and the two tags.
type replaces struct {
	callID, toTag, fromTag string
	earlyOnly              bool
}

// parseReferTo reads the REFER's Refer-To; a failure comes with the response to send.
func parseReferTo(req *sip.Request) (referTarget, int, string) {
	hs := headersNamed(req, "Refer-To")
	if len(hs) == 0 {
		hs = headersNamed(req, "r")
	}
	if len(hs) == 0 {
		return referTarget{}, 400, "Missing Refer-To"
	}
	if len(hs) > 1 {
		return referTarget{}, 400, "More Than One Refer-To"
	}
	value := strings.TrimSpace(hs[0].Value())
	inner := value
	if i := strings.IndexByte(value, '<'); i >= 0 {
		j := strings.LastIndexByte(value, '>')
		if j < i {
			return referTarget{}, 400, "Bad Refer-To"
		}
		inner = value[i+1 : j]
	}
	lower := strings.ToLower(inner)
	if !strings.HasPrefix(lower, "sip:") && !strings.HasPrefix(lower, "sips:") {
		return referTarget{}, 488, "Refer-To Must Be a SIP URI"
	}
	var uri sip.Uri
	if err := sip.ParseUri(inner, &uri); err != nil {
		return referTarget{}, 400, "Bad Refer-To"
	}
	t := referTarget{to: uri.User}
	if t.to == "" {
		return referTarget{}, 400, "Refer-To Names No Extension"
	}
	if uri.Headers != nil {
		for _, k := range uri.Headers.Keys() {
			if !strings.EqualFold(k, "Replaces") {
				continue
			}
			raw, _ := uri.Headers.Get(k)
			v, err := url.QueryUnescape(raw)
			if err != nil {
				return referTarget{}, 400, "Bad Replaces"
			}
			rp, ok := parseReplaces(v)
			if !ok {
				return referTarget{}, 400, "Bad Replaces"
			}
			t.replaces = &rp
		}
	}
	return t, 0, ""
}

// parseReplaces reads a Replaces value: "call-id;to-tag=x;from-tag=y[;early-only]".
func parseReplaces(v string) (replaces, bool) {
	parts := strings.Split(v, ";")
	rp := replaces{callID: strings.TrimSpace(parts[0])}
	for _, p := range parts[1:] {
		k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
		switch strings.ToLower(k) {
		case "to-tag":
			rp.toTag = val
		case "from-tag":
			rp.fromTag = val
		case "early-only":
			rp.earlyOnly = true
		}
	}
	return rp, rp.callID != "" && rp.toTag != "" && rp.fromTag != ""
}

// lookupReplaced finds the leg a Replaces names. The tags are taken in either order: the RFC
// puts the receiver's tag in to-tag, but phones differ in whose view they take.
func (s *Server) lookupReplaced(rp replaces) *leg {
	s.mu.Lock()
	l := s.dialogs[rp.callID]
	s.mu.Unlock()
	if l == nil {
		return nil
	}
	if (rp.toTag == l.localTag && rp.fromTag == l.remoteTag) || (rp.toTag == l.remoteTag && rp.fromTag == l.localTag) {
		return l
	}
	return nil
}

// referReport tells the transferring phone how its REFER goes, in NOTIFYs with message/sipfrag
// bodies (RFC 3515 §2.4.4): 100 Trying at once, 180 while the target rings, then the final
// outcome. After the final one it ends the transferring phone's leg, unless the phone hung up
// first. Its worker sends in order and never holds up the call's owner.
type referReport struct {
	s     *Server
	l     *leg
	log   *zap.Logger
	quiet bool // the phone asked for no NOTIFYs (Refer-Sub: false, RFC 4488)
	frags chan sipfrag
	done  bool // the final status was queued (owner only)
}

type sipfrag struct {
	code   int
	reason string
	final  bool
}

// reportCap bounds queued progress; the last slot is kept for the final status.
const reportCap = 8

// startReferReport starts reporting on l, for the REFER req, and says 100 Trying.
func (s *Server) startReferReport(l *leg, req *sip.Request, log *zap.Logger) *referReport {
	r := &referReport{s: s, l: l, log: log, frags: make(chan sipfrag, reportCap), quiet: !referSub(req)}
	s.wg.Add(1)
	go r.run()
	r.progress(100, "Trying")
	return r
}

// progress queues a provisional status; dropped when the phone is slow to answer NOTIFYs.
func (r *referReport) progress(code int, reason string) {
	if r == nil || r.done || len(r.frags) >= reportCap-1 {
		return
	}
	r.frags <- sipfrag{code: code, reason: reason}
}

// final queues the outcome and ends the report.
func (r *referReport) final(code int, reason string) {
	if r == nil || r.done {
		return
	}
	r.done = true
	r.frags <- sipfrag{code: code, reason: reason, final: true}
	close(r.frags)
}

func (r *referReport) run() {
	defer r.s.wg.Done()
	alive := true
	for f := range r.frags {
		if !alive || r.quiet || r.l.ended.Load() {
			continue
		}
		if err := r.notify(f); err != nil {
			r.log.Debug("REFER progress not delivered", zap.String("leg", r.l.callID), zap.Error(err))
			alive = false
		}
	}
	if !r.l.ended.Load() {
		if err := r.l.bye(r.s); err != nil {
			r.log.Debug("transferring phone's leg not hung up", zap.String("leg", r.l.callID), zap.Error(err))
		}
	}
	r.s.removeDialog(r.l)
}

// referSub reports whether the REFER wants the implicit subscription: not when it says
// Refer-Sub: false (RFC 4488).
func referSub(req *sip.Request) bool {
	h := headerNamed(req, "Refer-Sub")
	return h == nil || !strings.EqualFold(strings.TrimSpace(h.Value()), "false")
}

// accepted is the 202 for a REFER; it echoes Refer-Sub: false when the phone asked for no
// subscription (RFC 4488 §4).
func accepted(l *leg, req *sip.Request) *sip.Response {
	res := l.response(req, 202, "Accepted", nil)
	if !referSub(req) {
		res.AppendHeader(sip.NewHeader("Refer-Sub", "false"))
	}
	return res
}

// notify sends one sipfrag NOTIFY and waits for its answer.
func (r *referReport) notify(f sipfrag) error {
	body := fmt.Appendf(nil, "SIP/2.0 %d %s\r\n", f.code, f.reason)
	req := r.l.newRequest(sip.NOTIFY, body, "message/sipfrag;version=2.0")
	req.AppendHeader(sip.NewHeader("Event", "refer"))
	state := "active;expires=60"
	if f.final {
		state = "terminated;reason=noresource"
	}
	req.AppendHeader(sip.NewHeader("Subscription-State", state))
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	res, err := r.l.do(ctx, r.s, req)
	if err != nil {
		return err
	}
	if !res.IsSuccess() {
		return fmt.Errorf("NOTIFY: %d %s", res.StatusCode, res.Reason)
	}
	return nil
}
