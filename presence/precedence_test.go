package presence

import (
	"errors"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // Europe/Berlin on a machine without a zoneinfo database

	"github.com/switchboard-voip/switchboard/internal/clock"
	"github.com/switchboard-voip/switchboard/internal/poll"
)

// officeHours: Monday to Friday 09:00-17:00 in Berlin, closed on Monday 2026-12-07.
var officeHours = Hours{
	TimeZone: "Europe/Berlin",
	Week: map[string][]string{
		"mon": {"09:00-17:00"}, "tue": {"09:00-17:00"}, "wed": {"09:00-17:00"},
		"thu": {"09:00-17:00"}, "fri": {"09:00-12:00", "13:00-17:00"},
	},
	Holidays: []string{"2026-12-07"},
}

// berlin returns a time in Berlin on day d of December 2026 (the 4th is a Friday).
func berlin(d, h, m int) time.Time {
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		panic(err)
	}
	return time.Date(2026, 12, d, h, m, 0, 0, loc)
}

func compiled(t *testing.T, h Hours) *Schedule {
	t.Helper()
	s, err := h.Compile()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestDuePrecedence is the order of precedence between a person's change, an end time and
// working hours, case by case.
func TestDuePrecedence(t *testing.T) {
	office := compiled(t, officeHours)
	outside := Change{DND: true, Reason: OutsideHours, Source: SourceSchedule}
	cases := []struct {
		name string
		cur  Setting
		sch  *Schedule
		now  time.Time
		want *Change   // nil: nothing due
		wake time.Time // when nothing is due
	}{
		{name: "manual DND in hours lasts until the day ends",
			cur: Setting{DND: true, Reason: "in a meeting", At: berlin(3, 10, 0)}, sch: office,
			now: berlin(3, 16, 59), wake: berlin(3, 17, 0)},
		{name: "the day's end overrides a manual DND",
			cur: Setting{DND: true, Reason: "in a meeting", At: berlin(3, 10, 0)}, sch: office,
			now: berlin(3, 17, 0), want: &outside},
		{name: "the day's end overrides a manual Available",
			cur: Setting{At: berlin(3, 10, 0)}, sch: office, now: berlin(3, 17, 0), want: &outside},
		{name: "a manual Available after hours lasts until the next day begins",
			cur: Setting{At: berlin(3, 20, 0)}, sch: office, now: berlin(3, 23, 0), wake: berlin(4, 9, 0)},
		{name: "the next day's start makes the user Available",
			cur: Setting{At: berlin(3, 20, 0)}, sch: office, now: berlin(4, 9, 0),
			want: &Change{Source: SourceSchedule}},
		{name: "a lunch break is a boundary",
			cur: Setting{At: berlin(4, 9, 0)}, sch: office, now: berlin(4, 11, 0), wake: berlin(4, 12, 0)},
		{name: "over the weekend and the holiday to Tuesday",
			cur: outside.setting(berlin(4, 17, 0)), sch: office, now: berlin(5, 12, 0), wake: berlin(8, 9, 0)},
		{name: "a timed DND ends before the day does",
			cur: Setting{DND: true, Until: berlin(3, 11, 0), At: berlin(3, 10, 0)}, sch: office,
			now: berlin(3, 10, 30), wake: berlin(3, 11, 0)},
		{name: "a timed DND that ends in hours leaves the user Available",
			cur: Setting{DND: true, Until: berlin(3, 11, 0), At: berlin(3, 10, 0)}, sch: office,
			now: berlin(3, 11, 0), want: &Change{Source: SourceExpiry}},
		{name: "the day's end comes before a timed DND's end",
			cur: Setting{DND: true, Until: berlin(3, 19, 0), At: berlin(3, 16, 30)}, sch: office,
			now: berlin(3, 17, 0), want: &outside},
		{name: "a timed DND that ends after hours leaves the user outside working hours",
			cur: Setting{DND: true, Until: berlin(3, 22, 0), At: berlin(3, 20, 0)}, sch: office,
			now: berlin(3, 22, 0), want: &Change{DND: true, Reason: OutsideHours, Source: SourceExpiry}},
		{name: "without working hours a timed DND ends in Available",
			cur: Setting{DND: true, Until: berlin(3, 22, 0), At: berlin(3, 20, 0)},
			now: berlin(3, 23, 0), want: &Change{Source: SourceExpiry}},
		{name: "an auto-pause with resume ends like any timed DND",
			cur: Setting{DND: true, Reason: "missed 3 queue calls", Until: berlin(3, 10, 30), Source: SourceAutoPause, At: berlin(3, 10, 0)},
			sch: office, now: berlin(3, 10, 30), want: &Change{Source: SourceExpiry}},
		{name: "an auto-pause without resume lasts until the day ends",
			cur: Setting{DND: true, Reason: "missed 3 queue calls", Source: SourceAutoPause, At: berlin(3, 10, 0)},
			sch: office, now: berlin(3, 12, 0), wake: berlin(3, 17, 0)},
		{name: "without working hours or an end, nothing is ever due",
			cur: Setting{DND: true, At: berlin(3, 10, 0)}, now: berlin(30, 10, 0)},
		{name: "a user who never set anything gets the schedule's word",
			sch: office, now: berlin(5, 10, 0), want: &outside},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, ok, wake := due(tc.now, tc.cur, tc.sch)
			switch {
			case tc.want == nil && ok:
				t.Errorf("due %+v, want nothing", c)
			case tc.want != nil && !ok:
				t.Errorf("nothing due (wake %v), want %+v", wake, *tc.want)
			case tc.want != nil && c != *tc.want:
				t.Errorf("due %+v, want %+v", c, *tc.want)
			case tc.want == nil && !wake.Equal(tc.wake):
				t.Errorf("wake %v, want %v", wake, tc.wake)
			}
		})
	}
}

