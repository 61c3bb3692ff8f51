package sip

import (
	"errors"
	"time"

	"github.com/switchboard-voip/switchboard/history"
	"github.com/switchboard-voip/switchboard/sip/digest"
)

// Observer hears what the SIP layer does that an operator counts (cmd makes one of Prometheus
// metrics; the sip package itself imports no metrics library). Its methods are called on
// calls' and handlers' goroutines, once per call or per request and never per packet, so they
// must be safe for concurrent use and must not wait: an atomic add, a histogram observation.
type Observer interface {
	// CallEnded is told once per call this node took in, when its owner returns (refused
	// calls included; not the part another node forwarded here, which that node counts).
	CallEnded(CallSummary)
	// AuthFailed is told of each request whose digest credentials failed, with one of the
	// AuthFailure reasons: a fixed set, so a label of it stays small.
	AuthFailed(reason string)
	// RegisterAccepted is told of each REGISTER answered 200 (new, refreshed, removed or
	// queried bindings alike).
	RegisterAccepted()
	// PresenceFannedOut is told, per status change of a watched user, how long the notifier
	// took to hand its NOTIFYs to every watcher (presence and as-feature-event). A change
	// nobody watches is not told: it would only pull the figures towards zero.
	PresenceFannedOut(d time.Duration)
}

// CallSummary is what a call's end tells an Observer: no party, only the figures.
type CallSummary struct {
	Outcome history.Outcome
	// Setup is from the INVITE to the caller's 2xx (a phone's answer or the switch's own);
	// Answered false when the caller got none.
	Setup    time.Duration
	Answered bool
	// PostDialDelay is from the INVITE to the first ringing (180/183) or final response the
	// caller got; Progressed false when the caller got neither (gone first).
	PostDialDelay time.Duration
	Progressed    bool
}

// The reasons Observer.AuthFailed is given.
const (
	AuthBlocked     = "blocked"      // the source and user name are blocked for guessing
	AuthBadPassword = "bad_password" // the response did not match the password
	AuthNoHash      = "no_hash"      // the phone answered an algorithm the user has no hash for
	AuthUnknownUser = "unknown_user" // no such user
	AuthStale       = "stale_nonce"  // an expired nonce (the phone retries at once)
	AuthBadNonce    = "bad_nonce"    // a nonce the switch never gave
	AuthReplay      = "replay"       // a nonce count seen before
	AuthMalformed   = "malformed"    // credentials that cannot be read
	AuthOther       = "other"        // anything else (a realm mismatch)
)

// AuthFailureReasons lists every reason, so a metric can show each from the start at 0.
var AuthFailureReasons = []string{AuthBlocked, AuthBadPassword, AuthNoHash, AuthUnknownUser, AuthStale,
	AuthBadNonce, AuthReplay, AuthMalformed, AuthOther}

// authFailure names a digest verification error's reason.
func authFailure(err error) string {
	switch {
	case errors.Is(err, digest.ErrNoHash):
		return AuthNoHash
	case errors.Is(err, digest.ErrBadResponse):
		return AuthBadPassword
	case errors.Is(err, digest.ErrUnknownUser):
		return AuthUnknownUser
	case errors.Is(err, digest.ErrStale):
		return AuthStale
	case errors.Is(err, digest.ErrBadNonce):
		return AuthBadNonce
	case errors.Is(err, digest.ErrReplay):
		return AuthReplay
	case errors.Is(err, digest.ErrMalformed):
		return AuthMalformed
	}
	return AuthOther
}

// nopObserver is the Observer of a server given none.
type nopObserver struct{}

func (nopObserver) CallEnded(CallSummary)           {}
func (nopObserver) AuthFailed(string)               {}
func (nopObserver) RegisterAccepted()               {}
func (nopObserver) PresenceFannedOut(time.Duration) {}

// noteProgress records the first ringing, progress or final response the caller got, for the
// post-dial delay.
func (c *call) noteProgress() {
	c.mu.Lock()
	if c.rec.progressAt.IsZero() {
		c.rec.progressAt = c.s.clock.Now()
	}
	c.mu.Unlock()
}

// observeEnd tells the Observer how the call went; run calls it once, as the call ends.
func (c *call) observeEnd() {
	if c.fromNode != "" {
		return // counted by the node the caller called
	}
	c.mu.Lock()
	r := c.rec
	c.mu.Unlock()
	sum := CallSummary{Outcome: c.outcomeOf(r.outcome)}
	if !r.answeredAt.IsZero() {
		sum.Setup, sum.Answered = r.answeredAt.Sub(r.started), true
	}
	if !r.progressAt.IsZero() {
		sum.PostDialDelay, sum.Progressed = r.progressAt.Sub(r.started), true
	}
	c.s.obs.CallEnded(sum)
}

// outcomeOf is the call's outcome as history records it: what the flow set, else abandoned
// when the caller went first, else missed.
func (c *call) outcomeOf(set history.Outcome) history.Outcome {
	switch {
	case set != "":
		return set
	case c.callerGone:
		return history.Abandoned
	}
	return history.Missed
}
