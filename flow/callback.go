package flow

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/switchboard-voip/switchboard/history"
	"github.com/switchboard-voip/switchboard/internal/clock"
	"github.com/switchboard-voip/switchboard/internal/sortid"
	"github.com/switchboard-voip/switchboard/media"
	"github.com/switchboard-voip/switchboard/media/prompts"
	"github.com/switchboard-voip/switchboard/presence"
	"github.com/switchboard-voip/switchboard/routing"
)

// A caller held for a busy user, or waiting in a queue, may press 2 to hang up and be called
// back. The request is kept here until the user (or an agent) is free; then the switch places
// the callback (Originator): it rings the user first, so that nobody is called back into
// music, and once the user answers it rings the caller and bridges them. A queue's callback
// keeps the caller's place in the line: the dispatcher offers it to agents like a caller.

// The callback policy.
const (
	// CallbackAttempts is how many callback calls are placed for one request before it is
	// given up: the user's (or agents') phones or the caller's were not answered.
	CallbackAttempts = 3
	// CallbackRetry is the wait after an attempt that failed, so a caller who stepped away
	// is not rung three times in a minute.
	CallbackRetry = 2 * time.Minute
	// CallbackRing is how long the user's phones ring for a callback, and then the caller's.
	CallbackRing = 30 * time.Second
)

// ErrNoSuchCallback: no pending callback has that id.
var ErrNoSuchCallback = errors.New("flow: no such callback")

// TrunkRoutes finds the way back to an outside caller: where calls to number go out through
// the trunk they came in by. cmd's directory implements it from the trunks' config.
type TrunkRoutes interface {
	OutboundVia(trunk, number string) (routing.OutboundRoute, bool)
}

// CallbackStore keeps pending callbacks across restarts; history.Callbacks implements it.
type CallbackStore interface {
	Put(cb history.PendingCallback) error
	Delete(id string) error
	List() ([]history.PendingCallback, error)
}

// Callback is a caller's request to be called back, as the API shows it.
type Callback struct {
	ID        string    // unique, time-sortable
	Caller    string    // the user to call back, "" for an outside caller
	Number    string    // the number called back: the user's extension, or the outside number
	Name      string    // the caller's display name, if known
	Trunk     string    // the trunk an outside caller came in by, and is called back through
	For       string    // the user (held for) or the queue (waited in) that calls back
	Queue     bool      // For is a queue: its agents call back, in the caller's place in line
	Requested time.Time //
	CallID    string    // the call on which it was asked for
	Attempts  int       // callback calls placed so far that failed
	NotBefore time.Time // no attempt before this (after a failed one); zero: as soon as For is free
	Dialling  bool      // a callback call for it is in progress now
}

// pendingCallback is a Callback with what the engine needs to place it.
type pendingCallback struct {
	Callback
	route *routing.OutboundRoute // an outside caller's way back
	q     *callQueue             // a queue's callback: the queue ...
	qc    *queueCaller           // ... and its place in the line
	retry clock.Timer            // the next attempt, after a failed one
}

// callbacks is every pending callback, oldest first.
type callbacks struct {
	mu   sync.Mutex
	list []*pendingCallback
	ids  sortid.Generator
}

// SetOriginator lets the engine place calls of its own (callbacks). cmd sets the SIP server,
// which needs the engine first; until then no caller is offered a callback.
func (e *Engine) SetOriginator(o Originator) {
	e.originator.Store(&o)
	// Callbacks kept from before a restart are placed once their user (or an agent) is free.
	e.callbacks.mu.Lock()
	users := map[string]bool{}
	for _, pc := range e.callbacks.list {
		if !pc.Queue {
			users[pc.For] = true
		}
	}
	e.callbacks.mu.Unlock()
	for ext := range users {
		e.kickCallbacks(ext)
	}
	e.pokeQueues()
}

// originatorOf is the engine's Originator, or nil.
func (e *Engine) originatorOf() Originator {
	if o := e.originator.Load(); o != nil {
		return *o
	}
	return nil
}

// callbackTarget is whom a callback calls: a user's extension, or an outside number through
// its trunk.
type callbackTarget struct {
	number, name string
	route        *routing.OutboundRoute
}

