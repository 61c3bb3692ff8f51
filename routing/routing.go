// Package routing decides who gets a call and what happens when nobody can take it. It holds no
// sockets and no media: it reads what it needs through small interfaces and returns a Plan that
// the SIP layer carries out.
package routing

import (
	"fmt"
	"github.com/switchboard-voip/switchboard/history"
	"strings"
	"time"

	"github.com/switchboard-voip/switchboard/presence"
)

// Action is what a Plan asks the SIP layer to do.
type Action int

const (
	// Reject refuses the caller for Plan.Refusal (after Plan.Announce, if set).
	Reject Action = iota
	// Ring forks the call to every registered phone of Plan.Targets; Plan.NoAnswer says what
	// follows when nobody answers in time.
	Ring
	// Voicemail answers the call, plays Plan.Box's Plan.Greeting and records a message.
	Voicemail
	// VoicemailMenu answers the caller's own box (*97): new messages, repeat, delete, save.
	VoicemailMenu
	// SetDND turns the caller's DND on or off (Plan.DND), confirms it with a prompt and hangs up.
	SetDND
	// Outbound rings Plan.Trunk's carrier for Plan.Trunk.Number for up to Plan.RingTimeout; a
	// carrier's own refusal (busy, no such number) is passed back to the caller.
	Outbound
	// Enqueue answers the caller into call queue Plan.Queue; giving up (max wait) leads to
	// Plan.NoAnswer, the queue's fallback.
	Enqueue
	// Hold answers the caller, plays Plan.Greeting (the busy greeting), then music on hold until
	// Plan.Ext's current call ends; then it carries out Plan.Then (ringing the user). Pressing 1
	// or waiting Plan.HoldLimit leads to Plan.NoAnswer (voicemail).
	Hold
	// Pickup answers a call ringing at Plan.Ext's phones (directed pickup, *8 + extension):
	// its caller is connected with this caller.
	Pickup
)

// Greeting kinds: which of a user's greetings a voicemail plays.
const (
	GreetingNoAnswer = "no_answer"
	GreetingBusy     = "busy"
	GreetingDND      = "dnd"
)

// Feature codes a user dials.
const (
	FeatureVoicemail = "*97" // listen to one's own voicemail
	FeatureDNDOn     = "*78" // do not disturb on
	FeatureDNDOff    = "*79" // do not disturb off
	FeaturePickup    = "*8"  // + extension: answer a call ringing at that user's phones
)

func (a Action) String() string {
	switch a {
	case Reject:
		return "reject"
	case Ring:
		return "ring"
	case Voicemail:
		return "voicemail"
	case VoicemailMenu:
		return "voicemail-menu"
	case SetDND:
		return "set-dnd"
	case Hold:
		return "hold"
	case Outbound:
		return "outbound"
	case Enqueue:
		return "queue"
	case Pickup:
		return "pickup"
	}
	return fmt.Sprintf("action(%d)", int(a))
}

// Request is what routing needs to know about a new call.
type Request struct {
	Caller  string // authenticated caller's extension (empty for a trunk)
	Dialled string // user part of the Request-URI
	// TransferredBy is the user who sent the caller here (a transfer); the call goes where
	// that user may send it, so a trunk caller transferred by a user may go out again.
	TransferredBy string
	// Voicemail asks for Dialled's mailbox directly (a transfer "to voicemail").
	Voicemail bool
	// FromNode is the cluster node that routed this call and forwarded it here to ring
	// Dialled's phones registered here; "" for a call that starts here.
	FromNode string
}

// Plan is the decision for one call, with a trace of why, for logs and for "why did my phone
// not ring?".
type Plan struct {
	Action      Action
	Targets     []string      // extensions whose phones ring (Ring)
	RingTimeout time.Duration // give up ringing after this (Ring; per target when Sequential)
	Sequential  bool          // ring Targets one after another instead of all at once (Ring)
	NoAnswer    *Plan         // what follows unanswered ringing (Ring), or giving up holding (Hold)
	Then        *Plan         // what follows when the held-for user is free (Hold)
	HoldLimit   time.Duration // longest a caller is held (Hold)
	Announce    string        // greeting kind played as early media before a Reject (DND, no mailbox)
	Box         string        // mailbox (Voicemail, VoicemailMenu)
	Greeting    string        // GreetingNoAnswer, GreetingBusy or GreetingDND (Voicemail)
	DND         bool          // the setting to apply (SetDND)
	Ext         string        // whose setting (SetDND), whose line (Hold), whose ringing call (Pickup)
	Trunk       OutboundRoute // where the call leaves (Outbound)
	Queue       Queue         // the queue joined (Enqueue)
	Screening   bool          // the answering user first hears who calls and chooses (Ring)
	HereOnly    bool          // ring only phones registered at this node (Ring; a forwarded call)
	Refusal     Refusal       // why the caller is refused (Reject)
	Trace       []string
	// Skipped are the users whose phones this decision passed over, and why (the plans
	// under NoAnswer and Then add their own when they run).
	Skipped []history.Skip
}

