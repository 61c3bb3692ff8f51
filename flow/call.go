package flow

import (
	"time"

	"go.uber.org/zap"

	"github.com/switchboard-voip/switchboard/history"
	"github.com/switchboard-voip/switchboard/internal/clock"
	"github.com/switchboard-voip/switchboard/media"
	"github.com/switchboard-voip/switchboard/routing"
)

// Call is one caller's call as the flows drive it. The sip package implements it over SIP and
// RTP; any other kind of caller (a browser, a test double) may too.
//
// A call has one owner: the goroutine that runs its flow. Every method but Post is called from
// that goroutine only, and everything that happens to the call — the caller's digits and
// hang-up, a phone answering, a timer, a queue's offer — reaches it as an Event from Next.
type Call interface {
	// ID names the call (the caller's Call-ID) in logs, the history and the API.
	ID() string
	// Caller is the authenticated user's extension; "" for a call from a trunk.
	Caller() string
	// CallerID is the number callees see: the user's extension or the outside number.
	CallerID() string
	// CallerName is the caller's display name, or "".
	CallerName() string
	// Trunk is the trunk a carrier's call came in by (its name in the config), "" for a call
	// from a user: the way back to an outside caller.
	Trunk() string
	// Log is the call's logger, with call_id, from and to.
	Log() *zap.Logger

	// Next waits for the call's next event.
	Next() Event
	// Post delivers ev to the call's owner; it may be called from any goroutine and never
	// blocks for long. Events posted after the call ended are dropped.
	Post(ev Event)
	// After posts ev once d has passed on the switch's clock, unless stopped.
	After(d time.Duration, ev Event) clock.Timer

	// Answer answers the caller with the switch's own media (voicemail, hold, queue, menus).
	// It does nothing when the switch has already answered.
	Answer() error
	// EarlyMedia opens the switch's own media to the caller as early media (183), without
	// answering: an announcement before a refusal.
	EarlyMedia() error
	// Play replaces what the caller hears with src and returns the play's id; a PlayDone
	// with that id follows when src ends or is replaced (so only the latest id matters).
	// Needs Answer or EarlyMedia first.
	Play(src media.Source) uint64
	// Listen sends the caller's audio, 20 ms frames at 8 kHz, to sink; nil stops. When Listen
	// returns, the previous sink is no longer called.
	Listen(sink func(frame []int16))

	// Ring rings the registered phones of r.Targets (or the carrier of r.Trunk) until one
	// answers, all refuse, r.Timeout passes or the caller goes. An answered phone is not yet
	// bridged: the flow either bridges it or releases it.
	Ring(r Ring) Rang
	// Bridge connects the caller with p and carries the conversation until either side hangs
	// up; the call is over when it returns, unless it returns a *Transferred: one party sent
	// the other on, and the call goes on with the party that stays as its caller.
	Bridge(p Party) error

	// PickUp takes over a call ringing at ext's phones (directed pickup): that call's caller
	// is connected with this call's caller and the conversation goes on there; this call is
	// over when PickUp returns true. False: nothing was ringing at ext (or it was answered
	// first), and this call is as it was.
	PickUp(ext string) bool

	// Refuse ends a call nobody answered with why (404, 403, 480 in SIP terms); after an
	// answer it just hangs up.
	Refuse(why routing.Refusal)
	// PassBack ends a call with a carrier's own final response (busy, no such number).
	PassBack(code int, reason string)

	// SetState says what the call is doing now and with whom (the users rung, the busy user
	// held for, the mailbox's owner), for the API and the team page.
	SetState(st State, with ...string)
	// SetOutcome records how the call ended up; the first outcome set wins.
	SetOutcome(o history.Outcome, by string)
	// Holding measures the time the caller spends waiting (hold or queue): true starts it,
	// false stops it.
	Holding(on bool)
	// Trace appends lines to the call's routing trace (history and API).
	Trace(lines ...string)
	// Skipped records users whose phones did not ring for the call, and why (history).
	Skipped(s ...history.Skip)
	// Via records the group or queue the call came through.
	Via(ext string)
}

// Party is a phone that answered a Ring and is not bridged yet (a screening user).
type Party interface {
	// Ext is the extension (or outside number) that answered.
	Ext() string
	// Play replaces what the party hears; a PlayDone with the returned id follows when src
	// ends. The party's digits arrive as Digit events with FromParty set.
	Play(src media.Source) uint64
	// Release hangs the party up.
	Release()
}

// Ring is one ringing of a set of phones.
type Ring struct {
	Targets []string // extensions whose registered phones ring
	// Trunk, when set, rings the carrier for Trunk.Number instead of Targets.
	Trunk   *routing.OutboundRoute
	Timeout time.Duration
	// HereOnly rings only the phones registered at this node of a cluster (routing's
	// Plan.HereOnly: another node forwarded the call for them), not those at other nodes.
	HereOnly bool
}

// Transferred is what Bridge returns when one party of the call sent the other on (a blind
// transfer, from a phone or the page): the transferring party's leg is over, the party that
// stays is now the call's caller, answered, hearing the switch, and goes to To as if it had
// dialled it.
type Transferred struct {
	To        string // the extension or number the caller is sent to
	By        string // the user who sent it
	Voicemail bool   // straight to To's mailbox
}

func (t *Transferred) Error() string { return "transferred by " + t.By + " to " + t.To }

// RingResult is how a Ring ended.
type RingResult int

// The ways a Ring ends.
const (
	// Answered: Rang.Party answered.
	Answered RingResult = iota + 1
	// NoAnswer: nobody answered in time, or there was no phone to ring.
	NoAnswer
	// Refused: every phone refused (busy, declined); Rang.Code and Reason hold the best
	// refusal, as RFC 3261 §16.7 picks it.
	Refused
	// Gone: the caller hung up or cancelled, or the call is being stopped: the flow returns.
	Gone
)

// Rang is the result of a Ring.
type Rang struct {
	Result RingResult
	Party  Party // Answered
	// PickedUp: the party is a user who picked the call up (*8, a BLF key) rather than one
	// of the phones rung; they chose the call, so it is not screened.
	PickedUp bool
	Code     int // Refused
	Reason   string
}

// State is what a call is doing, as the API shows it.
type State string

// The states of a call.
const (
	Ringing   State = "ringing"
	Talking   State = "talking"
	Held      State = "held" // a busy user's caller on hold
	Queued    State = "queued"
	Voicemail State = "voicemail" // leaving a message, or listening to one's own (*97)
	Screening State = "screening"
)

// Event is something that happened to a call: one of the types below, or a flow's own.
type Event any

// Digit is a key the caller (or, with FromParty, the answering party) pressed, from RFC 4733
// telephone events or SIP INFO.
type Digit struct {
	Key       byte
	FromParty bool
}

// PlayDone says the play with this id ended by itself.
type PlayDone struct {
	ID        uint64
	FromParty bool
}

// CallerGone: the caller hung up (BYE) or cancelled.
type CallerGone struct{}

// PartyGone: the answering party hung up before being bridged.
type PartyGone struct{}

// MediaLost: no RTP from the caller for the media timeout.
type MediaLost struct{}

// Stop: the call must end now (the switch shuts down, an administrator hung it up).
type Stop struct{ Why string }

// Timeout is posted by a flow's own timer (Call.After); Name tells which.
type Timeout struct{ Name string }
