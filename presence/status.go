package presence

import (
	"errors"
	"fmt"
)

// Status is a user's effective status, as the API and SIP presence show it.
type Status string

// The status words; lower case everywhere in the API.
const (
	Available Status = "available"
	Busy      Status = "busy"
	DND       Status = "dnd"
)

// Errors returned by the table. Callers test them with errors.Is.
var (
	// ErrUnknownUser: the extension is not a configured user.
	ErrUnknownUser = errors.New("presence: unknown user")
	// ErrUnavailable: the store cannot be reached now (a cluster's NATS is away); the change
	// was not made, and may be tried again.
	ErrUnavailable = errors.New("presence: status store unreachable")
	// ErrNotSettable: the word is not a status a person may set ("busy" is derived).
	ErrNotSettable = errors.New("presence: status may not be set")
	// ErrStale: a conditional save found that another node changed the setting first.
	ErrStale = errors.New("presence: setting changed elsewhere")
)

// ParseSettable parses a status word a person may set: "available" turns DND off, "dnd" turns
// it on. Anything else, "busy" included (it is derived, never set by hand), and any other
// spelling ("DND", " dnd") returns an error wrapping ErrNotSettable.
func ParseSettable(s string) (dnd bool, err error) {
	switch Status(s) {
	case Available:
		return false, nil
	case DND:
		return true, nil
	}
	return false, fmt.Errorf("%w: %q (want %q or %q)", ErrNotSettable, s, Available, DND)
}

// effective is the status rule in one place.
func effective(dnd bool, calls int) Status {
	switch {
	case dnd:
		return DND
	case calls > 0:
		return Busy
	}
	return Available
}