// timedTable is a table of the demo users with working hours allowed, on a fake clock at now.
func timedTable(t *testing.T, store *MemoryStore, now time.Time) (*Table, *clock.Fake) {
	t.Helper()
	clk := clock.NewFake(now)
	tab, err := NewTable(demoUsers, store, WithClock(clk), WithHours(store))
	if err != nil {
		t.Fatal(err)
	}
	tab.Start()
	t.Cleanup(tab.Close)
	return tab, clk
}

// waitState polls ext's state until ok accepts it.
func waitState(t *testing.T, tab *Table, ext string, what string, ok func(State) bool) State {
	t.Helper()
	var st State
	poll.Require(t, 5*time.Second, what, func() bool {
		st, _ = tab.Get(ext)
		return ok(st)
	})
	return st
}

// TestTimedDNDEndsOnTime: DND for 45 minutes with a reason shows both, ends by itself on the
// clock, tells watchers, and the history of changes lists the user's change and the expiry.
func TestTimedDNDEndsOnTime(t *testing.T) {
	store := &MemoryStore{}
	start := berlin(3, 10, 0)
	tab, clk := timedTable(t, store, start)
	w := watchOrdered(t, tab, 16)
	st, err := tab.Set("1002", Change{DND: true, Reason: "at lunch", Until: start.Add(45 * time.Minute), Source: SourceUser, By: "1002"})
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != DND || st.Reason != "at lunch" || !st.Until.Equal(start.Add(45*time.Minute)) || st.Source != SourceUser || st.By != "1002" {
		t.Fatalf("state after the change: %+v", st)
	}
	if !clk.WaitFor(1, 5*time.Second) {
		t.Fatal("no timer armed for the end")
	}
	clk.Advance(44 * time.Minute)
	wantStatus(t, tab, "1002", DND)
	clk.Advance(time.Minute)
	st = waitState(t, tab, "1002", "DND ended", func(s State) bool { return s.Status == Available })
	if st.Reason != "" || !st.Until.IsZero() || st.Source != SourceExpiry || st.By != "" {
		t.Errorf("state after the end: %+v", st)
	}
	wantEvents(t, tab, w, "1002:dnd", "1002:available")
	changes, err := tab.Changes("1002", 10)
	if err != nil || len(changes) != 2 || changes[0].Source != SourceExpiry || changes[1].Reason != "at lunch" {
		t.Errorf("changes %+v, %v", changes, err)
	}
	if clk.Pending() != 0 {
		t.Errorf("%d timers pending after the end, want 0", clk.Pending())
	}
}

// TestAChangeReplacesTheEndTime: a timed DND turned off by hand, or replaced by one without an
// end, is not ended later by the first one's timer.
func TestAChangeReplacesTheEndTime(t *testing.T) {
	store := &MemoryStore{}
	start := berlin(3, 10, 0)
	tab, clk := timedTable(t, store, start)
	if _, err := tab.Set("1003", Change{DND: true, Until: start.Add(time.Hour), Source: SourceUser}); err != nil {
		t.Fatal(err)
	}
	if _, err := tab.Set("1003", Change{DND: true, Reason: "sick", Source: SourceAdmin, By: "1001"}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Hour)
	if clk.Pending() != 0 {
		t.Fatalf("%d timers pending, want 0", clk.Pending())
	}
	if st, _ := tab.Get("1003"); st.Status != DND || st.Reason != "sick" || st.By != "1001" {
		t.Errorf("state %+v", st)
	}
	if store.Saves() != 2 {
		t.Errorf("%d saves, want 2", store.Saves())
	}
}