// Refusal is why a call is refused. The SIP layer maps each to its response code in one place.
type Refusal int

// The refusals routing decides.
const (
	// NotFound: no such extension or feature (404).
	NotFound Refusal = iota + 1
	// Forbidden: the caller may not do this (403), e.g. a trunk call dialling out again.
	Forbidden
	// Unavailable: nobody can take the call and there is no voicemail (480).
	Unavailable
)

func (r Refusal) String() string {
	switch r {
	case NotFound:
		return "not-found"
	case Forbidden:
		return "forbidden"
	case Unavailable:
		return "unavailable"
	}
	return fmt.Sprintf("refusal(%d)", int(r))
}

// User is what routing knows of a configured user.
type User struct {
	Ext             string
	NoAnswerTimeout time.Duration
	Voicemail       bool // the user has a mailbox
	Screening       bool // the user accepts each call after hearing who calls
}

// OutboundRoute is a trunk's way out: where calls to outside numbers go.
type OutboundRoute struct {
	Trunk     string // the trunk's name, for logs and history
	Number    string // the number to dial at the trunk (the prefix removed)
	Transport string // "udp" or "tcp"
	Addr      string // host:port of the carrier or PBX
}

// Group is a ring group.
type Group struct {
	Ext         string
	Name        string // shown to the users it skipped ("skipped in Sales")
	Sequential  bool   // members one after another; else all at once
	Members     []string
	RingTimeout time.Duration
	Fallback    Fallback
}

// FallbackKind is what a group or queue does with a caller nobody took.
type FallbackKind int

// The fallbacks a group or queue may have.
const (
	// FallbackHangup refuses the caller (480): "hangup" in the config.
	FallbackHangup FallbackKind = iota
	// FallbackVoicemail records a message in Fallback.Ext's box: "voicemail:EXT".
	FallbackVoicemail
	// FallbackExt routes the caller on to Fallback.Ext (user, group or queue): "EXT".
	FallbackExt
)

// Fallback is a parsed group or queue fallback.
type Fallback struct {
	Kind FallbackKind
	Ext  string // the mailbox (FallbackVoicemail) or the extension (FallbackExt)
}

// String is the fallback as the config spells it.
func (f Fallback) String() string {
	switch f.Kind {
	case FallbackVoicemail:
		return "voicemail:" + f.Ext
	case FallbackExt:
		return f.Ext
	}
	return "hangup"
}

// ParseFallback reads a configured fallback: "hangup" (or empty), "voicemail:EXT" or "EXT".
func ParseFallback(s string) (Fallback, error) {
	switch {
	case s == "" || s == "hangup":
		return Fallback{Kind: FallbackHangup}, nil
	case strings.HasPrefix(s, "voicemail:"):
		box := strings.TrimPrefix(s, "voicemail:")
		if box == "" {
			return Fallback{}, fmt.Errorf("fallback %q names no mailbox", s)
		}
		return Fallback{Kind: FallbackVoicemail, Ext: box}, nil
	case strings.Trim(s, "0123456789") == "":
		return Fallback{Kind: FallbackExt, Ext: s}, nil
	}
	return Fallback{}, fmt.Errorf("want hangup, voicemail:EXT or EXT, got %q", s)
}

// Queue strategies: how a waiting caller is offered to agents.
const (
	RingAll     = "ringall"      // every free agent at once
	LongestIdle = "longest_idle" // the free agent whose last call ended longest ago
	RoundRobin  = "round_robin"  // free agents in turn
)

// Queue is a call queue: callers wait with music and are offered to free members in turn.
type Queue struct {
	Ext              string
	Name             string
	Strategy         string
	Members          []string
	RingTimeout      time.Duration // one offer
	MaxWait          time.Duration // then the fallback
	Wrapup           time.Duration // an agent's rest after a call
	AutoPause        int           // missed offers in a row that set an agent to DND; 0 never
	AutoResume       time.Duration // then DND ends by itself after this; 0 never
	MusicOnHold      []int16       // nil: the built-in music
	AnnouncePosition bool
	Fallback         Fallback
}

