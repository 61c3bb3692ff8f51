package flow

import (
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/switchboard-voip/switchboard/history"
	"github.com/switchboard-voip/switchboard/media"
	"github.com/switchboard-voip/switchboard/media/prompts"
	"github.com/switchboard-voip/switchboard/presence"
	"github.com/switchboard-voip/switchboard/routing"
)

// callQueue is one call queue at run time: callers waiting in order of arrival and the members'
// availability for offers. One dispatcher goroutine per queue makes the offers; callers' own
// goroutines ring the agents they are offered and report back.
type callQueue struct {
	e   *Engine
	cfg routing.Queue

	mu      sync.Mutex
	waiting []*queueCaller
	agents  map[string]*queueAgent
	rr      int // next round-robin position
	wake    chan struct{}
}

type queueAgent struct {
	ext         string
	onCall      bool      // last known
	lastEnded   time.Time // when their last call ended (longest idle first)
	wrapupUntil time.Time // no offers before this
	ringing     bool      // being offered a caller now
	held        bool      // this node holds the agent in a cluster (answered) until wrap-up ends
	missed      int       // offers in a row the agent let ring out or declined (auto-pause)
}

type queueCaller struct {
	c       Call
	joined  time.Time
	offer   []string             // agents the dispatcher chose for this caller, not yet taken
	tried   map[string]time.Time // agents who let this caller ring out, and when
	ringing bool

	// In a cluster: the caller's id at this node and place in the cluster-wide order; shared
	// is false when the other nodes could not be told (the caller then waits here only).
	id     string
	seq    uint64
	shared bool

	// A caller who asked to be called back keeps their place as cb (callback.go), offered
	// from notBefore.
	cb        *pendingCallback
	notBefore time.Time
}

// offerReady tells a queued caller that the dispatcher has agents for them.
type offerReady struct{}

// queues is every call queue that has had a caller.
type queues struct {
	mu    sync.Mutex
	byExt map[string]*callQueue
}

// queueFor returns the run-time queue for cfg, starting its dispatcher on first use.
func (e *Engine) queueFor(cfg routing.Queue) *callQueue {
	e.queues.mu.Lock()
	defer e.queues.mu.Unlock()
	if e.queues.byExt == nil {
		e.queues.byExt = make(map[string]*callQueue)
	}
	q := e.queues.byExt[cfg.Ext]
	if q != nil {
		q.mu.Lock()
		q.configure(cfg) // the latest decision carries the configuration
		q.mu.Unlock()
		return q
	}
	q = &callQueue{e: e, agents: make(map[string]*queueAgent), wake: make(chan struct{}, 1)}
	q.configure(cfg)
	e.queues.byExt[cfg.Ext] = q
	e.wg.Add(1)
	go q.run()
	return q
}

// QueueChanged gives a queue the directory's new settings for it at once, rather than with
// its next caller: a member added while callers wait is offered one as soon as they are free;
// a member taken out is offered no more (an offer ringing them now runs its course). A queue
// that has not had a caller yet has nothing to change.
func (e *Engine) QueueChanged(cfg routing.Queue) {
	e.queues.mu.Lock()
	q := e.queues.byExt[cfg.Ext]
	e.queues.mu.Unlock()
	if q == nil {
		return
	}
	q.mu.Lock()
	q.configure(cfg)
	q.mu.Unlock()
	q.poke()
}

// configure takes cfg as the queue's settings, adding an agent for each new member (agents
// of former members stay, unused, so that their wrap-up is remembered if they come back);
// q.mu is held, or q is not yet shared.
func (q *callQueue) configure(cfg routing.Queue) {
	q.cfg = cfg
	for _, m := range cfg.Members {
		if q.agents[m] != nil {
			continue
		}
		a := &queueAgent{ext: m}
		if st, ok := q.e.o.Statuses.Get(m); ok {
			a.onCall = st.OnCall
		}
		q.agents[m] = a
	}
}

// agentChanged feeds presence changes to every queue the user answers for: the end of a call
// starts their wrap-up; becoming available may allow an offer.
func (e *Engine) agentChanged(st presence.State) {
	e.queues.mu.Lock()
	qs := make([]*callQueue, 0, len(e.queues.byExt))
	for _, q := range e.queues.byExt {
		qs = append(qs, q)
	}
	e.queues.mu.Unlock()
	for _, q := range qs {
		q.mu.Lock()
		a := q.agents[st.Ext]
		if a != nil {
			if a.onCall && !st.OnCall {
				a.lastEnded = q.e.clock.Now()
				a.wrapupUntil = a.lastEnded.Add(q.cfg.Wrapup)
			}
			a.onCall = st.OnCall
		}
		q.mu.Unlock()
		if a != nil {
			q.poke()
		}
	}
}

