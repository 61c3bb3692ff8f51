package sip

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
	"go.uber.org/zap"

	"github.com/switchboard-voip/switchboard/presence"
)

// eventPackage is one SIP event package (RFC 6665) the switch is a notifier for.
type eventPackage interface {
	// contentType of the NOTIFY bodies.
	contentType() string
	// defaultExpires when the SUBSCRIBE names none.
	defaultExpires() time.Duration
	// allowed reports whether subscriber may watch resource.
	allowed(subscriber, resource string) bool
	// body is the full current state of the subscription's resource. It is called with sub.mu
	// held, so that bodies (and dialog-info versions) are queued in the order they were made.
	body(sub *subscription) []byte
}

// bodyHandler is an event package that takes requests in SUBSCRIBE bodies (as-feature-event's
// SetDoNotDisturb).
type bodyHandler interface {
	handleBody(user string, body []byte) error
}

// minSubscribeExpires is the shortest subscription accepted (423 below), to bound refresh load.
const minSubscribeExpires = 60 * time.Second

// maxPendingNotifies bounds a slow watcher's queue: every body is full state, so when a watcher
// falls this far behind the oldest pending bodies can go without losing the current state.
const maxPendingNotifies = 32

// subscription is one watcher's dialog for one resource and event.
type subscription struct {
	dialog
	s          *Server
	event      string
	resource   string
	subscriber string

	mu       sync.Mutex
	expires  time.Time
	timer    *time.Timer
	pending  []notification
	ended    bool
	wake     chan struct{}
	done     chan struct{}
	version  int             // dialog-info version, advanced by the package's body func under mu
	seq      uint64          // presence Seq of the last status sent (under mu)
	lastBody []byte          // the last body queued (under mu)
	state    *presence.State // the status the body being made must show, if not the table's (under mu)
}

// notification is one NOTIFY waiting to be sent.
type notification struct {
	body  []byte
	state string // Subscription-State value
	final bool
}

// onSubscribe creates, refreshes or ends a subscription.
func (s *Server) onSubscribe(req *sip.Request, tx sip.ServerTransaction) {
	if req.CallID() == nil || req.From() == nil || req.To() == nil || req.CSeq() == nil {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 400, "Bad Request", nil))
		return
	}
	event := eventName(req)
	pkg, ok := s.events[event]
	if !ok {
		res := sip.NewResponseFromRequest(req, 489, "Bad Event", nil)
		res.AppendHeader(sip.NewHeader("Allow-Events", s.allowEvents()))
		_ = tx.Respond(res)
		return
	}
	expires := pkg.defaultExpires()
	if h := headerNamed(req, "Expires"); h != nil {
		n, err := strconv.ParseUint(strings.TrimSpace(h.Value()), 10, 32)
		if err != nil {
			_ = tx.Respond(sip.NewResponseFromRequest(req, 400, "Bad Expires", nil))
			return
		}
		expires = time.Duration(n) * time.Second
	}
	if expires > 0 && expires < minSubscribeExpires {
		res := sip.NewResponseFromRequest(req, 423, "Interval Too Brief", nil)
		res.AppendHeader(sip.NewHeader("Min-Expires", strconv.Itoa(int(minSubscribeExpires/time.Second))))
		_ = tx.Respond(res)
		return
	}
	if expires > s.opts.MaxExpires {
		expires = s.opts.MaxExpires
	}

	if req.To().Params.Has("tag") {
		s.refreshSubscription(req, tx, expires)
		return
	}
	if s.draining.Load() {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 503, "Service Unavailable", nil))
		return
	}
	user, ok := s.authenticate(req, tx)
	if !ok {
		return
	}
	resource := req.Recipient.User
	if resource == "" {
		resource = req.To().Address.User
	}
	if _, known := s.opts.Users.Secret(resource); !known {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 404, "Not Found", nil))
		return
	}
	if !pkg.allowed(user, resource) {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 403, "Forbidden", nil))
		return
	}

	// The place is taken before the 200 goes (and given back if it does not): the next
	// SUBSCRIBE may arrive before this one's sender has started.
	if expires > 0 && !s.reserveSubscription(user) {
		s.log.Warn("subscription refused: too many", zap.String("ext", user), zap.String("event", event),
			zap.Int("max", maxSubscriptionsPerUser))
		res := sip.NewResponseFromRequest(req, 503, "Too Many Subscriptions", nil)
		res.AppendHeader(sip.NewHeader("Retry-After", "60"))
		_ = tx.Respond(res)
		return
	}
	if h, ok := pkg.(bodyHandler); ok && len(req.Body()) > 0 {
		if err := h.handleBody(user, req.Body()); err != nil {
			s.log.Info("SUBSCRIBE body refused", zap.String("ext", user), zap.String("event", event), zap.Error(err))
			_ = tx.Respond(sip.NewResponseFromRequest(req, 400, "Bad Body", nil))
			if expires > 0 {
				s.releaseSubscription(user)
			}
			return
		}
	}
	sub := &subscription{s: s, event: event, resource: resource, subscriber: user,
		wake: make(chan struct{}, 1), done: make(chan struct{})}
	sub.initUAS(req, s.transportOf(req.Transport()))
	res := sub.response(req, 200, "OK", nil)
	res.AppendHeader(sip.NewHeader("Expires", strconv.Itoa(int(expires/time.Second))))
	if err := tx.Respond(res); err != nil {
		if expires > 0 {
			s.releaseSubscription(user)
		}
		return
	}
	log := s.log.WithLazy(zap.String("call_id", sub.callID), zap.String("ext", user), zap.String("event", event),
		zap.String("resource", resource))
	if expires == 0 {
		// A one-time fetch (RFC 6665 §4.4.3): one NOTIFY with the state, then it is over.
		sub.push("terminated;reason=timeout", true)
		s.startSubscription(sub, log, false)
		return
	}
	sub.expires = time.Now().Add(expires)
	s.startSubscription(sub, log, true)
	sub.mu.Lock()
	sub.timer = time.AfterFunc(expires, func() { sub.end("timeout") })
	sub.mu.Unlock()
	sub.push("", false)
	log.Info("subscription started", zap.Duration("expires", expires))
}

