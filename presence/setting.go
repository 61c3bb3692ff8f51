package presence

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Source says who or what made a DND change; it is recorded with every change, so that a user
// can tell why they are on DND and who put them there.
type Source string

// The sources of DND changes.
const (
	// SourceUser: the user themself, on the page, the web phone, the app or the API.
	SourceUser Source = "user"
	// SourceAdmin: an administrator, named by Change.By.
	SourceAdmin Source = "admin"
	// SourceFeatureCode: the user dialled *78 or *79.
	SourceFeatureCode Source = "feature_code"
	// SourcePhoneKey: a phone's DND key (as-feature-event, the Broadsoft/Polycom/Yealink way).
	SourcePhoneKey Source = "phone_key"
	// SourcePublish: a phone PUBLISHed its presence (RFC 3903).
	SourcePublish Source = "publish"
	// SourceScreening: the user chose DND while screening a call.
	SourceScreening Source = "screening"
	// SourceSchedule: the user's working hours began or ended.
	SourceSchedule Source = "schedule"
	// SourceAutoPause: the user missed too many queue offers in a row.
	SourceAutoPause Source = "auto_pause"
	// SourceExpiry: a DND with an end time ran out.
	SourceExpiry Source = "expiry"
)

// Limits on a change, so that what every watcher is sent stays small and an end time is one a
// person means.
const (
	// MaxReason is the longest reason, in characters.
	MaxReason = 80
	// MaxUntil is how far ahead an end time may be.
	MaxUntil = 366 * 24 * time.Hour
)

// ErrBadChange: the change is malformed (a reason too long, an end time in the past or too far
// ahead, an end time on Available). Its message names what is wrong.
var ErrBadChange = errors.New("presence: bad change")

// Change is a DND change as someone asks for it.
type Change struct {
	DND bool
	// Reason says why, in the user's words ("in a meeting"); only with DND on.
	Reason string
	// Until is when DND ends by itself; zero for no end. Only with DND on.
	Until time.Time
	// Source and By say who made the change: By is the extension of the person (the user, the
	// administrator), empty when the switch made it (schedule, expiry, auto-pause).
	Source Source
	By     string
}

// Setting is a user's DND setting as stored: the change that made it and when.
type Setting struct {
	DND    bool      `json:"dnd"`
	Reason string    `json:"reason,omitempty"`
	Until  time.Time `json:"until,omitzero"`
	Source Source    `json:"source,omitempty"`
	By     string    `json:"by,omitempty"`
	At     time.Time `json:"at,omitzero"`
}

// check validates c against the time now.
func (c Change) check(now time.Time) error {
	if n := utf8.RuneCountInString(c.Reason); n > MaxReason {
		return fmt.Errorf("%w: reason is %d characters, at most %d", ErrBadChange, n, MaxReason)
	}
	if !utf8.ValidString(c.Reason) {
		return fmt.Errorf("%w: reason is not UTF-8", ErrBadChange)
	}
	if strings.ContainsFunc(c.Reason, unicode.IsControl) {
		return fmt.Errorf("%w: reason has control characters", ErrBadChange)
	}
	if c.Until.IsZero() {
		return nil
	}
	switch {
	case !c.DND:
		return fmt.Errorf("%w: an end time applies to DND only", ErrBadChange)
	case !c.Until.After(now):
		return fmt.Errorf("%w: end time %s is not in the future", ErrBadChange, c.Until.UTC().Format(time.RFC3339))
	case c.Until.Sub(now) > MaxUntil:
		return fmt.Errorf("%w: end time %s is more than a year ahead", ErrBadChange, c.Until.UTC().Format(time.RFC3339))
	}
	return nil
}

// setting is the Setting c makes at time at. A reason and an end time only go with DND on.
func (c Change) setting(at time.Time) Setting {
	s := Setting{DND: c.DND, Source: c.Source, By: c.By, At: at}
	if c.DND {
		s.Reason, s.Until = c.Reason, c.Until
	}
	return s
}

// same reports whether s already is what c asks for, so applying it would change nothing a
// caller or a watcher sees.
func (s Setting) same(c Change) bool {
	if s.DND != c.DND {
		return false
	}
	if !c.DND {
		return true
	}
	if c.Source == SourcePublish || c.Source == SourcePhoneKey {
		// A phone knows DND on or off and nothing of reasons and end times: repeating the
		// state the user is in (a phone's DND key pressed after DND was set on the page)
		// keeps the page's reason and end.
		return true
	}
	return s.Reason == c.Reason && s.Until.Equal(c.Until)
}
