package flow

// Originator places calls from the switch itself (a callback); sip.Server implements it.
//
// An originated call is a call like any other: it has one owner goroutine, its events arrive
// through Next, and its media is anchored and bridged as a held caller's is. Only its start
// differs: there is no INVITE to answer, the switch rings a phone first, and the phone that
// answers becomes the call's caller.
type Originator interface {
	// Originate starts o on a goroutine of its own and returns: the switch rings o.Ring's
	// phones showing o.RingFrom, then calls o.Run there with the call and how the ringing
	// ended. It fails, and o.Run is never called, when the switch is stopping or cannot open
	// media.
	Originate(o Origination) error
}

// Origination is a call the switch places: whom it rings first and who the call is from.
type Origination struct {
	// Ring names the phones rung first (Targets, Timeout) and whether only this node's.
	Ring Ring
	// RingFrom and RingFromName are what those phones show as the caller: the number the
	// call is for and a name saying why ("Callback: Alice").
	RingFrom, RingFromName string
	// Caller is the user the call is from once answered (Call.Caller), "" when that is only
	// known then (a queue's agents).
	Caller string
	// From is the call's caller ID in the API and history (the user, or the queue), and
	// FromName the name the phones rung next show; "" is the Caller's own name.
	From, FromName string
	// To is the number the call is for, in the API and history.
	To string
	// Run carries the call on from the first ringing, on the call's own goroutine. When
	// r.Result is Answered, r.Ext answered and is the call's caller: answered, hearing the
	// switch; Ring and Bridge then connect them as they would a held caller. Otherwise the
	// call is over once Run returns: Run only records why (SetOutcome, Trace).
	Run func(c Call, r Originated)
}

// Originated is how the first ringing of an originated call ended.
type Originated struct {
	Result RingResult // Answered, NoAnswer, Refused (every phone declined) or Gone (stopping)
	Ext    string     // the user whose phone answered
}