// refreshSubscription handles an in-dialog SUBSCRIBE: a refresh, or Expires: 0 to end it.
func (s *Server) refreshSubscription(req *sip.Request, tx sip.ServerTransaction, expires time.Duration) {
	s.mu.Lock()
	sub := s.subs[callIDOf(req)]
	s.mu.Unlock()
	toTag, _ := req.To().Params.Get("tag")
	fromTag, _ := req.From().Params.Get("tag")
	if sub == nil || toTag != sub.localTag || fromTag != sub.remoteTag {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 481, "Subscription Does Not Exist", nil))
		return
	}
	if h, ok := s.events[sub.event].(bodyHandler); ok && len(req.Body()) > 0 {
		if err := h.handleBody(sub.subscriber, req.Body()); err != nil {
			_ = tx.Respond(sub.response(req, 400, "Bad Body", nil))
			return
		}
	}
	res := sub.response(req, 200, "OK", nil)
	res.AppendHeader(sip.NewHeader("Expires", strconv.Itoa(int(expires/time.Second))))
	_ = tx.Respond(res)
	if expires == 0 {
		sub.end("timeout")
		return
	}
	sub.mu.Lock()
	sub.expires = time.Now().Add(expires)
	if sub.timer != nil {
		sub.timer.Reset(expires)
	}
	sub.mu.Unlock()
	sub.push("", false)
}

// startSubscription indexes sub and starts its sender.
// Once Shutdown has begun waiting, nothing starts (its wait group must not grow from zero).
func (s *Server) startSubscription(sub *subscription, log *zap.Logger, index bool) {
	s.mu.Lock()
	if s.stopping {
		if index {
			s.releaseLocked(sub.subscriber)
		}
		s.mu.Unlock()
		return
	}
	if index {
		s.subs[sub.callID] = sub
		key := sub.event + "\x00" + sub.resource
		if s.watchers[key] == nil {
			s.watchers[key] = make(map[*subscription]struct{})
		}
		s.watchers[key][sub] = struct{}{}
	}
	s.wg.Add(1)
	s.mu.Unlock()
	go sub.send(log)
}

