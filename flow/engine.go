// Package flow holds Switchboard's call-flow applications: ringing a user (with screening),
// holding a busy user's callers, call queues, voicemail, the voicemail menu and feature codes.
// They decide what a caller hears and what happens next; they run over a small Call interface
// that the SIP layer implements, so none of them knows SIP, and every timer they set runs on an
// injected clock.
//
// routing decides where a call goes (a Plan); an Engine carries the plan out on one call.
package flow

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"go.uber.org/zap"

	"github.com/switchboard-voip/switchboard/history"
	"github.com/switchboard-voip/switchboard/internal/clock"
	"github.com/switchboard-voip/switchboard/media/mailbox"
	"github.com/switchboard-voip/switchboard/media/prompts"
	"github.com/switchboard-voip/switchboard/presence"
	"github.com/switchboard-voip/switchboard/routing"
)

// Router decides plans; routing.Router implements it. Held callers are routed again when
// their user is free.
type Router interface {
	Decide(routing.Request) routing.Plan
}

// Statuses is the status table as the flows use it; presence.Table implements it.
type Statuses interface {
	Get(ext string) (presence.State, bool)
	Set(ext string, c presence.Change) (presence.State, error)
}

// StatusFeed delivers status changes; presence's watchers implement it.
type StatusFeed interface {
	Ready() <-chan struct{}
	Changes() []presence.State
	Close()
}

// Greetings finds a user's own recorded greeting of a kind (routing.GreetingBusy, …); nil
// means the built-in prompt plays instead.
type Greetings interface {
	Greeting(ext, kind string) []int16
}

// Mailboxes is the voicemail store; mailbox.Store implements it.
type Mailboxes interface {
	Record(box, from, fromName string) (*mailbox.Recording, error)
	List(box string) ([]mailbox.Message, error)
	Path(box, id string) (string, error)
	SetHeard(box, id string, heard bool) error
	Delete(box, id string) error
}

// Options configure an Engine. Router is required; the rest may be nil, and the flows that
// need them then refuse their callers (no mailbox: 480; no status table: no queues).
type Options struct {
	Router    Router
	Statuses  Statuses
	Watch     func() StatusFeed // status changes for hold lines and queues; with Statuses
	Greetings Greetings
	Voicemail Mailboxes
	Clock     clock.Clock // nil: the wall clock
	// Shared makes each queue one across a cluster's nodes (cluster.Node); nil on one node.
	Shared SharedQueues
	// OnQueueChange, if set, is told each time a queue's dispatcher has looked again after a
	// change (a caller joined or left, an offer began or ended, a wrap-up began or ended), so
	// that QueueStats shows the change by then; a wallboard follows queues by it. It runs on
	// the dispatcher's goroutine, so it must not wait.
	OnQueueChange func()
	// OnQueueLeft, if set, is told how each wait in a queue ended and how long it was (a
	// metric); it runs on the caller's goroutine, so it must not wait.
	OnQueueLeft QueueLeftFunc
	// Trunks finds the way back to an outside caller who asks to be called back; nil: outside
	// callers are not offered callbacks.
	Trunks TrunkRoutes
	// Callbacks keeps pending callbacks across restarts (history.Callbacks); nil keeps them
	// in memory only.
	Callbacks CallbackStore
	// Log is for what happens away from any call (a callback that could not be placed); nil
	// logs nothing.
	Log *zap.Logger
}

// SharedQueues is the part of a queue the nodes of a cluster share: the order of arrival of
// every node's callers, and which agents an offer holds, so that callers are served in order
// wherever they called and no agent is offered two calls at once.
type SharedQueues interface {
	// Join records a caller (id unique at this node) and returns its place in the order.
	Join(queue, id string) (uint64, error)
	// Ringing records whether the caller is being offered (then it holds nobody back).
	Ringing(queue, id string, seq uint64, on bool)
	// Leave takes the caller out.
	Leave(queue, id string)
	// Ahead reports whether a caller at another node, not being offered, came before seq.
	Ahead(queue string, seq uint64) bool
	// Claim reserves an agent for an offer from this node; false if anyone holds them.
	Claim(agent string) bool
	// Release lets go of an agent this node holds.
	Release(agent string)
	// Claimed reports whether another node holds the agent.
	Claimed(agent string) bool
	// OnQueueChange sets what is called when another node's callers or claims change.
	OnQueueChange(f func())
}

// Engine runs call flows. Hold lines and queues are shared by every call, so one Engine
// serves the whole switch.
type Engine struct {
	o         Options
	clock     clock.Clock
	holds     holds
	queues    queues
	deadlines atomic.Uint64 // numbers the flows' timers (see deadline)
	// queueCallers numbers queued callers, their ids in a cluster's shared queues.
	queueCallers atomic.Uint64
	// originator places callbacks (SetOriginator); callbacks are the requests pending.
	originator atomic.Pointer[Originator]
	callbacks  callbacks

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // the status watcher and queue dispatchers
}

