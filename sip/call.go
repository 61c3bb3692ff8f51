package sip

import (
	"bytes"
	"errors"
	"fmt"
	"sync"

	"github.com/emiago/sipgo/sip"
	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/switchboard-voip/switchboard/flow"
	"github.com/switchboard-voip/switchboard/history"
	"github.com/switchboard-voip/switchboard/media"
	"github.com/switchboard-voip/switchboard/routing"
)

// call is one call through the switch: the caller's leg, the forks ringing the callee's phones,
// after answer the bridged leg with the media relay between them, or the switch's own media when
// it answered the caller itself. Its goroutine (run) owns it; see events.go.
type call struct {
	s      *Server
	log    *zap.Logger
	caller string // the authenticated user, "" from a trunk
	// fromNode is the cluster node that forwarded this call to ring the phones registered here
	// (it routed the call and keeps its history), or "".
	fromNode string
	// goneNode is a cluster node found gone while this call had a leg to it (owner only).
	goneNode string
	// trunk is the trunk a carrier's call came in by, "" for other calls (owner only).
	trunk string
	// ringAs, when set, is who the phones this call rings see as the caller (an originated
	// call's first ringing); name overrides the caller's own display name (owner only).
	ringAs *presented
	name   string
	// inv and tx are the caller's INVITE and its transaction, until its final response is sent
	// and a 2xx acknowledged (releaseInvite): a call in progress does not keep the parsed
	// request, the 2xx and the transaction (~6 KB) for all its minutes. What the call needs of
	// the INVITE later is kept apart: id, dialled and offer.
	inv     *sip.Request
	tx      sip.ServerTransaction
	id      string // the caller's Call-ID, which names the call
	dialled string // the Request-URI's user part: what the caller dialled
	offer   []byte // the caller's SDP offer (a copy: not the datagram it came in)
	mail    *events
	done    chan struct{} // closed when the call is over
	// finalized is closed when the caller's INVITE has its final response, or the owner has
	// returned (closeFinalized): onInvite's goroutine waits for it.
	finalized     chan struct{}
	finalizedOnce sync.Once
	acked         chan struct{} // the caller ACKed our 2xx (the caller's leg's acked)

	// Owned by the call's goroutine.
	callerID   string // the number callees see: the user's extension or the outside number
	a          *leg
	b          *leg
	epA, epB   *media.Endpoint
	originB    *media.Origin
	offerB     []byte // the caller's offer as the callee's phones see it
	prepared   bool   // offerB is the caller's own offer rewritten (not the switch's)
	relay      *media.Relay
	local      *local // the switch's own media towards the caller
	answered   bool   // the caller got a 2xx (from a phone or the switch)
	final      bool   // the caller got a final response
	cancelled  bool
	callerGone bool
	stopWhy    string          // why the call was stopped (shutdown, an administrator)
	party      *party          // a phone that answered and is not bridged yet
	pending    []flow.Event    // flow events that arrived while the SIP layer was busy ringing
	report     *referReport    // a transferring phone waiting to hear how its transfer went
	replaces   *call           // the ringing call a pickup INVITE's Replaces named
	browserA   MediaGateway    // a browser caller's media, until the caller's leg takes it
	carried    []*media.Stream // streams a relay carries on after an attended transfer
	plays      uint64

	// Read by other goroutines (the API), under mu.
	mu      sync.Mutex
	state   flow.State
	with    []string // who the caller is with now (SetState)
	rec     callRecord
	tracked map[string]string // users whose BLF shows this call → direction
	busy    []string          // users this call made busy
	left    []string          // users who transferred the call away (no longer parties)
}

func newCall(s *Server, inv *sip.Request, tx sip.ServerTransaction, caller, callerID string, log *zap.Logger) *call {
	c := &call{
		s: s, log: log, caller: caller, callerID: callerID, inv: inv, tx: tx,
		mail:      newEvents(),
		done:      make(chan struct{}),
		acked:     make(chan struct{}),
		finalized: make(chan struct{}),
	}
	c.keepInvite()
	c.rec.started = s.clock.Now()
	if !tx.OnCancel(func(*sip.Request) { c.mail.post(cancelEvent{}) }) {
		c.mail.post(cancelEvent{})
	}
	return c
}

// own runs the call on its own goroutine (onInvite). A panic ends the call as a SIP handler's
// does (Server.guard): logged, and a 500 to a caller still waiting for an answer.
func (c *call) own(plan *routing.Plan) {
	defer c.closeFinalized()
	defer c.recoverPanic()
	c.run(plan)
}

// recoverPanic ends a call whose owner panicked as Server.guard ends a handler's.
func (c *call) recoverPanic() {
	r := recover()
	if r == nil {
		return
	}
	if c.inv == nil { // answered and acknowledged: its INVITE is let go, and nothing to answer
		c.log.Error("handler panic", zap.Any("panic", r), zap.Stack("stack"))
		return
	}
	c.s.panicked(r, c.inv, c.tx, !c.final)
}