// callbackFor says whether c's caller can be called back, and how. Not when the switch cannot
// place calls, nor for an outside caller without a number (anonymous, a name) or whose trunk
// has no way out: they are not offered 2, and pressing it does nothing.
func (e *Engine) callbackFor(c Call) (callbackTarget, bool) {
	if e.originatorOf() == nil || e.o.Statuses == nil {
		return callbackTarget{}, false // no calls of its own, or nobody's status to wait for
	}
	if ext := c.Caller(); ext != "" {
		return callbackTarget{number: ext, name: c.CallerName()}, true
	}
	number, trunk := c.CallerID(), c.Trunk()
	if trunk == "" || e.o.Trunks == nil || !dialable(number) {
		return callbackTarget{}, false
	}
	route, ok := e.o.Trunks.OutboundVia(trunk, number)
	if !ok {
		return callbackTarget{}, false
	}
	return callbackTarget{number: number, route: &route}, true // the number is all we know
}

// dialable reports whether number is digits (a leading + allowed), as outside numbers are.
func dialable(number string) bool {
	digits := strings.TrimPrefix(number, "+")
	return len(digits) >= 2 && strings.Trim(digits, "0123456789") == ""
}

// withCallbackOffer puts "Press 2 to hang up and be called back" before music, when c's caller
// can be called back.
func (e *Engine) withCallbackOffer(c Call, music media.Source) media.Source {
	if _, ok := e.callbackFor(c); !ok {
		return music
	}
	return media.Sequence(promptSource(prompts.CallbackOffer), music)
}

// callMeBack books a callback for c's caller, held for user forExt (q nil) or queued at qc in
// queue q's line, then tells the caller and returns: the caller's call ends. leave takes the
// caller out of the hold line (a queue's leave only stops the waiting: the callback keeps the
// place). It reports false, and c goes on as it was, when the caller cannot be called back.
func (e *Engine) callMeBack(c Call, forExt string, leave func(), q *callQueue, qc *queueCaller) bool {
	t, ok := e.callbackFor(c)
	if !ok {
		c.Log().Info("callback asked for but not possible: 2 ignored", zap.String("caller_id", c.CallerID()))
		return false
	}
	leave()
	pc := &pendingCallback{Callback: Callback{
		Caller: c.Caller(), Number: t.number, Name: t.name, For: forExt, Queue: q != nil,
		Requested: e.clock.Now(), CallID: c.ID(),
	}, route: t.route, q: q, qc: qc}
	if t.route != nil {
		pc.Trunk = t.route.Trunk
	}
	e.callbacks.mu.Lock()
	pc.ID, _ = e.callbacks.ids.New(pc.Requested)
	e.callbacks.list = append(e.callbacks.list, pc)
	e.saveCallback(pc)
	e.callbacks.mu.Unlock()
	c.SetOutcome(history.Callback, "")
	c.Trace(fmt.Sprintf("callback requested: %s is called back when %s is free", t.number, forExt))
	c.Log().Info("callback requested", zap.String("callback", pc.ID), zap.String("number", t.number),
		zap.String("for", forExt), zap.Bool("queue", q != nil))
	if q != nil {
		q.toCallback(qc, pc)
	} else {
		// Whoever holds behind this caller is next when the user is free; then the callback.
		if st, ok := e.statusOf(forExt); ok {
			e.holds.statusChanged(forExt, st)
		}
		e.kickCallbacks(forExt)
	}
	_, _ = e.play(c, promptSource(prompts.CallbackBooked), false)
	return true
}

// Callbacks returns the pending callbacks, oldest first.
func (e *Engine) Callbacks() []Callback {
	e.callbacks.mu.Lock()
	defer e.callbacks.mu.Unlock()
	out := make([]Callback, 0, len(e.callbacks.list))
	for _, pc := range e.callbacks.list {
		out = append(out, pc.Callback)
	}
	return out
}