// DefaultHoldLimit is how long a caller waits for a busy user before voicemail.
const DefaultHoldLimit = 5 * time.Minute

// OutboundRingTimeout bounds an outside call that is never answered; carriers usually give up
// first with their own final response.
const OutboundRingTimeout = 3 * time.Minute

// defaultRingTimeout rings a user who has no no_answer_timeout set (the config's default).
const defaultRingTimeout = 20 * time.Second

// Directory answers "is this an extension, and whose?".
type Directory interface {
	User(ext string) (User, bool)
	Group(ext string) (Group, bool)
	Queue(ext string) (Queue, bool)
	// Outbound finds the trunk for a dialled outside number (outbound prefix + number).
	Outbound(dialled string) (OutboundRoute, bool)
	// Exists reports whether ext is any configured extension (user, group or queue).
	Exists(ext string) bool
}

// Registrations tells whether a user has a phone registered. Status is not registration: this is
// only consulted to know whether ringing is possible at all.
type Registrations interface {
	Registered(ext string) bool
}

// Statuses gives users' effective statuses; the presence table implements it.
type Statuses interface {
	Status(ext string) (presence.Status, bool)
	// Get returns the whole state, read when a user is passed over for DND to say who set it.
	Get(ext string) (presence.State, bool)
}

// everyoneAvailable stands in when no status table is wired (tests of the SIP core).
type everyoneAvailable struct{}

func (everyoneAvailable) Status(string) (presence.Status, bool) { return presence.Available, true }

func (everyoneAvailable) Get(ext string) (presence.State, bool) {
	return presence.State{Ext: ext, Status: presence.Available}, true
}

// Router decides plans from the directory, the registrations and the statuses.
type Router struct {
	dir      Directory
	regs     Registrations
	statuses Statuses
	// HoldLimit is how long a caller waits for a busy user; zero means DefaultHoldLimit.
	HoldLimit time.Duration
}

// New returns a Router; statuses may be nil (everyone available).
func New(dir Directory, regs Registrations, statuses Statuses) *Router {
	if statuses == nil {
		statuses = everyoneAvailable{}
	}
	return &Router{dir: dir, regs: regs, statuses: statuses}
}

// Decide returns the plan for req. It never blocks and is safe for concurrent use.
func (r *Router) Decide(req Request) Plan {
	if req.FromNode != "" {
		return r.decideForwarded(req)
	}
	if req.Dialled == FeatureVoicemail {
		if u, ok := r.dir.User(req.Caller); ok && u.Voicemail {
			return Plan{Action: VoicemailMenu, Box: u.Ext, Trace: []string{"*97: own voicemail of " + u.Ext}}
		}
		return Plan{Action: Reject, Refusal: NotFound, Trace: []string{"*97: caller has no mailbox"}}
	}
	if req.Dialled == FeatureDNDOn || req.Dialled == FeatureDNDOff {
		if _, ok := r.dir.User(req.Caller); !ok {
			return Plan{Action: Reject, Refusal: Forbidden, Trace: []string{req.Dialled + ": only users have a status"}}
		}
		on := req.Dialled == FeatureDNDOn
		return Plan{Action: SetDND, DND: on, Ext: req.Caller,
			Trace: []string{fmt.Sprintf("%s: DND %s for %s", req.Dialled, map[bool]string{true: "on", false: "off"}[on], req.Caller)}}
	}
	if ext, ok := strings.CutPrefix(req.Dialled, FeaturePickup); ok && ext != "" && strings.Trim(ext, "0123456789") == "" {
		return r.decidePickup(req.Caller, ext)
	}
	if req.Voicemail {
		u, ok := r.dir.User(req.Dialled)
		if !ok || !u.Voicemail {
			return Plan{Action: Reject, Refusal: NotFound, Trace: []string{req.Dialled + ": no mailbox"}}
		}
		return unavailablePlan(u, GreetingNoAnswer)
	}
	if out, ok := r.dir.Outbound(req.Dialled); ok {
		_, isUser := r.dir.User(req.Caller)
		if _, transferredByUser := r.dir.User(req.TransferredBy); transferredByUser {
			isUser = true // the user chose to send this caller out
		}
		if !isUser {
			// Only users call out: a trunk call cannot be bounced back out (toll fraud).
			return Plan{Action: Reject, Refusal: Forbidden, Trace: []string{"outbound: caller is not a user"}}
		}
		// Outgoing calls are always allowed, DND included. Unanswered, the caller is told so.
		return Plan{Action: Outbound, Trunk: out, RingTimeout: OutboundRingTimeout,
			NoAnswer: &Plan{Action: Reject, Refusal: Unavailable, Trace: []string{"outbound: no answer"}},
			Trace:    []string{fmt.Sprintf("outbound via %s to %s", out.Trunk, out.Number)}}
	}
	return r.decideExt(req.Caller, req.Dialled, 0)
}