// unindex removes sub from the server's tables.
func (s *Server) unindex(sub *subscription) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.subs[sub.callID] == sub {
		delete(s.subs, sub.callID)
		s.releaseLocked(sub.subscriber)
	}
	key := sub.event + "\x00" + sub.resource
	delete(s.watchers[key], sub)
	if len(s.watchers[key]) == 0 {
		delete(s.watchers, key)
	}
}

// notifyWatchers queues the current state of resource to every subscription to event on it.
func (s *Server) notifyWatchers(event, resource string) {
	s.mu.Lock()
	subs := make([]*subscription, 0, len(s.watchers[event+"\x00"+resource]))
	for sub := range s.watchers[event+"\x00"+resource] {
		subs = append(subs, sub)
	}
	s.mu.Unlock()
	for _, sub := range subs {
		sub.push("", false)
	}
}

// Subscriptions returns the number of active subscriptions, for metrics.
func (s *Server) Subscriptions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.subs)
}

// activeStateLocked is the Subscription-State of a live subscription; sub.mu must be held.
func (sub *subscription) activeStateLocked() string {
	left := time.Until(sub.expires).Round(time.Second)
	if left < time.Second {
		left = time.Second
	}
	return "active;expires=" + strconv.Itoa(int(left/time.Second))
}

// push queues a NOTIFY with the resource's current state for the sender; it never blocks the
// caller. An empty state means "active" with the time left.
func (sub *subscription) push(state string, final bool) {
	sub.pushState(nil, state, final, nil)
}

// pushState is push for a status the caller knows (a change as it happened, which may already
// be out of date in the table): a change older than the last one sent is dropped, so watchers
// see statuses in the order they happened and never one step back.
//
// shared, when not nil, carries a presence body already rendered for this change.
func (sub *subscription) pushState(st *presence.State, state string, final bool, shared *sharedBody) {
	pkg := sub.s.events[sub.event]
	sub.mu.Lock()
	if sub.ended && !final {
		sub.mu.Unlock()
		return
	}
	if st != nil {
		if sub.seq != 0 && st.Seq <= sub.seq && !final {
			sub.mu.Unlock()
			return
		}
		sub.seq, sub.state = st.Seq, st
	}
	if state == "" {
		state = sub.activeStateLocked()
	}
	var body []byte
	switch {
	case shared != nil && sub.event == "presence":
		if shared.body == nil || shared.host != sub.tp.host {
			shared.host, shared.body = sub.tp.host, pkg.body(sub)
		}
		body = shared.body
	default:
		body = pkg.body(sub)
	}
	n := notification{body: body, state: state, final: final}
	sub.state = nil
	if st == nil {
		sub.noteSeqLocked()
	}
	if sub.event == "as-feature-event" && !final && sub.lastBody != nil && bytes.Equal(n.body, sub.lastBody) {
		// The DND key only cares about DND: a call starting or ending changes nothing for it.
		sub.mu.Unlock()
		return
	}
	sub.lastBody = n.body
	if len(sub.pending) >= maxPendingNotifies {
		sub.pending = append(sub.pending[:0], sub.pending[len(sub.pending)-maxPendingNotifies/2:]...)
	}
	sub.pending = append(sub.pending, n)
	sub.mu.Unlock()
	select {
	case sub.wake <- struct{}{}:
	default:
	}
}

// end terminates the subscription with a final NOTIFY (reason per RFC 6665 §4.1.3).
func (sub *subscription) end(reason string) {
	sub.endState(nil, reason)
}

// endState is end with the status the final NOTIFY's body shows, when the caller knows it (nil:
// the table's): a user removed from the table has none there.
func (sub *subscription) endState(st *presence.State, reason string) {
	sub.mu.Lock()
	if sub.ended {
		sub.mu.Unlock()
		return
	}
	sub.ended = true
	if sub.timer != nil {
		sub.timer.Stop()
	}
	sub.mu.Unlock()
	sub.s.unindex(sub)
	sub.pushState(st, "terminated;reason="+reason, true, nil)
}