// pokeQueues has every queue look again (another node's callers or claims changed).
func (e *Engine) pokeQueues() {
	e.queues.mu.Lock()
	defer e.queues.mu.Unlock()
	for _, q := range e.queues.byExt {
		q.poke()
	}
}

func (q *callQueue) poke() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// run makes offers whenever something changes, and when a wrap-up ends.
func (q *callQueue) run() {
	defer q.e.wg.Done()
	var timer interface{ Stop() bool }
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		next := q.dispatch()
		if f := q.e.o.OnQueueChange; f != nil {
			f()
		}
		if timer != nil {
			timer.Stop()
		}
		timer = q.e.clock.AfterFunc(next, q.poke)
		select {
		case <-q.wake:
		case <-q.e.ctx.Done():
			return
		}
	}
}

// free reports whether an agent can be offered a caller now.
func (q *callQueue) free(a *queueAgent, now time.Time) bool {
	if a.ringing || a.onCall || now.Before(a.wrapupUntil) {
		return false
	}
	if sh := q.e.o.Shared; sh != nil && sh.Claimed(a.ext) {
		return false // another node's offer or call holds them
	}
	st, ok := q.e.o.Statuses.Get(a.ext)
	return ok && st.Status == presence.Available && st.Registered
}

// dispatch offers waiting callers, oldest first, to free agents by the queue's strategy. It
// returns how long until a wrap-up ends (when it must look again).
//
// In a cluster a caller waits while one at another node came first (and is not being offered),
// and each agent offered is claimed first, so that no other node offers them meanwhile; an
// agent who answered stays claimed until their wrap-up ends.
func (q *callQueue) dispatch() time.Duration {
	sh := q.e.o.Shared
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.e.clock.Now()
	next := time.Hour
	for _, a := range q.agents {
		if a.wrapupUntil.After(now) && a.wrapupUntil.Sub(now) < next {
			next = a.wrapupUntil.Sub(now) + time.Millisecond
		}
		if a.held && !a.onCall && !now.Before(a.wrapupUntil) {
			a.held = false
			q.release(a.ext)
		}
	}
	for _, qc := range q.waiting {
		if qc.ringing || now.Before(qc.notBefore) || q.e.callbackWaits(qc) {
			continue // a callback waits for its time, its caller, and the switch to place calls
		}
		if sh != nil && qc.shared && sh.Ahead(q.cfg.Ext, qc.seq) {
			break // a caller at another node came first: theirs is the next offer
		}
		agents := q.pick(qc, now)
		if sh != nil {
			claimed := agents[:0:0]
			for _, ext := range agents {
				if sh.Claim(ext) {
					claimed = append(claimed, ext)
				}
			}
			agents = claimed
		}
		if len(agents) == 0 {
			break // no free agent for the oldest caller: later callers must not jump ahead
		}
		for _, ext := range agents {
			q.agents[ext].ringing = true
		}
		qc.ringing = true
		qc.offer = agents
		if qc.shared {
			sh.Ringing(q.cfg.Ext, qc.id, qc.seq, true)
		}
		if qc.cb != nil {
			q.offerCallback(qc, qc.cb)
		} else {
			qc.c.Post(offerReady{})
		}
	}
	return next
}

// pick chooses agents for one caller: everyone free for ringall, else one by the strategy.
// Agents who just let this caller ring out are passed over while anyone else is free.
func (q *callQueue) pick(qc *queueCaller, now time.Time) []string {
	var free, fresh []string
	for _, m := range q.cfg.Members {
		a := q.agents[m]
		if a == nil || !q.free(a, now) {
			continue
		}
		free = append(free, m)
		if t, tried := qc.tried[m]; !tried || now.Sub(t) > q.cfg.RingTimeout*time.Duration(len(q.cfg.Members)) {
			fresh = append(fresh, m)
		}
	}
	if len(fresh) > 0 {
		free = fresh
	}
	if len(free) == 0 {
		return nil
	}
	switch q.cfg.Strategy {
	case routing.RingAll:
		return free
	case routing.RoundRobin:
		n := len(q.cfg.Members)
		for i := 0; i < n; i++ {
			m := q.cfg.Members[(q.rr+i)%n]
			for _, f := range free {
				if f == m {
					q.rr = (q.rr + i + 1) % n
					return []string{m}
				}
			}
		}
		return free[:1]
	default: // longest idle
		sort.SliceStable(free, func(i, j int) bool {
			return q.agents[free[i]].lastEnded.Before(q.agents[free[j]].lastEnded)
		})
		return free[:1]
	}
}