// CancelCallback forgets a pending callback: no further attempt is made (one in progress goes
// on), and a queue's callback leaves the line.
func (e *Engine) CancelCallback(id string) error {
	e.callbacks.mu.Lock()
	pc := e.callbacks.take(id)
	if pc != nil {
		e.forgetCallback(pc)
		if pc.retry != nil {
			pc.retry.Stop()
		}
	}
	e.callbacks.mu.Unlock()
	if pc == nil {
		return fmt.Errorf("cancel callback %s: %w", id, ErrNoSuchCallback)
	}
	if pc.q != nil {
		// Out of the line; an offer in progress ends as for a caller who hung up.
		pc.q.leave(pc.qc)
	}
	return nil
}

// take removes the callback with id from the list and returns it; cb.mu must be held.
func (cb *callbacks) take(id string) *pendingCallback {
	for i, pc := range cb.list {
		if pc.ID == id {
			cb.list = slices.Delete(cb.list, i, i+1)
			return pc
		}
	}
	return nil
}

// stopRetries stops every pending retry timer (the engine is closing).
func (e *Engine) stopRetries() {
	e.callbacks.mu.Lock()
	defer e.callbacks.mu.Unlock()
	for _, pc := range e.callbacks.list {
		if pc.retry != nil {
			pc.retry.Stop()
		}
	}
}

// userFree reports whether ext can take a callback now: Available (not on a call, not DND)
// with a phone registered.
func (e *Engine) userFree(ext string) bool {
	if e.o.Statuses == nil {
		return false
	}
	st, ok := e.o.Statuses.Get(ext)
	return ok && st.Status == presence.Available && st.Registered
}

// callbackStatusChanged places a user's oldest callback when they become free, and the
// callbacks that waited for their caller to be free (off the phone, not DND).
func (e *Engine) callbackStatusChanged(st presence.State) {
	if st.Status != presence.Available {
		return
	}
	e.kickCallbacks(st.Ext)
	var users []string
	var queues []*callQueue
	e.callbacks.mu.Lock()
	for _, pc := range e.callbacks.list {
		switch {
		case pc.Caller != st.Ext:
		case pc.q != nil:
			queues = append(queues, pc.q)
		default:
			users = append(users, pc.For)
		}
	}
	e.callbacks.mu.Unlock()
	for _, ext := range users {
		e.kickCallbacks(ext)
	}
	for _, q := range queues {
		q.poke()
	}
}

// callerFree reports whether a user to be called back can take the call now: not on another
// call (their phones would be rung while they talk), not DND. An outside caller always can.
func (e *Engine) callerFree(pc *pendingCallback) bool {
	if pc.Caller == "" {
		return true
	}
	st, ok := e.o.Statuses.Get(pc.Caller)
	return !ok || st.Status == presence.Available
}

// callbackWaits reports whether the queue's dispatcher must pass over qc for now: a callback
// waits until the switch can place calls and its caller is free.
func (e *Engine) callbackWaits(qc *queueCaller) bool {
	return qc.cb != nil && (e.originatorOf() == nil || !e.callerFree(qc.cb))
}

// kickCallbacks places ext's oldest due callback, if ext is free, nobody is holding for them
// (callers on the line are put through first) and no callback of theirs is in progress.
func (e *Engine) kickCallbacks(ext string) {
	orig := e.originatorOf()
	if orig == nil || e.ctx.Err() != nil || !e.userFree(ext) || e.Waiting(ext) > 0 {
		return
	}
	now := e.clock.Now()
	e.callbacks.mu.Lock()
	var next *pendingCallback
	for _, pc := range e.callbacks.list {
		if pc.Queue || pc.For != ext {
			continue
		}
		if pc.Dialling {
			e.callbacks.mu.Unlock()
			return // one callback at a time per user
		}
		if next == nil && !now.Before(pc.NotBefore) && e.callerFree(pc) {
			next = pc
		}
	}
	if next != nil {
		next.Dialling = true
	}
	e.callbacks.mu.Unlock()
	if next == nil {
		return
	}
	err := orig.Originate(Origination{
		Ring:     Ring{Targets: []string{ext}, Timeout: CallbackRing},
		RingFrom: next.Number, RingFromName: callbackName(next),
		Caller: ext, From: ext, To: next.Number,
		Run: func(c Call, r Originated) { e.runUserCallback(c, r, next) },
	})
	if err != nil {
		e.log().Warn("callback not placed", zap.String("callback", next.ID), zap.String("ext", ext), zap.Error(err))
		e.callbackFailed(nil, next)
	}
}

