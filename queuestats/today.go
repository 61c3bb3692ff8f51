// Package queuestats counts each call queue's calls of the switch's current day, for the
// wallboard: answered, abandoned, unanswered, answered within the service-level threshold,
// answered per agent, and calls per 15 minutes. It counts call history records (history.Record
// whose Via is a queue), read once from the store at start and then told of as each one is
// added, so a restart or a record imported from another node counts like any other.
//
// A call counts on the day it came in (its Started, in the switch's time zone) and once it has
// ended: a caller still waiting is in the queue's live figures, not in these.
//
// The package returns errors and never logs.
package queuestats

import (
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/switchboard-voip/switchboard/history"
	"github.com/switchboard-voip/switchboard/internal/clock"
)

// Slots is the number of 15-minute slots in a day: a local time's slot is hour*4 + minute/15,
// so a day that a clock change makes 23 or 25 hours long still has 96 (the repeated hour falls
// into the same slots).
const Slots = 96

// Defaults of Options.
const (
	// DefaultServiceLevel is the wait within which an answered call meets the service level:
	// 80 % within 20 s is the call-centre industry's usual target.
	DefaultServiceLevel = 20 * time.Second
	// DefaultShortAbandon is the wait under which a caller's hang-up is a short abandon: a
	// misdial or a caller who changed their mind before anyone could have answered. It counts
	// in Abandoned but not against the service level.
	DefaultShortAbandon = 5 * time.Second
)

// Day is one queue's figures of the day.
type Day struct {
	// Date is the day counted, YYYY-MM-DD in the switch's time zone.
	Date string
	// Answered is calls an agent took; AnsweredInTime those of them that waited at most the
	// service-level threshold.
	Answered, AnsweredInTime int
	// Abandoned is calls whose caller hung up before an agent answered; ShortAbandoned those
	// of them that waited less than the short-abandon threshold.
	Abandoned, ShortAbandoned int
	// Unanswered is calls that left the queue otherwise: max_wait passed and the queue's
	// fallback took them (voicemail, hang-up), or the call was refused.
	Unanswered int
	// AnsweredWaitMS is the total wait of the answered calls, for their average.
	AnsweredWaitMS int64
	// AnsweredBy is the answered calls per agent extension.
	AnsweredBy map[string]int
	// Slots is the calls that came in during each 15-minute slot of the day (all outcomes).
	Slots [Slots]int
}

// Offered is every call counted: answered, abandoned or unanswered.
func (d Day) Offered() int { return d.Answered + d.Abandoned + d.Unanswered }

// ServiceLevel is the share of calls answered within the threshold, of the calls answered,
// abandoned after the short-abandon threshold or unanswered; false when there are none yet
// (no figure, rather than 0 % or 100 %). A caller who waited minutes and went to voicemail
// was not served, so unanswered calls count against it; a short abandon does not.
func (d Day) ServiceLevel() (float64, bool) {
	n := d.Answered + d.Abandoned - d.ShortAbandoned + d.Unanswered
	if n <= 0 {
		return 0, false
	}
	return float64(d.AnsweredInTime) / float64(n), true
}

// AverageWait is the answered calls' average wait; 0 with none.
func (d Day) AverageWait() time.Duration {
	if d.Answered == 0 {
		return 0
	}
	return time.Duration(d.AnsweredWaitMS/int64(d.Answered)) * time.Millisecond
}

// Options configure a Today.
type Options struct {
	// Queues are the queue extensions counted; records through anything else are ignored.
	Queues []string
	// Clock tells the day; nil is the wall clock.
	Clock clock.Clock
	// Location is the switch's time zone, where a day starts at midnight; nil is time.Local.
	Location *time.Location
	// ServiceLevel and ShortAbandon are the thresholds (see Day); zero takes the defaults.
	ServiceLevel, ShortAbandon time.Duration
	// OnChange, if set, is told after the figures change: a record counted, the day turned
	// over at midnight. It runs on the goroutine that made the change (Add's, or a timer's),
	// so it must not wait.
	OnChange func()
}