// ForwardedRingLimit bounds the ringing of a call another node forwarded: that node ends it
// sooner (its ring timeout, a CANCEL), unless it died meanwhile.
const ForwardedRingLimit = 5 * time.Minute

// decideForwarded is a call another node routed to a user with phones registered here: it
// decided everything (status, hold, voicemail, groups); this node rings the user's phones here
// and reports back. Unanswered, it is refused as unavailable, and the other node goes on with
// its plan.
func (r *Router) decideForwarded(req Request) Plan {
	if _, ok := r.dir.User(req.Dialled); !ok {
		return Plan{Action: Reject, Refusal: NotFound, Trace: []string{fmt.Sprintf("from node %s: %s is not a user", req.FromNode, req.Dialled)}}
	}
	return Plan{Action: Ring, Targets: []string{req.Dialled}, RingTimeout: ForwardedRingLimit, HereOnly: true,
		NoAnswer: &Plan{Action: Reject, Refusal: Unavailable, Trace: []string{"not answered here"}},
		Trace:    []string{fmt.Sprintf("from node %s: ring %s's phones registered here", req.FromNode, req.Dialled)}}
}

// decidePickup is *8 + extension: only a user picks up, and only a user's calls.
func (r *Router) decidePickup(caller, ext string) Plan {
	if _, ok := r.dir.User(caller); !ok {
		return Plan{Action: Reject, Refusal: Forbidden, Trace: []string{FeaturePickup + ": only users pick up calls"}}
	}
	if _, ok := r.dir.User(ext); !ok {
		return Plan{Action: Reject, Refusal: NotFound, Trace: []string{FeaturePickup + ext + ": no such user"}}
	}
	return Plan{Action: Pickup, Ext: ext, Trace: []string{fmt.Sprintf("%s%s: pick up the call ringing at %s", FeaturePickup, ext, ext)}}
}

// maxFallbackDepth bounds fallback chains (config validation already refuses loops).
const maxFallbackDepth = 4

// decideExt routes a call to an extension: a user, a group, or (not yet) a queue.
func (r *Router) decideExt(caller, ext string, depth int) Plan {
	if g, ok := r.dir.Group(ext); ok {
		return r.decideGroup(caller, g, depth)
	}
	if q, ok := r.dir.Queue(ext); ok {
		fallback := r.fallback(caller, q.Fallback, depth)
		return Plan{Action: Enqueue, Queue: q, NoAnswer: &fallback,
			Trace: []string{fmt.Sprintf("queue %s (%s, %d members), after %s: %s", q.Ext, q.Strategy,
				len(q.Members), q.MaxWait, fallback.Action)}}
	}
	u, ok := r.dir.User(ext)
	if !ok {
		return Plan{Action: Reject, Refusal: NotFound, Trace: []string{fmt.Sprintf("%s: no such extension", ext)}}
	}
	return r.decideUser(u)
}

// decideUser is "call to user": what happens depends on the user's status.
func (r *Router) decideUser(u User) Plan {
	status, _ := r.statuses.Status(u.Ext)
	switch status {
	case presence.DND:
		// Calls are not forwarded: the DND greeting, then voicemail (or 480 after it).
		p := unavailablePlan(u, GreetingDND)
		p.Trace = append([]string{fmt.Sprintf("user %s is on DND", u.Ext)}, p.Trace...)
		p.Skipped = append(p.Skipped, r.skip(u.Ext, Group{}, presence.DND))
		return p
	case presence.Busy:
		ring := r.ringUser(u)
		limit := r.HoldLimit
		if limit <= 0 {
			limit = DefaultHoldLimit
		}
		vm := unavailablePlan(u, GreetingNoAnswer)
		return Plan{Action: Hold, Ext: u.Ext, Greeting: GreetingBusy, HoldLimit: limit, Then: &ring, NoAnswer: &vm,
			Trace:   []string{fmt.Sprintf("user %s is busy: busy greeting, hold up to %s, then ring", u.Ext, limit)},
			Skipped: []history.Skip{{Ext: u.Ext, Why: history.SkipOnCall}}}
	}
	return r.ringUser(u)
}