// send delivers queued NOTIFYs one at a time, in order, each waiting for its answer, so a
// watcher never sees states out of order.
func (sub *subscription) send(log *zap.Logger) {
	defer sub.s.wg.Done()
	defer close(sub.done)
	pkg := sub.s.events[sub.event]
	for {
		sub.mu.Lock()
		if len(sub.pending) == 0 {
			sub.mu.Unlock()
			<-sub.wake
			continue
		}
		n := sub.pending[0]
		sub.pending = sub.pending[1:]
		sub.mu.Unlock()

		req := sub.newRequest(sip.NOTIFY, n.body, pkg.contentType())
		req.AppendHeader(sip.NewHeader("Event", sub.event))
		req.AppendHeader(sip.NewHeader("Subscription-State", n.state))
		// A live NOTIFY waits up to 8 s but gives way to shutdown; the final one of a shutdown
		// waits 2 s at most, so a vanished watcher cannot hold the switch up.
		parent, wait := sub.s.ctx, 8*time.Second
		if n.final && sub.s.ctx.Err() != nil {
			parent, wait = context.Background(), 2*time.Second
		}
		ctx, cancel := context.WithTimeout(parent, wait)
		res, err := sub.do(ctx, sub.s, req)
		cancel()
		switch {
		case err != nil:
			log.Info("NOTIFY not answered", zap.Error(err))
		case res.StatusCode == 481 || res.StatusCode >= 500 && !n.final:
			// The watcher forgot the subscription (RFC 6665 §4.2.2): stop sending to it.
			log.Info("watcher ended the subscription", zap.Int("code", res.StatusCode))
			sub.end("noresource")
		}
		if n.final {
			log.Info("subscription ended", zap.String("state", n.state))
			return
		}
	}
}

// endSubscriptions sends every watcher its final NOTIFY; used on shutdown.
func (s *Server) endSubscriptions() {
	s.mu.Lock()
	subs := make([]*subscription, 0, len(s.subs))
	for _, sub := range s.subs {
		subs = append(subs, sub)
	}
	s.mu.Unlock()
	for _, sub := range subs {
		sub.end("noresource")
	}
}

// eventName is the event package of a SUBSCRIBE/NOTIFY, without parameters.
func eventName(req *sip.Request) string {
	h := headerNamed(req, "Event")
	if h == nil {
		h = headerNamed(req, "o")
	}
	if h == nil {
		return ""
	}
	name, _, _ := strings.Cut(h.Value(), ";")
	return strings.ToLower(strings.TrimSpace(name))
}

func (s *Server) allowEvents() string {
	names := make([]string, 0, len(s.events))
	for name := range s.events {
		names = append(names, name)
	}
	return strings.Join(names, ", ")
}

func (sub *subscription) String() string {
	return fmt.Sprintf("%s/%s by %s", sub.event, sub.resource, sub.subscriber)
}

// noteSeqLocked records the table's current Seq for a status body made from the table, so a
// late change event older than it is not sent after it; sub.mu must be held.
func (sub *subscription) noteSeqLocked() {
	if sub.event != "presence" && sub.event != "as-feature-event" {
		return
	}
	if p := sub.s.opts.Presence; p != nil {
		if st, ok := p.Get(sub.resource); ok && st.Seq > sub.seq {
			sub.seq = st.Seq
		}
	}
}

// maxSubscriptionsPerUser bounds the subscriptions one user holds: an attendant console
// watching a hundred colleagues' presence and calls holds two hundred; one user once held
// 3,000. Past it a new SUBSCRIBE gets 503 with Retry-After (RFC 6665 names no code for it).
const maxSubscriptionsPerUser = 500

// reserveSubscription takes one of user's places, false when they hold them all.
func (s *Server) reserveSubscription(user string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.subsOf[user] >= maxSubscriptionsPerUser {
		return false
	}
	s.subsOf[user]++
	return true
}

// releaseSubscription gives one of user's places back.
func (s *Server) releaseSubscription(user string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.releaseLocked(user)
}

// releaseLocked is releaseSubscription with s.mu held.
func (s *Server) releaseLocked(user string) {
	if s.subsOf[user]--; s.subsOf[user] <= 0 {
		delete(s.subsOf, user)
	}
}