func (q *callQueue) join(c Call) (*queueCaller, int) {
	qc := &queueCaller{c: c, joined: q.e.clock.Now(), tried: make(map[string]time.Time)}
	if sh := q.e.o.Shared; sh != nil {
		qc.id = strconv.FormatUint(q.e.queueCallers.Add(1), 10)
		seq, err := sh.Join(q.cfg.Ext, qc.id)
		if err != nil {
			c.Log().Warn("queued caller not shared with the other nodes: waits for this node's offers only", zap.Error(err))
		} else {
			qc.seq, qc.shared = seq, true
		}
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.waiting = append(q.waiting, qc)
	pos := len(q.waiting)
	q.poke()
	return qc, pos
}

// leave takes qc out of the line. An offer the dispatcher made that qc will never read is
// released, so its agents are not left "ringing" for nobody.
func (q *callQueue) leave(qc *queueCaller) {
	q.mu.Lock()
	q.removeLocked(qc)
	q.mu.Unlock()
	q.poke()
}

// removeLocked drops qc from the line (and the cluster's) and releases an unread offer; q.mu
// must be held.
func (q *callQueue) removeLocked(qc *queueCaller) {
	for i, x := range q.waiting {
		if x == qc {
			q.waiting = append(q.waiting[:i:i], q.waiting[i+1:]...)
			if qc.shared {
				q.e.o.Shared.Leave(q.cfg.Ext, qc.id)
			}
			break
		}
	}
	for _, ext := range qc.offer {
		if a := q.agents[ext]; a != nil {
			a.ringing = false
		}
		q.release(ext)
	}
	qc.offer = nil
}

// release lets go of an agent this node claimed for an offer, in a cluster.
func (q *callQueue) release(ext string) {
	if sh := q.e.o.Shared; sh != nil {
		sh.Release(ext)
	}
}

// takeOffer hands qc the agents the dispatcher chose for it, once.
func (q *callQueue) takeOffer(qc *queueCaller) []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	agents := qc.offer
	qc.offer = nil
	return agents
}

// offerDone releases the agents of an offer; unanswered ones are remembered for this caller.
func (q *callQueue) offerDone(qc *queueCaller, agents []string, answered bool) {
	q.mu.Lock()
	now := q.e.clock.Now()
	for _, ext := range agents {
		if a := q.agents[ext]; a != nil {
			a.ringing = false
		}
		q.release(ext)
		if !answered {
			qc.tried[ext] = now
		}
	}
	qc.ringing = false
	if qc.shared && slices.Contains(q.waiting, qc) { // a caller gone is not written back
		q.e.o.Shared.Ringing(q.cfg.Ext, qc.id, qc.seq, false)
	}
	q.mu.Unlock()
	q.poke()
}

// answeredBy ends an offer that agent took: the agent counts as on a call at once (the status
// table's change reaches the queue later), so no second caller is offered to them meanwhile.
func (q *callQueue) answeredBy(qc *queueCaller, agents []string, agent string) {
	q.mu.Lock()
	for _, ext := range agents {
		a := q.agents[ext]
		if a != nil {
			a.ringing = false
		}
		if ext == agent && a != nil {
			a.missed = 0
			a.onCall = true
			a.held = q.e.o.Shared != nil // claimed until the call and its wrap-up end
			continue
		}
		q.release(ext)
	}
	qc.ringing = false
	q.removeLocked(qc) // out of the line before the dispatcher looks again
	q.mu.Unlock()
	q.poke()
}

// QueueStats is a queue's run-time state, for the API.
type QueueStats struct {
	Waiting     int
	LongestWait time.Duration
	Ringing     []string // agents being offered a caller
	WrapUp      []string // agents resting after a call
}