// ringUser rings an available user's phones, then voicemail; straight to voicemail without a phone.
func (r *Router) ringUser(u User) Plan {
	unavailable := unavailablePlan(u, GreetingNoAnswer)
	if !r.regs.Registered(u.Ext) {
		unavailable.Trace = append([]string{fmt.Sprintf("user %s: no phone registered", u.Ext)}, unavailable.Trace...)
		unavailable.Skipped = append(unavailable.Skipped, history.Skip{Ext: u.Ext, Why: history.SkipNoPhone})
		return unavailable
	}
	timeout := u.NoAnswerTimeout
	if timeout <= 0 {
		timeout = defaultRingTimeout
	}
	return Plan{Action: Ring, Targets: []string{u.Ext}, RingTimeout: timeout, NoAnswer: &unavailable,
		Screening: u.Screening,
		Trace:     []string{fmt.Sprintf("user %s: ring registered phones for %s, then %s", u.Ext, timeout, unavailable.Action)}}
}

// decideGroup is "call to group": only Available members with a phone ring; nobody, or no
// answer within the ring timeout, leads to the group's fallback.
func (r *Router) decideGroup(caller string, g Group, depth int) Plan {
	var targets, skipped []string
	var skips []history.Skip
	for _, m := range g.Members {
		status, _ := r.statuses.Status(m)
		switch {
		case status != presence.Available:
			skipped = append(skipped, m+" "+string(status))
			skips = append(skips, r.skip(m, g, status))
		case !r.regs.Registered(m):
			skipped = append(skipped, m+" has no phone")
			skips = append(skips, history.Skip{Ext: m, Via: g.Ext, ViaName: g.Name, Why: history.SkipNoPhone})
		default:
			targets = append(targets, m)
		}
	}
	fallback := r.fallback(caller, g.Fallback, depth)
	trace := fmt.Sprintf("group %s: ring %v", g.Ext, targets)
	if len(skipped) > 0 {
		trace += fmt.Sprintf(", skip %v", skipped)
	}
	if len(targets) == 0 {
		fallback.Trace = append([]string{fmt.Sprintf("group %s: nobody available (%v)", g.Ext, skipped)}, fallback.Trace...)
		fallback.Skipped = append(skips, fallback.Skipped...)
		return fallback
	}
	return Plan{Action: Ring, Targets: targets, Sequential: g.Sequential, RingTimeout: g.RingTimeout, NoAnswer: &fallback,
		Trace: []string{trace, "then " + fallback.Action.String()}, Skipped: skips}
}

// skip says why a user who is not Available was passed over (in group g, or called directly
// when g is zero): on a call, or on DND with the setting's reason and who set it when.
func (r *Router) skip(ext string, g Group, status presence.Status) history.Skip {
	s := history.Skip{Ext: ext, Via: g.Ext, ViaName: g.Name, Why: history.SkipOnCall}
	if status != presence.DND {
		return s
	}
	s.Why = history.SkipDND
	if st, ok := r.statuses.Get(ext); ok && st.DND {
		s.Reason, s.Source, s.By, s.At = st.Reason, string(st.Source), st.By, st.SetAt
	}
	return s
}

// fallback turns a group's or queue's fallback into a plan.
func (r *Router) fallback(caller string, fb Fallback, depth int) Plan {
	switch fb.Kind {
	case FallbackHangup:
		return Plan{Action: Reject, Refusal: Unavailable, Trace: []string{"fallback: hang up"}}
	case FallbackVoicemail:
		if u, ok := r.dir.User(fb.Ext); ok {
			return unavailablePlan(u, GreetingNoAnswer)
		}
	case FallbackExt:
		if depth < maxFallbackDepth {
			p := r.decideExt(caller, fb.Ext, depth+1)
			p.Trace = append([]string{"fallback to " + fb.Ext}, p.Trace...)
			return p
		}
	}
	return Plan{Action: Reject, Refusal: Unavailable, Trace: []string{"fallback " + fb.String() + " unusable"}}
}

// unavailablePlan is where a call goes when the user cannot take it: their voicemail with the
// given greeting, or 480 when they have no mailbox (after the greeting, for DND).
func unavailablePlan(u User, greeting string) Plan {
	if u.Voicemail {
		return Plan{Action: Voicemail, Box: u.Ext, Greeting: greeting,
			Trace: []string{fmt.Sprintf("voicemail of %s with the %s greeting", u.Ext, greeting)}}
	}
	p := Plan{Action: Reject, Refusal: Unavailable, Trace: []string{fmt.Sprintf("user %s has no voicemail", u.Ext)}}
	if greeting == GreetingDND {
		p.Announce, p.Box = GreetingDND, u.Ext // whose DND greeting plays before the 480
	}
	return p
}