// Lister is the call history as Load reads it; *history.Store satisfies it.
type Lister interface {
	List(ext string, limit int, before string) ([]history.Record, error)
}

var _ Lister = (*history.Store)(nil)

// Today is every configured queue's figures of the current day. Its methods are safe for
// concurrent use. Close stops its midnight timer.
type Today struct {
	o     Options
	clock clock.Clock
	loc   *time.Location

	mu       sync.Mutex
	day      dayKey
	queues   map[string]*Day
	seen     map[string]struct{} // ids of the records counted today: each counts once
	midnight clock.Timer         // turns the day over when nothing else happens
	closed   bool
}

// dayKey names a local day.
type dayKey struct {
	y int
	m time.Month
	d int
}

func (k dayKey) String() string { return fmt.Sprintf("%04d-%02d-%02d", k.y, k.m, k.d) }

// New returns an empty Today for o.Queues and starts its midnight timer; Load fills it with
// the records already in the history.
func New(o Options) *Today {
	t := &Today{o: o, clock: o.Clock, loc: o.Location}
	if t.clock == nil {
		t.clock = clock.Real()
	}
	if t.loc == nil {
		t.loc = time.Local
	}
	if t.o.ServiceLevel <= 0 {
		t.o.ServiceLevel = DefaultServiceLevel
	}
	if t.o.ShortAbandon <= 0 {
		t.o.ShortAbandon = DefaultShortAbandon
	}
	t.mu.Lock()
	t.resetLocked(t.clock.Now())
	t.mu.Unlock()
	return t
}

// Close stops the midnight timer. The figures can still be read.
func (t *Today) Close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	if t.midnight != nil {
		t.midnight.Stop()
	}
}

// loadPage is how many records Load reads at a time; a variable so a test pages through a
// few records.
var loadPage = 500

// loadMargin is how far before today's midnight Load keeps reading records ended then: a
// record's id (its order) is when it was stored, and another node's clock may be a little
// behind ours, so a record of today may sort among yesterday's last ones.
const loadMargin = time.Hour

// Load counts today's records of every queue from the history, newest first, stopping at
// the records stored before today (less a margin). Call it once, after OnAdd feeds Add: a
// record both read here and told to Add counts once.
func (t *Today) Load(h Lister) error {
	t.mu.Lock()
	stop := t.startLocked().Add(-loadMargin)
	queues := t.o.Queues
	t.mu.Unlock()
	changed := false
	for _, q := range queues {
		before := ""
		for {
			page, err := h.List(q, loadPage, before)
			if err != nil {
				return fmt.Errorf("queuestats: reading queue %s's calls of today: %w", q, err)
			}
			for _, r := range page {
				if r.Ended.Before(stop) {
					page = nil // the rest are older still
					break
				}
				if r.Via == q && t.count(r) {
					changed = true
				}
			}
			if len(page) < loadPage {
				break
			}
			before = page[len(page)-1].ID
		}
	}
	if changed && t.o.OnChange != nil {
		t.o.OnChange()
	}
	return nil
}

// Add counts a record just stored, if it is a queue's call of today (history.Store.OnAdd).
func (t *Today) Add(r history.Record) {
	if t.count(r) && t.o.OnChange != nil {
		t.o.OnChange()
	}
}

// SetQueues makes exts the queues counted: a queue added to the directory is counted from now
// (its figures of today start at zero), one removed keeps what it had until midnight.
func (t *Today) SetQueues(exts []string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.o.Queues = slices.Clone(exts)
	for _, q := range exts {
		if t.queues[q] == nil {
			t.queues[q] = &Day{AnsweredBy: map[string]int{}}
		}
	}
}

