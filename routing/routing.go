// Package routing decides who gets a call and what happens when nobody can take it. It holds no
// sockets and no media: it reads what it needs through small interfaces and returns a Plan that
// the SIP layer carries out.
package routing

import (
	"fmt"
	"time"
)

// Action is what a Plan asks the SIP layer to do.
type Action int

const (
	// Reject answers the caller with Plan.Code and Plan.Reason.
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
	}
	return fmt.Sprintf("action(%d)", int(a))
}

// Request is what routing needs to know about a new call.
type Request struct {
	Caller  string // authenticated caller's extension (empty for a trunk)
	Dialled string // user part of the Request-URI
}

// Plan is the decision for one call, with a trace of why, for logs and for "why did my phone
// not ring?".
type Plan struct {
	Action      Action
	Targets     []string      // extensions whose phones ring (Ring)
	RingTimeout time.Duration // give up ringing after this (Ring)
	NoAnswer    *Plan         // what follows unanswered ringing (Ring): Voicemail or Reject
	Box         string        // mailbox (Voicemail, VoicemailMenu)
	Greeting    string        // GreetingNoAnswer, GreetingBusy or GreetingDND (Voicemail)
	DND         bool          // the setting to apply (SetDND)
	Ext         string        // whose setting (SetDND)
	Code        int           // SIP status (Reject)
	Reason      string        // SIP reason phrase (Reject)
	Trace       []string
}

// User is what routing knows of a configured user.
type User struct {
	Ext             string
	NoAnswerTimeout time.Duration
	Voicemail       bool // the user has a mailbox
}

// Directory answers "is this an extension, and whose?".
type Directory interface {
	User(ext string) (User, bool)
	// Exists reports whether ext is any configured extension (user, group or queue).
	Exists(ext string) bool
}

// Registrations tells whether a user has a phone registered. Status is not registration: this is
// only consulted to know whether ringing is possible at all.
type Registrations interface {
	Registered(ext string) bool
}

// Router decides plans from the directory and the registrations.
type Router struct {
	dir  Directory
	regs Registrations
}

// New returns a Router.
func New(dir Directory, regs Registrations) *Router {
	return &Router{dir: dir, regs: regs}
}

// Decide returns the plan for req. It never blocks and is safe for concurrent use.
func (r *Router) Decide(req Request) Plan {
	if req.Dialled == FeatureVoicemail {
		if u, ok := r.dir.User(req.Caller); ok && u.Voicemail {
			return Plan{Action: VoicemailMenu, Box: u.Ext, Trace: []string{"*97: own voicemail of " + u.Ext}}
		}
		return Plan{Action: Reject, Code: 404, Reason: "Not Found",
			Trace: []string{"*97: caller has no mailbox"}}
	}
	if req.Dialled == FeatureDNDOn || req.Dialled == FeatureDNDOff {
		if _, ok := r.dir.User(req.Caller); !ok {
			return Plan{Action: Reject, Code: 403, Reason: "Forbidden", Trace: []string{req.Dialled + ": only users have a status"}}
		}
		on := req.Dialled == FeatureDNDOn
		return Plan{Action: SetDND, DND: on, Ext: req.Caller,
			Trace: []string{fmt.Sprintf("%s: DND %s for %s", req.Dialled, map[bool]string{true: "on", false: "off"}[on], req.Caller)}}
	}
	u, ok := r.dir.User(req.Dialled)
	if !ok {
		if r.dir.Exists(req.Dialled) {
			// Groups and queues are configured but their hunting arrives with status-driven
			// routing; until then nobody can take such a call.
			return Plan{Action: Reject, Code: 480, Reason: "Temporarily Unavailable",
				Trace: []string{fmt.Sprintf("%s is a group or queue: not routed yet", req.Dialled)}}
		}
		return Plan{Action: Reject, Code: 404, Reason: "Not Found",
			Trace: []string{fmt.Sprintf("%s: no such extension", req.Dialled)}}
	}
	unavailable := unavailablePlan(u, GreetingNoAnswer)
	if !r.regs.Registered(u.Ext) {
		unavailable.Trace = append([]string{fmt.Sprintf("user %s: no phone registered", u.Ext)}, unavailable.Trace...)
		return unavailable
	}
	return Plan{Action: Ring, Targets: []string{u.Ext}, RingTimeout: u.NoAnswerTimeout, NoAnswer: &unavailable,
		Trace: []string{fmt.Sprintf("user %s: ring registered phones for %s, then %s", u.Ext, u.NoAnswerTimeout, unavailable.Action)}}
}

// unavailablePlan is where a call goes when the user cannot take it: their voicemail with the
// given greeting, or 480 when they have no mailbox.
func unavailablePlan(u User, greeting string) Plan {
	if u.Voicemail {
		return Plan{Action: Voicemail, Box: u.Ext, Greeting: greeting,
			Trace: []string{fmt.Sprintf("voicemail of %s with the %s greeting", u.Ext, greeting)}}
	}
	return Plan{Action: Reject, Code: 480, Reason: "Temporarily Unavailable",
		Trace: []string{fmt.Sprintf("user %s has no voicemail", u.Ext)}}
}