// New returns an Engine and starts its status watcher; Close stops it.
func New(o Options) (*Engine, error) {
	if o.Router == nil {
		return nil, errors.New("flow: a Router is required")
	}
	e := &Engine{o: o, clock: o.Clock}
	if o.Shared != nil {
		o.Shared.OnQueueChange(e.pokeQueues)
	}
	if e.clock == nil {
		e.clock = clock.Real()
	}
	e.ctx, e.cancel = context.WithCancel(context.Background())
	e.restoreCallbacks()
	if o.Statuses != nil && o.Watch != nil {
		feed := o.Watch()
		e.wg.Add(1)
		go e.watch(feed)
	}
	return e, nil
}

// Close stops the status watcher and the queue dispatchers. Calls still running keep their
// flows; the switch ends those first.
func (e *Engine) Close() {
	e.cancel()
	e.stopRetries()
	e.wg.Wait()
}

// log is the engine's own logger.
func (e *Engine) log() *zap.Logger {
	if e.o.Log == nil {
		return zap.NewNop()
	}
	return e.o.Log
}

// watch passes status changes to hold lines (a busy user became free or DND) and queues (an
// agent's call ended: wrap-up, then offers).
func (e *Engine) watch(feed StatusFeed) {
	defer e.wg.Done()
	defer feed.Close()
	for {
		select {
		case <-e.ctx.Done():
			return
		case <-feed.Ready():
			for _, st := range feed.Changes() {
				e.StatusChanged(st)
			}
		}
	}
}

// StatusChanged tells hold lines, queues and callbacks about a user's new state.
func (e *Engine) StatusChanged(st presence.State) {
	e.holds.statusChanged(st.Ext, st.Status)
	e.agentChanged(st)
	e.callbackStatusChanged(st)
}

// Run carries out plan on c until the flow is over. The caller's leg has not been answered
// unless a previous flow answered it (a held caller put through).
func (e *Engine) Run(c Call, plan *routing.Plan) {
	c.Trace(plan.Trace...)
	c.Skipped(plan.Skipped...)
	switch plan.Action {
	case routing.Ring:
		e.ring(c, plan)
	case routing.Outbound:
		e.outbound(c, plan)
	case routing.Hold:
		e.hold(c, plan)
	case routing.Enqueue:
		e.enqueue(c, plan)
	case routing.Voicemail:
		e.voicemail(c, plan)
	case routing.VoicemailMenu:
		e.voicemailMenu(c, plan)
	case routing.SetDND:
		e.setDND(c, plan)
	case routing.Reject:
		e.reject(c, plan)
	case routing.Pickup:
		e.pickup(c, plan)
	default:
		e.unknownAction(c, plan) // not here: Run's frame is under every call (see ring)
	}
}

// unknownAction refuses a call whose plan has an action this engine does not know.
func (e *Engine) unknownAction(c Call, plan *routing.Plan) {
	c.Log().Error("plan with an unknown action", zap.Stringer("action", plan.Action))
	c.Refuse(0) // the SIP layer's mapping answers an unknown refusal with 500 and logs it
}

// next carries out what follows when a plan gives up (nobody answered, hold limit, queue
// wait). Routing's plans always say what follows; a missing one refuses the caller.
func (e *Engine) next(c Call, p *routing.Plan) {
	if p == nil {
		c.Log().Error("plan without a next step; refusing the caller")
		c.Refuse(routing.Unavailable)
		return
	}
	e.Run(c, p)
}

// reject refuses the caller, after an announcement (the DND greeting) when the plan has one.
func (e *Engine) reject(c Call, plan *routing.Plan) {
	if plan.Announce != "" {
		if err := c.EarlyMedia(); err == nil {
			if _, err := e.play(c, e.greeting(plan.Box, plan.Announce, false), false); err != nil {
				return
			}
		}
	}
	c.Refuse(plan.Refusal)
}

// pickup carries out *8 + extension. Nothing ringing there is 480, not 404: the extension
// exists (routing refused unknown ones), there is just no call to take now.
func (e *Engine) pickup(c Call, plan *routing.Plan) {
	if c.PickUp(plan.Ext) {
		c.SetOutcome(history.Feature, "")
		return
	}
	c.Log().Info("nothing to pick up", zap.String("ext", plan.Ext))
	c.Trace("nothing ringing at " + plan.Ext)
	c.Refuse(routing.Unavailable)
}

// setDND carries out *78 / *79: the setting is saved first (so it is never lost once
// confirmed), then the switch answers, says "Do not disturb is on/off" and hangs up.
func (e *Engine) setDND(c Call, plan *routing.Plan) {
	if e.o.Statuses == nil {
		c.Refuse(routing.NotFound)
		return
	}
	if _, err := e.o.Statuses.Set(plan.Ext, presence.Change{DND: plan.DND, Source: presence.SourceFeatureCode, By: plan.Ext}); err != nil {
		c.Log().Error("DND not saved", zap.Error(err))
		c.Refuse(0)
		return
	}
	c.Log().Info("DND set by feature code", zap.String("ext", plan.Ext), zap.Bool("dnd", plan.DND))
	c.SetOutcome(history.Feature, "")
	c.SetState(Talking)
	if err := c.Answer(); err != nil {
		c.Log().Warn("DND confirmation not answered", zap.Error(err))
		return
	}
	prompt := prompts.DNDOff
	if plan.DND {
		prompt = prompts.DNDOn
	}
	_, _ = e.play(c, promptSource(prompt), false)
}