// callbackName is what the called-back user's phone shows: why it rings, and for whom.
func callbackName(pc *pendingCallback) string {
	if pc.Name != "" { // Name and Number never change: read without the lock
		return "Callback: " + pc.Name
	}
	return "Callback: " + pc.Number
}

// runUserCallback is a user's callback call once their phones have rung.
func (e *Engine) runUserCallback(c Call, r Originated, pc *pendingCallback) {
	c.Via(pc.For)
	c.Trace(fmt.Sprintf("callback to %s for %s (asked on call %s), attempt %d of %d",
		pc.Number, pc.For, pc.CallID, pc.Attempts+1, CallbackAttempts))
	if r.Result != Answered {
		c.Trace(pc.For + " did not answer")
		e.callbackFailed(c, pc)
		return
	}
	e.callBack(c, r.Ext, pc)
}

// offerCallback is the queue dispatcher's offer of agents to callback pc at qc in its line:
// the switch rings them, off the dispatcher's goroutine.
func (q *callQueue) offerCallback(qc *queueCaller, pc *pendingCallback) {
	e := q.e
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		agents := q.takeOffer(qc)
		if len(agents) == 0 {
			return
		}
		e.callbacks.mu.Lock()
		pc.Dialling = true
		e.callbacks.mu.Unlock()
		orig := e.originatorOf()
		err := errors.New("no originator")
		if orig != nil {
			err = orig.Originate(Origination{
				Ring:     Ring{Targets: agents, Timeout: q.cfg.RingTimeout},
				RingFrom: pc.Number, RingFromName: callbackName(pc),
				From: q.cfg.Ext, FromName: q.cfg.Name, To: pc.Number,
				Run: func(c Call, r Originated) { e.runQueueCallback(c, r, q, agents, pc) },
			})
		}
		if err != nil {
			e.log().Warn("queue callback not placed", zap.String("callback", pc.ID), zap.Error(err))
			q.offerDone(qc, agents, false)
			e.callbackFailed(nil, pc)
		}
	}()
}

// runQueueCallback is a queue's callback call once the agents offered it have rung: the agent
// who answered takes it out of the line, as for a caller.
func (e *Engine) runQueueCallback(c Call, r Originated, q *callQueue, agents []string, pc *pendingCallback) {
	c.Via(q.cfg.Ext)
	c.Trace(fmt.Sprintf("callback to %s from queue %s (asked on call %s), attempt %d of %d",
		pc.Number, q.cfg.Ext, pc.CallID, pc.Attempts+1, CallbackAttempts))
	if r.Result != Answered {
		if r.Result != Gone {
			e.autoPause(q, agents, c.Log()) // a missed callback offer is a missed offer
		}
		q.offerDone(pc.qc, agents, false)
		c.Trace("no agent answered: " + strings.Join(agents, ", "))
		e.callbackFailed(c, pc)
		return
	}
	q.answeredBy(pc.qc, agents, r.Ext)
	e.callBack(c, r.Ext, pc)
}

// callBack is the second half of a callback call: ext answered and hears ringing while the
// caller's phones (or the carrier) ring; when the caller answers they are bridged.
func (e *Engine) callBack(c Call, ext string, pc *pendingCallback) {
	with := []string{ext}
	if pc.Caller != "" {
		with = append(with, pc.Caller)
	}
	c.SetState(Ringing, with...)
	c.Play(ringback())
	ring := Ring{Targets: []string{pc.Caller}, Timeout: CallbackRing}
	if pc.route != nil {
		route := *pc.route
		ring = Ring{Trunk: &route, Timeout: CallbackRing}
	}
	rang := c.Ring(ring)
	switch rang.Result {
	case Answered:
		e.callbackDone(pc)
		c.Trace(pc.Number + " answered the callback")
		c.Log().Info("callback answered", zap.String("callback", pc.ID), zap.String("ext", ext))
		c.SetState(Talking, rang.Party.Ext(), ext)
		e.bridge(c, rang.Party)
	case Gone:
		c.Trace(ext + " hung up before " + pc.Number + " answered")
		e.callbackFailed(c, pc)
	default:
		c.Trace(pc.Number + " did not answer")
		e.callbackFailed(c, pc)
		_, _ = e.play(c, promptSource(prompts.Unavailable), false)
	}
}