// TestStartAppliesWhatFellDueWhileDown: a timed DND that ended while the switch was down is
// over when it starts again; one still running keeps its end across the restart.
func TestStartAppliesWhatFellDueWhileDown(t *testing.T) {
	store := &MemoryStore{}
	start := berlin(3, 10, 0)
	tab, _ := timedTable(t, store, start)
	tab.Set("1002", Change{DND: true, Until: start.Add(30 * time.Minute), Source: SourceUser})
	tab.Set("1003", Change{DND: true, Reason: "workshop", Until: start.Add(3 * time.Hour), Source: SourceUser})
	tab.Close()

	again, clk := timedTable(t, store, start.Add(time.Hour))
	wantStatus(t, again, "1002", Available)
	if st, _ := again.Get("1002"); st.Source != SourceExpiry {
		t.Errorf("1002 after the restart: %+v", st)
	}
	if st, _ := again.Get("1003"); st.Status != DND || st.Reason != "workshop" || !st.Until.Equal(start.Add(3*time.Hour)) {
		t.Fatalf("1003 after the restart: %+v", st)
	}
	clk.Advance(2 * time.Hour)
	waitState(t, again, "1003", "DND ended after the restart", func(s State) bool { return s.Status == Available })
}

// TestWorkingHoursSetTheStatus: setting working hours applies them at once; the day's end sets
// DND "outside working hours" and the next working day's start sets Available, skipping the
// weekend and the holiday; a manual change in between wins until the next boundary.
func TestWorkingHoursSetTheStatus(t *testing.T) {
	store := &MemoryStore{}
	tab, clk := timedTable(t, store, berlin(4, 16, 0)) // Friday
	h := officeHours
	st, err := tab.SetHours("1004", &h)
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != Available || st.Source != SourceSchedule {
		t.Fatalf("in hours: %+v", st)
	}
	clk.Advance(time.Hour) // 17:00
	st = waitState(t, tab, "1004", "DND at the day's end", func(s State) bool { return s.Status == DND })
	if st.Reason != OutsideHours || st.Source != SourceSchedule {
		t.Errorf("after hours: %+v", st)
	}
	// Working on Saturday by hand: Available until the next boundary, Tuesday 09:00.
	if _, err := tab.Set("1004", Change{Source: SourceUser, By: "1004"}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(berlin(8, 8, 59).Sub(clk.Now()))
	wantStatus(t, tab, "1004", Available)
	if got, ok := tab.Hours("1004"); !ok || got.TimeZone != "Europe/Berlin" {
		t.Errorf("Hours = %+v, %v", got, ok)
	}

	// A restart keeps the hours and their timer.
	tab.Close()
	again, clk2 := timedTable(t, store, clk.Now())
	clk2.Advance(time.Minute) // Tuesday 09:00
	st = waitState(t, again, "1004", "a boundary after the restart", func(s State) bool { return s.Source == SourceSchedule && s.SetAt.Equal(berlin(8, 9, 0)) })
	if st.Status != Available {
		t.Errorf("Tuesday 09:00: %+v", st)
	}
	// Removing the hours leaves the status as it is and arms nothing.
	if _, err := again.SetHours("1004", nil); err != nil {
		t.Fatal(err)
	}
	if _, ok := again.Hours("1004"); ok || clk2.Pending() != 0 {
		t.Errorf("after removing the hours: hours %v, %d timers pending", ok, clk2.Pending())
	}
}

// TestOneNodeAppliesADueChange: two nodes' tables over one shared store both see a DND end;
// the conditional save lets one of them apply it.
func TestOneNodeAppliesADueChange(t *testing.T) {
	store := &sharedStore{}
	start := berlin(3, 10, 0)
	clk := clock.NewFake(start)
	a, err := NewTable(demoUsers, store, WithClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewTable(demoUsers, store, WithClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	t.Cleanup(b.Close)
	s := Setting{DND: true, Until: start.Add(time.Minute), Source: SourceUser, At: start}
	rev, err := store.SaveDNDRevision("1002", s)
	if err != nil {
		t.Fatal(err)
	}
	a.ApplyDND("1002", s, rev)
	b.ApplyDND("1002", s, rev)
	if !clk.WaitFor(2, 5*time.Second) {
		t.Fatal("the nodes armed no timers")
	}
	clk.Advance(time.Minute)
	poll.Require(t, 5*time.Second, "one node applied the end", func() bool {
		sa, _ := a.Get("1002")
		sb, _ := b.Get("1002")
		return sa.Status == Available || sb.Status == Available
	})
	if store.Saves() != 2 {
		t.Errorf("%d saves, want 2 (the change and one expiry)", store.Saves())
	}
}

// TestBadChangesAreRefused: the limits on a change, each named.
func TestBadChangesAreRefused(t *testing.T) {
	tab, store := newTable(t)
	now := time.Now()
	cases := []struct {
		c    Change
		want string
	}{
		{Change{DND: true, Reason: strings.Repeat("x", MaxReason+1)}, "81 characters"},
		{Change{DND: true, Until: now.Add(-time.Minute)}, "not in the future"},
		{Change{DND: true, Until: now.Add(2 * MaxUntil)}, "more than a year"},
		{Change{Until: now.Add(time.Hour)}, "DND only"},
		{Change{DND: true, Reason: "\xff"}, "UTF-8"},
		{Change{DND: true, Reason: "line\nbreak"}, "control characters"},
	}
	for _, tc := range cases {
		_, err := tab.Set("1001", tc.c)
		if !errors.Is(err, ErrBadChange) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Set(%+v) = %v, want ErrBadChange saying %q", tc.c, err, tc.want)
		}
	}
	if store.Saves() != 0 {
		t.Errorf("%d saves of bad changes", store.Saves())
	}
	// The limit counts characters, not bytes.
	if _, err := tab.Set("1001", Change{DND: true, Reason: strings.Repeat("ü", MaxReason)}); err != nil {
		t.Errorf("80 two-byte characters: %v", err)
	}
}

// TestBadHoursNameTheField: malformed working hours are refused with the field named.
func TestBadHoursNameTheField(t *testing.T) {
	week := map[string][]string{"mon": {"09:00-17:00"}}
	cases := []struct {
		h     Hours
		field string
	}{
		{Hours{Week: week}, "time_zone"},
		{Hours{TimeZone: "Mars/Olympus", Week: week}, "time_zone"},
		{Hours{TimeZone: "UTC"}, "week"},
		{Hours{TimeZone: "UTC", Week: map[string][]string{"monday": {"09:00-17:00"}}}, "week.monday"},
		{Hours{TimeZone: "UTC", Week: map[string][]string{"tue": {"9-17"}}}, "week.tue[0]"},
		{Hours{TimeZone: "UTC", Week: map[string][]string{"tue": {"09:00-25:00"}}}, "week.tue[0]"},
		{Hours{TimeZone: "UTC", Week: map[string][]string{"tue": {"22:00-06:00"}}}, "week.tue[0]"},
		{Hours{TimeZone: "UTC", Week: map[string][]string{"wed": {"09:00-13:00", "12:00-17:00"}}}, "week.wed[1]"},
		{Hours{TimeZone: "UTC", Week: week, Holidays: []string{"2026-12-25", "25.12.2026"}}, "holidays[1]"},
	}
	for _, tc := range cases {
		_, err := tc.h.Compile()
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field || !errors.Is(err, ErrBadHours) {
			t.Errorf("Compile(%+v) = %v, want a problem with %s", tc.h, err, tc.field)
		}
	}
	// Midnight as an end, and spans that meet, are fine.
	if _, err := (Hours{TimeZone: "UTC", Week: map[string][]string{"sat": {"00:00-12:00", "12:00-24:00"}}}).Compile(); err != nil {
		t.Errorf("a whole Saturday: %v", err)
	}
}

// TestScheduleAcrossDaylightSaving: the boundaries follow local time when the clocks change.
func TestScheduleAcrossDaylightSaving(t *testing.T) {
	s := compiled(t, Hours{TimeZone: "Europe/Berlin", Week: map[string][]string{"sun": {"01:00-04:00"}, "mon": {"00:00-24:00"}}})
	loc, _ := time.LoadLocation("Europe/Berlin")
	// 2027-03-28 is the Sunday the clocks go from 02:00 to 03:00.
	sat := time.Date(2027, 3, 27, 12, 0, 0, 0, loc)
	if got := s.Next(sat); !got.Equal(time.Date(2027, 3, 28, 1, 0, 0, 0, loc)) {
		t.Errorf("Next(Saturday) = %v", got)
	}
	if got := s.Next(time.Date(2027, 3, 28, 1, 30, 0, 0, loc)); !got.Equal(time.Date(2027, 3, 28, 4, 0, 0, 0, loc)) {
		t.Errorf("Next(Sunday 01:30) = %v, want 04:00 local (two hours later on the wall clock, one elapsed)", got)
	}
	// Sunday 04:00 → Monday 00:00 starts the next span; Monday works until Tuesday 00:00.
	if got := s.Next(time.Date(2027, 3, 28, 5, 0, 0, 0, loc)); !got.Equal(time.Date(2027, 3, 29, 0, 0, 0, 0, loc)) {
		t.Errorf("Next(Sunday 05:00) = %v", got)
	}
	if got := s.Next(time.Date(2027, 3, 29, 5, 0, 0, 0, loc)); !got.Equal(time.Date(2027, 3, 30, 0, 0, 0, 0, loc)) {
		t.Errorf("Next(Monday 05:00) = %v", got)
	}
}
