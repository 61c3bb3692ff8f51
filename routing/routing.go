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
	// Ring forks the call to every registered phone of Plan.Targets.
	Ring
)

func (a Action) String() string {
	switch a {
	case Reject:
		return "reject"
	case Ring:
		return "ring"
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
	Code        int           // SIP status (Reject)
	Reason      string        // SIP reason phrase (Reject)
	Trace       []string
}

// User is what routing knows of a configured user.
type User struct {
	Ext             string
	NoAnswerTimeout time.Duration
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
	if !r.regs.Registered(u.Ext) {
		return Plan{Action: Reject, Code: 480, Reason: "Temporarily Unavailable",
			Trace: []string{fmt.Sprintf("user %s: no phone registered", u.Ext)}}
	}
	return Plan{Action: Ring, Targets: []string{u.Ext}, RingTimeout: u.NoAnswerTimeout,
		Trace: []string{fmt.Sprintf("user %s: ring registered phones for %s", u.Ext, u.NoAnswerTimeout)}}
}