// respondOK sends the caller the 2xx that answers the call.
func (c *call) respondOK(ok *sip.Response) error {
	defer c.closeFinalized() // once the response is sent: onInvite's return ends the transaction
	return c.tx.Respond(ok)
}

// closeFinalized tells onInvite's goroutine that the INVITE needs it no longer.
func (c *call) closeFinalized() {
	c.finalizedOnce.Do(func() { close(c.finalized) })
}

// run carries out plan and owns the call until it ends; then it releases everything and writes
// the call's history, whatever way it ended.
func (c *call) run(plan *routing.Plan) {
	s := c.s
	if !s.addCall(c) {
		c.respond(503, "Service Unavailable", nil) // the switch is shutting down
		if c.browserA != nil {
			_ = c.browserA.Close()
		}
		return
	}
	defer c.over()
	if c.open(plan) {
		s.opts.Flows.Run(c, plan) // run's frame is under the whole call: the rest is in open
	}
}

// open readies the caller's leg for plan, and reports whether the call goes on.
func (c *call) open(plan *routing.Plan) bool {
	c.setState(flow.Ringing)
	if plan.Action != routing.Reject || plan.Announce != "" {
		if err := c.openCaller(); err != nil {
			c.log.Info("call refused", zap.Error(err))
			c.end(endingOfMedia(err))
			return false
		}
	}
	return true
}

// over is the last thing a call's owner does, whatever way the call ended: it releases
// everything, writes the call's history and lets the call go.
func (c *call) over() {
	s := c.s
	if c.browserA != nil { // refused before the caller's leg was opened
		_ = c.browserA.Close()
	}
	c.finish()
	c.cleanup()
	c.writeHistory()
	c.observeEnd()
	s.removeCall(c) // no longer listed once HangUp sees it over
	close(c.done)
	for _, ev := range c.mail.close() {
		if in, ok := ev.(inDialog); ok {
			_ = in.tx.Respond(in.l.response(in.req, 481, "Call/Transaction Does Not Exist", nil))
		}
	}
	s.wg.Done()
}

// finish ends whatever the flow left open: the switch's media, the caller's leg (BYE once
// answered, a final response if none was sent).
func (c *call) finish() {
	if c.party != nil {
		c.party.Release()
	}
	c.report.final(487, "Request Terminated") // the transferred party went before it arrived

	c.endLocal()
	switch {
	case c.answered:
		if c.b == nil && !c.callerGone { // bridged calls ended in talk
			c.bye(c.a)
		}
	case c.final:
	case c.cancelled:
		c.end(endCancelled)
	case c.stopWhy != "" && c.s.draining.Load():
		c.end(endShuttingDown)
	case c.stopWhy != "":
		c.end(endStopped)
	default:
		c.log.Error("call flow ended without answering or refusing the caller")
		c.end(endInternal)
	}
}

// markAnswered records that the caller got a 2xx.
func (c *call) markAnswered() {
	c.answered, c.final = true, true
	c.mu.Lock()
	c.rec.answeredAt = c.s.clock.Now()
	if c.rec.progressAt.IsZero() {
		c.rec.progressAt = c.rec.answeredAt
	}
	c.mu.Unlock()
}

// keepInvite keeps what the call needs of its INVITE once the request itself is let go.
func (c *call) keepInvite() {
	c.id, c.dialled, c.offer = callIDOf(c.inv), c.inv.Recipient.User, bytes.Clone(c.inv.Body())
}

// releaseInvite lets the caller's INVITE and its transaction go once they have done their
// work: the call is answered and the caller acknowledged the 2xx (which no longer needs
// retransmitting; a retransmitted INVITE is absorbed by its dialog: Server.absorbed). Before a
// final response, or for a call that ends with one, they stay until the call is over.
func (c *call) releaseInvite() {
	if c.tx == nil || !c.answered {
		return
	}
	select {
	case <-c.acked:
		c.inv, c.tx = nil, nil
	default:
	}
}

// errInviteAnswered is a second answer to a caller whose INVITE was answered already.
var errInviteAnswered = errors.New("the caller's INVITE was answered already")

// ID implements flow.Call.
func (c *call) ID() string { return c.id }

// Caller implements flow.Call.
func (c *call) Caller() string { return c.caller }

// CallerID implements flow.Call.
func (c *call) CallerID() string { return c.callerID }

// CallerName implements flow.Call.
func (c *call) CallerName() string { return c.s.opts.Users.DisplayName(c.caller) }

// Trunk implements flow.Call.
func (c *call) Trunk() string { return c.trunk }

// Log implements flow.Call.
func (c *call) Log() *zap.Logger { return c.log }

// SetState implements flow.Call.
func (c *call) SetState(st flow.State, with ...string) { c.setState(st, with...) }

func (c *call) setState(st flow.State, with ...string) {
	if st != flow.Ringing && c.report != nil {
		// The transferred party arrived: a phone took it, or the switch (hold, queue,
		// voicemail) did.
		c.report.final(200, "OK")
		c.report = nil
	}
	c.mu.Lock()
	c.state = st
	c.with = with
	c.mu.Unlock()
}