// QueueStats returns the state of queue ext (zero when it never had a caller).
func (e *Engine) QueueStats(ext string) QueueStats {
	e.queues.mu.Lock()
	q := e.queues.byExt[ext]
	e.queues.mu.Unlock()
	if q == nil {
		return QueueStats{}
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.e.clock.Now()
	st := QueueStats{Waiting: len(q.waiting)}
	if len(q.waiting) > 0 {
		st.LongestWait = now.Sub(q.waiting[0].joined)
	}
	for _, m := range q.cfg.Members {
		a := q.agents[m]
		switch {
		case a == nil:
		case a.ringing:
			st.Ringing = append(st.Ringing, m)
		case now.Before(a.wrapupUntil):
			st.WrapUp = append(st.WrapUp, m)
		}
	}
	return st
}

// enqueue is "call queue": the switch answers, the caller hears their position and music, and
// is offered to free members by the queue's strategy until one answers or max_wait passes.
func (e *Engine) enqueue(c Call, plan *routing.Plan) {
	if e.o.Statuses == nil {
		c.Refuse(routing.Unavailable)
		return
	}
	if err := c.Answer(); err != nil {
		c.Log().Warn("queue not answered", zap.Error(err))
		return
	}
	cfg := plan.Queue
	q := e.queueFor(cfg)
	qc, pos := q.join(c)
	c.SetState(Queued)
	c.Holding(true)
	c.Via(cfg.Ext)
	left, result := false, QueueEnded
	leave := func() {
		if !left {
			left = true
			q.leave(qc)
			c.Holding(false)
			e.queueLeft(result, e.clock.Now().Sub(qc.joined))
		}
	}
	defer leave()
	log := c.Log().WithLazy(zap.String("queue", cfg.Ext))
	log.Info("caller queued", zap.Int("position", pos))

	music := cfg.MusicOnHold
	if len(music) == 0 {
		music, _ = prompts.PCM(prompts.MusicOnHold)
	}
	if cfg.AnnouncePosition {
		announce := append([]string{prompts.CallerNumber}, prompts.Number(pos)...)
		c.Play(media.Sequence(promptSource(announce...), e.withCallbackOffer(c, media.Loop(music))))
	} else {
		c.Play(e.withCallbackOffer(c, media.Loop(music)))
	}
	maxWait, timer := e.after(c, cfg.MaxWait)
	defer timer.Stop()
	for {
		ev := c.Next()
		if err := goneErr(ev); err != nil {
			if _, hungUp := ev.(CallerGone); hungUp {
				log.Info("queued caller hung up", zap.Duration("waited", e.clock.Now().Sub(qc.joined)))
				c.SetOutcome(history.Abandoned, "")
				result = QueueAbandoned
			}
			return
		}
		switch ev := ev.(type) {
		case offerReady:
			agents := q.takeOffer(qc)
			if len(agents) == 0 {
				continue
			}
			log.Info("offering queued caller", zap.Strings("agents", agents))
			c.SetState(Queued, agents...)
			rang := c.Ring(Ring{Targets: agents, Timeout: cfg.RingTimeout})
			switch rang.Result {
			case Answered:
				// Out of the line the moment an agent answers, not when the talk ends; the
				// agent counts as on a call at once.
				q.answeredBy(qc, agents, rang.Party.Ext())
				result = QueueAnswered
				leave()
				c.SetState(Talking, rang.Party.Ext())
				e.bridge(c, rang.Party)
				return
			case Gone:
				result = QueueAbandoned
				leave() // first: the dispatcher must not offer a caller who is going
				q.offerDone(qc, agents, false)
				return
			default:
				// Paused first: the agents are still marked ringing, so the dispatcher cannot
				// offer the caller to them again before their DND is in the table.
				e.autoPause(q, agents, log)
				q.offerDone(qc, agents, false)
				c.SetState(Queued)
			}
		case deadline:
			if ev == maxWait {
				result = QueueTimedOut
				leave()
				log.Info("queued caller waited too long", zap.Duration("max_wait", cfg.MaxWait))
				e.next(c, plan.NoAnswer)
				return
			}
		case Digit:
			// 2: a callback, in this caller's place in the line (which leave must not give up).
			keep := func() { left = true; c.Holding(false) }
			if ev.Key == '2' && !ev.FromParty && e.callMeBack(c, cfg.Ext, keep, q, qc) {
				return
			}
		}
	}
}

// autoPause counts an offer the agents let ring out or declined; an agent who reaches the
// queue's auto_pause in a row is set to DND with the reason "missed N queue calls" (ending by
// itself after auto_resume, if set), so callers stop waiting on a phone nobody answers and the
// agent sees why on the page at once.
func (e *Engine) autoPause(q *callQueue, agents []string, log *zap.Logger) {
	q.mu.Lock()
	limit, resume := q.cfg.AutoPause, q.cfg.AutoResume
	var paused []string
	for _, ext := range agents {
		a := q.agents[ext]
		if a == nil {
			continue
		}
		a.missed++
		if limit > 0 && a.missed >= limit {
			a.missed = 0
			paused = append(paused, ext)
		}
	}
	q.mu.Unlock()
	for _, ext := range paused {
		c := presence.Change{DND: true, Reason: "missed " + strconv.Itoa(limit) + " queue calls", Source: presence.SourceAutoPause}
		if resume > 0 {
			c.Until = e.clock.Now().Add(resume)
		}
		if _, err := e.o.Statuses.Set(ext, c); err != nil {
			log.Error("auto-pause not saved", zap.String("ext", ext), zap.Error(err))
			continue
		}
		log.Info("agent auto-paused", zap.String("ext", ext), zap.Int("missed", limit), zap.Duration("auto_resume", resume))
	}
}