// callbackDone forgets a callback that reached its caller.
func (e *Engine) callbackDone(pc *pendingCallback) {
	e.callbacks.mu.Lock()
	if e.callbacks.take(pc.ID) != nil {
		e.forgetCallback(pc)
	}
	e.callbacks.mu.Unlock()
}

// callbackFailed counts a failed attempt (c is its call, nil when none was placed): another
// follows CallbackRetry later, in the caller's place in a queue's line, until
// CallbackAttempts have failed; then the request is given up.
func (e *Engine) callbackFailed(c Call, pc *pendingCallback) {
	now := e.clock.Now()
	e.callbacks.mu.Lock()
	pc.Dialling = false
	pc.Attempts++
	if !slices.Contains(e.callbacks.list, pc) {
		e.callbacks.mu.Unlock()
		return // cancelled meanwhile
	}
	gaveUp := pc.Attempts >= CallbackAttempts
	if gaveUp {
		e.callbacks.take(pc.ID)
		e.forgetCallback(pc)
	} else {
		pc.NotBefore = now.Add(CallbackRetry)
		e.saveCallback(pc)
	}
	e.callbacks.mu.Unlock()
	if !gaveUp && e.ctx.Err() != nil {
		return // closing: kept, and tried again after a restart
	}
	log := e.log()
	if c != nil {
		log = c.Log()
	}
	if gaveUp {
		if c != nil {
			c.Trace(fmt.Sprintf("callback given up after %d attempts", pc.Attempts))
		}
		log.Info("callback given up", zap.String("callback", pc.ID), zap.String("number", pc.Number),
			zap.String("for", pc.For), zap.Int("attempts", pc.Attempts))
		if pc.q != nil {
			pc.q.leave(pc.qc)
		}
		return
	}
	log.Info("callback failed; trying again later", zap.String("callback", pc.ID),
		zap.Int("attempts", pc.Attempts), zap.Time("next", pc.NotBefore))
	again := func() { e.kickCallbacks(pc.For) }
	if pc.q != nil {
		pc.q.backInLine(pc.qc, pc.NotBefore)
		again = pc.q.poke
	}
	t := e.clock.AfterFunc(CallbackRetry, again)
	e.callbacks.mu.Lock()
	pc.retry = t
	e.callbacks.mu.Unlock()
}

// toCallback turns queued caller qc into a callback in the same place in the line. An offer
// the dispatcher made to the caller who is leaving is given back, to be made to the callback.
func (q *callQueue) toCallback(qc *queueCaller, pc *pendingCallback) {
	q.mu.Lock()
	qc.cb = pc
	q.unshare(qc)
	if qc.offer != nil {
		for _, ext := range qc.offer {
			if a := q.agents[ext]; a != nil {
				a.ringing = false
			}
			q.release(ext)
		}
		qc.offer = nil
		qc.ringing = false
	}
	q.mu.Unlock()
	q.poke()
}

// backInLine puts a callback whose attempt failed back in the line at its place of arrival,
// to be offered again from notBefore.
func (q *callQueue) backInLine(qc *queueCaller, notBefore time.Time) {
	q.mu.Lock()
	qc.notBefore = notBefore
	if !slices.Contains(q.waiting, qc) {
		i, _ := slices.BinarySearchFunc(q.waiting, qc.joined, func(w *queueCaller, t time.Time) int {
			return w.joined.Compare(t)
		})
		q.waiting = slices.Insert(q.waiting, i, qc)
	}
	q.mu.Unlock()
}