// Refuse implements flow.Call.
func (c *call) Refuse(why routing.Refusal) {
	if c.report != nil {
		code, reason := endingOf(why).response(c.log)
		c.report.final(code, reason)
		c.report = nil
	}
	c.end(endingOf(why))
}

// PassBack implements flow.Call.
func (c *call) PassBack(code int, reason string) {
	if code < 300 || code > 699 {
		c.log.Error("carrier's final response out of range", zap.Int("code", code))
		c.end(endInternal)
		return
	}
	if code == 401 || code == 407 {
		// The carrier challenged the switch, which holds no credentials for its peers and
		// answers nobody's challenge. Passed on, the challenge would have the phone answer it
		// with its own password's digest for whoever sits at the trunk's address.
		c.log.Warn("carrier challenged an outbound call: not answered", zap.Int("code", code))
		code, reason = 503, "Service Unavailable"
	}
	if c.report != nil {
		c.report.final(code, reason)
		c.report = nil
	}
	if c.answered {
		return // a transferred caller: the flow goes on (a recall) or finish hangs up
	}
	c.respond(code, reason, nil)
}

// end refuses a caller nobody answered with the response for e; after an answer the call is
// simply over (finish hangs up).
func (c *call) end(e ending) {
	if c.answered || c.final {
		return
	}
	code, reason := e.response(c.log)
	c.respond(code, reason, nil)
}

// openCaller opens the caller-facing media endpoint and builds the caller's dialog.
func (c *call) openCaller() error {
	if len(c.offer) == 0 {
		// Offerless INVITEs would need the offer/answer turned around through ACK; phones and
		// SIPp always offer, so refuse clearly rather than half-support it.
		return fmt.Errorf("invite without SDP offer: %w", media.ErrNoCommonCodec)
	}
	var err error
	if c.epA, err = c.s.opts.Ports.Open(); err != nil {
		return fmt.Errorf("open caller endpoint: %w", err)
	}
	c.a = newLeg(c, true, c.epA, media.NewOrigin())
	c.a.party, c.a.user = c.callerID, c.caller
	c.a.node = c.fromNode
	c.a.acked = c.acked
	c.a.initUAS(c.inv, c.s.transportOf(c.inv.Transport()))
	if c.browserA != nil {
		c.s.attachBrowser(c.a, c.browserA, c.epA)
		c.browserA = nil
	}
	// The caller's early dialog is findable from now on: an attended transfer may name it
	// while it still rings (its ids are in our provisional responses).
	c.s.addDialog(c.a)
	return nil
}

// respond sends a response to the caller's INVITE.
func (c *call) respond(code int, reason string, body []byte) {
	if code >= 180 {
		c.noteProgress()
	}
	if code >= 200 {
		c.final = true
		defer c.closeFinalized() // once the response is sent
	}
	if code >= 300 {
		outcome := history.Rejected
		if code == 487 {
			outcome = history.Abandoned
		}
		c.setOutcome(outcome, "")
		c.mu.Lock()
		c.rec.code = code
		c.mu.Unlock()
	}
	if c.tx == nil {
		return // an originated call: no INVITE of anyone's waits for an answer
	}
	var res *sip.Response
	if c.a != nil {
		res = c.a.response(c.inv, code, reason, body)
	} else {
		res = sip.NewResponseFromRequest(c.inv, code, reason, body)
	}
	if err := c.tx.Respond(res); err != nil {
		c.log.Debug("response to caller not sent", zap.Int("code", code), zap.Error(err))
	}
}

func (c *call) bye(l *leg) {
	if l == nil || l.node != "" && l.node == c.goneNode {
		return // nobody to tell: that node is gone
	}
	if err := l.bye(c.s); err != nil {
		c.log.Info("BYE not confirmed", zap.String("leg", c.legName(l)), zap.Error(err))
	}
}

// cleanup releases everything the call held: dialogs, relay, ports, BLF and busy marks.
func (c *call) cleanup() {
	c.untrack()
	c.s.removeDialogs(c)
	if c.relay != nil {
		c.relay.Stop()
	}
	for _, st := range c.carried {
		st.Close()
	}
	for _, ep := range []*media.Endpoint{c.epA, c.epB} {
		if ep != nil {
			_ = ep.Close()
		}
	}
}

// other returns the leg bridged to l.
func (c *call) other(l *leg) *leg {
	switch l {
	case c.a:
		return c.b
	case c.b:
		return c.a
	}
	return nil
}

// legName names l for logs: "a" (the caller's), "b" (bridged to it) or its Call-ID.
func (c *call) legName(l *leg) string {
	switch l {
	case c.a:
		return "a"
	case c.b:
		return "b"
	}
	return l.callID
}

// newCallID makes a Call-ID for a B-leg; each fork gets its own so dialogs never share one.
func newCallID() string { return uuid.NewString() }