// Queue returns queue ext's figures of today (zero for a queue not counted).
func (t *Today) Queue(ext string) Day {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.rollLocked(t.clock.Now())
	d := t.queues[ext]
	if d == nil {
		return Day{Date: t.day.String()}
	}
	out := *d
	out.Date = t.day.String()
	out.AnsweredBy = make(map[string]int, len(d.AnsweredBy))
	for k, v := range d.AnsweredBy {
		out.AnsweredBy[k] = v
	}
	return out
}

// count adds r to its queue's figures and reports whether it counted: a queue's call (not a
// feature code) that came in today and was not counted before. A caller who hung up to be
// called back is not counted then: the callback call that follows, with its own record, is.
func (t *Today) count(r history.Record) bool {
	if r.Via == "" || r.Outcome == history.Feature || r.Outcome == history.Callback {
		return false
	}
	at := r.Started
	if at.IsZero() {
		at = r.Ended
	}
	local := at.In(t.loc)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.rollLocked(t.clock.Now())
	d := t.queues[r.Via]
	if d == nil || keyOf(local) != t.day {
		return false
	}
	if r.ID != "" {
		if _, dup := t.seen[r.ID]; dup {
			return false
		}
		t.seen[r.ID] = struct{}{}
	}
	wait := time.Duration(r.HeldMS) * time.Millisecond
	switch r.Outcome {
	case history.Answered:
		d.Answered++
		d.AnsweredWaitMS += r.HeldMS
		if wait <= t.o.ServiceLevel {
			d.AnsweredInTime++
		}
		if r.AnsweredBy != "" {
			d.AnsweredBy[r.AnsweredBy]++
		}
	case history.Abandoned:
		d.Abandoned++
		if wait < t.o.ShortAbandon {
			d.ShortAbandoned++
		}
	default:
		d.Unanswered++
	}
	d.Slots[local.Hour()*4+local.Minute()/15]++
	return true
}

// rollLocked starts a new day when now is past the one counted; t.mu is held. It reports
// whether it did.
func (t *Today) rollLocked(now time.Time) bool {
	if keyOf(now.In(t.loc)) == t.day {
		return false
	}
	t.resetLocked(now)
	return true
}

// resetLocked empties the figures for now's day and sets the timer for its end; t.mu is held.
func (t *Today) resetLocked(now time.Time) {
	t.day = keyOf(now.In(t.loc))
	t.queues = make(map[string]*Day, len(t.o.Queues))
	for _, q := range t.o.Queues {
		t.queues[q] = &Day{AnsweredBy: map[string]int{}}
	}
	t.seen = map[string]struct{}{}
	if t.midnight != nil {
		t.midnight.Stop()
	}
	if t.closed {
		return
	}
	next := time.Date(t.day.y, t.day.m, t.day.d+1, 0, 0, 0, 0, t.loc)
	t.midnight = t.clock.AfterFunc(next.Sub(now), t.atMidnight)
}

// atMidnight turns the day over, so a wall screen shows zeros from midnight on even when no
// call comes (the figures would roll over at the next read anyway).
func (t *Today) atMidnight() {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	now := t.clock.Now()
	rolled := t.rollLocked(now)
	if !rolled {
		// Early by the wall clock (set back since the timer was armed): try again then.
		next := time.Date(t.day.y, t.day.m, t.day.d+1, 0, 0, 0, 0, t.loc)
		t.midnight = t.clock.AfterFunc(max(next.Sub(now), time.Second), t.atMidnight)
	}
	t.mu.Unlock()
	if rolled && t.o.OnChange != nil {
		t.o.OnChange()
	}
}

// startLocked is when the day counted began; t.mu is held.
func (t *Today) startLocked() time.Time {
	return time.Date(t.day.y, t.day.m, t.day.d, 0, 0, 0, 0, t.loc)
}

func keyOf(local time.Time) dayKey {
	y, m, d := local.Date()
	return dayKey{y, m, d}
}