// unshare takes a callback out of a cluster's shared order (q.mu held): it keeps its place in
// this node's line, but waiting for its caller or its next attempt it must not hold back the
// callers waiting at other nodes, which their dispatchers would do for a caller ahead of them.
func (q *callQueue) unshare(qc *queueCaller) {
	if qc.shared {
		q.e.o.Shared.Leave(q.cfg.Ext, qc.id)
		qc.shared = false
	}
}

// saveCallback writes pc to the store, if there is one; e.callbacks.mu must be held, so that
// the writes of one callback reach the store in the order they were made.
func (e *Engine) saveCallback(pc *pendingCallback) {
	if e.o.Callbacks == nil {
		return
	}
	cb := pc.Callback
	err := e.o.Callbacks.Put(history.PendingCallback{ID: cb.ID, Caller: cb.Caller, Number: cb.Number, Name: cb.Name,
		Trunk: cb.Trunk, For: cb.For, Queue: cb.Queue, Requested: cb.Requested, CallID: cb.CallID,
		Attempts: cb.Attempts, NotBefore: cb.NotBefore})
	if err != nil {
		e.log().Warn("callback not saved: a restart would forget it", zap.String("callback", cb.ID), zap.Error(err))
	}
}

// forgetCallback removes pc from the store; e.callbacks.mu must be held.
func (e *Engine) forgetCallback(pc *pendingCallback) {
	if e.o.Callbacks == nil {
		return
	}
	if err := e.o.Callbacks.Delete(pc.ID); err != nil {
		e.log().Warn("callback not deleted: a restart would try it again", zap.String("callback", pc.ID), zap.Error(err))
	}
}

// restoreCallbacks takes back the callbacks pending when the switch stopped: a queue's in its
// caller's place in the line (by the time it was asked for), each attempt not before it was
// due. One that can no longer be made (its queue or its trunk's way out is gone from the
// config) is dropped.
func (e *Engine) restoreCallbacks() {
	if e.o.Callbacks == nil {
		return
	}
	list, err := e.o.Callbacks.List()
	if err != nil {
		e.log().Warn("pending callbacks not all read back", zap.Error(err))
	}
	now := e.clock.Now()
	e.callbacks.mu.Lock()
	defer e.callbacks.mu.Unlock()
	for _, r := range list {
		pc := &pendingCallback{Callback: Callback{ID: r.ID, Caller: r.Caller, Number: r.Number, Name: r.Name,
			Trunk: r.Trunk, For: r.For, Queue: r.Queue, Requested: r.Requested, CallID: r.CallID,
			Attempts: r.Attempts, NotBefore: r.NotBefore}}
		if why := e.restoreCallback(pc); why != "" {
			e.log().Warn("pending callback dropped", zap.String("callback", r.ID), zap.String("why", why))
			e.forgetCallback(pc)
			continue
		}
		e.callbacks.list = append(e.callbacks.list, pc)
		if wait := pc.NotBefore.Sub(now); wait > 0 {
			again := func() { e.kickCallbacks(pc.For) }
			if pc.q != nil {
				again = pc.q.poke
			}
			pc.retry = e.clock.AfterFunc(wait, again)
		}
	}
	e.log().Info("pending callbacks restored", zap.Int("callbacks", len(e.callbacks.list)))
}

// restoreCallback finds a restored callback's way back to the caller and its queue; it says
// why not, or "".
func (e *Engine) restoreCallback(pc *pendingCallback) string {
	if pc.Trunk != "" {
		if e.o.Trunks == nil {
			return "no trunks"
		}
		route, ok := e.o.Trunks.OutboundVia(pc.Trunk, pc.Number)
		if !ok {
			return "trunk " + pc.Trunk + " has no way out"
		}
		pc.route = &route
	}
	if !pc.Queue {
		return ""
	}
	if e.o.Statuses == nil {
		return "no status table"
	}
	plan := e.o.Router.Decide(routing.Request{Caller: pc.Caller, Dialled: pc.For})
	if plan.Action != routing.Enqueue {
		return pc.For + " is not a queue any more"
	}
	q := e.queueFor(plan.Queue)
	qc := &queueCaller{joined: pc.Requested, tried: make(map[string]time.Time), cb: pc}
	pc.q, pc.qc = q, qc
	q.backInLine(qc, pc.NotBefore)
	return ""
}
