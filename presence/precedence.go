package presence

import (
	"errors"
	"time"
)

// The order of precedence between what sets DND, in one place (README says the same):
//
//  1. A change someone makes (the user, an administrator, a phone, screening, auto-pause) is
//     applied at once and stays until the next working-hours boundary or its own end time,
//     whichever comes first.
//  2. At a working-hours boundary the schedule sets the status: Available when working hours
//     begin, DND "outside working hours" when they end. A user without working hours has no
//     boundaries.
//  3. When a DND with an end time runs out, the user gets what the schedule says at that
//     moment: Available in working hours (or without any), else DND "outside working hours".
//
// Both are computed from the setting itself (when it was made, its end time) and the schedule,
// so a switch that was down at a boundary or an end time applies it when it starts.

// due returns the change that falls due at now for a user whose DND setting is cur and whose
// working hours are sch (nil: none), if any; otherwise when to look again (zero: never).
func due(now time.Time, cur Setting, sch *Schedule) (c Change, ok bool, wake time.Time) {
	crossed := false
	if sch != nil {
		// A setting never made (zero At) has all boundaries behind it: the schedule decides.
		next := sch.Next(cur.At)
		crossed = !next.IsZero() && !now.Before(next)
		wake = next
	}
	expired := cur.DND && !cur.Until.IsZero() && !now.Before(cur.Until)
	if !crossed && !expired {
		if cur.DND && !cur.Until.IsZero() && (wake.IsZero() || cur.Until.Before(wake)) {
			wake = cur.Until
		}
		return Change{}, false, wake
	}
	c = Change{Source: SourceSchedule}
	if !crossed {
		c.Source = SourceExpiry
	}
	if sch != nil && !sch.Working(now) {
		c.DND, c.Reason = true, OutsideHours
	}
	return c, true, time.Time{}
}

// rearm applies what is due for row e and arms its timer for what comes next; e.set is held.
// A removed row has no timer.
func (t *Table) rearm(e *entry) {
	e.stopTimer()
	if t.closed.Load() || e.removed {
		return
	}
	now := t.now()
	c, ok, wake := due(now, e.setting, e.hours)
	if ok {
		// Saved conditionally: with a shared store every node sees it fall due, one applies it
		// and the others get it replicated. A store that fails now (NATS away, a disk error)
		// is tried again shortly: the change stays due.
		_, err := t.save(e, c.setting(now), true)
		switch {
		case err == nil || errors.Is(err, ErrStale):
			return // save armed the timer for the new setting
		default:
			wake = now.Add(retryDue)
		}
	}
	if wake.IsZero() {
		return
	}
	e.timer = t.clock.AfterFunc(wake.Sub(now), func() { t.fire(e) })
}

// retryDue is how soon a due change whose save failed is tried again.
const retryDue = 5 * time.Second

// fire is row e's timer: whatever fell due is applied. A timer that fired as its row was
// removed finds it removed (rearm), and does nothing.
func (t *Table) fire(e *entry) {
	e.set.Lock()
	defer e.set.Unlock()
	t.rearm(e)
}

// SetHours sets ext's working hours (nil removes them) and returns the user's state. The
// schedule applies at once what it says for now, as at a boundary (a manual change made
// afterwards wins until the next one); that setting is saved before the hours, so that other
// nodes, getting the hours, find it already made. If a save fails the error is returned and
// the hours are not in effect. Without a HoursStore (WithHours) it returns an error.
func (t *Table) SetHours(ext string, h *Hours) (State, error) {
	e, ok := t.row(ext)
	if !ok {
		return State{}, unknown(ext)
	}
	if t.hours == nil {
		return State{}, errors.New("presence: working hours are not kept here")
	}
	var sch *Schedule
	if h != nil {
		var err error
		if sch, err = h.Compile(); err != nil {
			return State{}, err
		}
	}
	e.set.Lock()
	defer e.set.Unlock()
	if e.removed {
		return State{}, unknown(ext)
	}
	if sch != nil {
		now := t.now()
		c := Change{Source: SourceSchedule}
		if !sch.Working(now) {
			c.DND, c.Reason = true, OutsideHours
		}
		if !e.setting.same(c) {
			if _, err := t.save(e, c.setting(now), false); err != nil {
				return State{}, err
			}
		}
	}
	if err := t.hours.SaveHours(ext, h); err != nil {
		return State{}, err
	}
	e.hours = sch
	t.rearm(e)
	return e.state(), nil
}

// Hours returns ext's working hours; false if ext has none (or is not a user).
func (t *Table) Hours(ext string) (Hours, bool) {
	e, ok := t.row(ext)
	if !ok {
		return Hours{}, false
	}
	e.set.Lock()
	defer e.set.Unlock()
	if e.hours == nil || e.removed {
		return Hours{}, false
	}
	return e.hours.Hours(), true
}
