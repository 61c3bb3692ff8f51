package presence

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Hours are a user's weekly working hours as a person writes them: outside them the user is on
// DND with the reason OutsideHours.
type Hours struct {
	// TimeZone is an IANA zone name ("Europe/Berlin", "UTC"): the hours are local times there.
	TimeZone string `json:"time_zone"`
	// Week holds, by day ("mon" … "sun"), the day's working spans as "HH:MM-HH:MM" (end 24:00
	// for midnight), in order and not overlapping; a day not listed is not a working day.
	Week map[string][]string `json:"week"`
	// Holidays are dates ("2026-12-25") with no working hours.
	Holidays []string `json:"holidays,omitempty"`
}

// HoursStore keeps users' working hours.
type HoursStore interface {
	// LoadHours returns every user's working hours, by extension.
	LoadHours() (map[string]Hours, error)
	// SaveHours stores ext's working hours, or removes them when h is nil. When it returns nil
	// the change survives a crash.
	SaveHours(ext string, h *Hours) error
}

// OutsideHours is the reason of a DND the schedule sets.
const OutsideHours = "outside working hours"

// maxHolidays bounds the holiday list: a year of them and some.
const maxHolidays = 400

// ErrBadHours: working hours are malformed; the error is a *FieldError naming the field.
var ErrBadHours = errors.New("presence: bad working hours")

// FieldError is a problem with one field of a request, named the way the request spells it
// ("week.mon[1]", "time_zone"), so that a page can show it beside the field.
type FieldError struct {
	Field, Problem string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Problem }

// Unwrap makes every FieldError an ErrBadHours.
func (e *FieldError) Unwrap() error { return ErrBadHours }

// days are the week's day names, Sunday first as time.Weekday counts.
var days = [7]string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// Schedule is Hours checked and ready to answer "working at t?" and "when does that change?".
type Schedule struct {
	hours    Hours
	loc      *time.Location
	week     [7][]span // by time.Weekday
	holidays map[date]bool
}

// span is a working span of a day, in minutes since midnight: from < to ≤ 24*60.
type span struct{ from, to int }

// date is a calendar day.
type date struct {
	y int
	m time.Month
	d int
}

func dateOf(t time.Time) date { return date{t.Year(), t.Month(), t.Day()} }

// Compile checks h and returns its Schedule; a problem is a *FieldError naming the field.
func (h Hours) Compile() (*Schedule, error) {
	if h.TimeZone == "" {
		return nil, &FieldError{"time_zone", "missing (an IANA zone such as Europe/Berlin or UTC)"}
	}
	loc, err := time.LoadLocation(h.TimeZone)
	if err != nil || strings.HasPrefix(h.TimeZone, "/") {
		return nil, &FieldError{"time_zone", fmt.Sprintf("unknown time zone %q", h.TimeZone)}
	}
	s := &Schedule{hours: h, loc: loc, holidays: map[date]bool{}}
	working := false
	for name, spans := range h.Week {
		d := slices.Index(days[:], name)
		if d < 0 {
			return nil, &FieldError{"week." + name, "not a day (mon, tue, wed, thu, fri, sat, sun)"}
		}
		for j, text := range spans {
			field := fmt.Sprintf("week.%s[%d]", name, j)
			sp, err := parseSpan(text)
			if err != nil {
				return nil, &FieldError{field, err.Error()}
			}
			if j > 0 {
				prev := s.week[d][j-1]
				if sp.from < prev.to {
					return nil, &FieldError{field, fmt.Sprintf("%s overlaps or comes before %s", text, spans[j-1])}
				}
			}
			s.week[d] = append(s.week[d], sp)
			working = true
		}
	}
	if !working {
		return nil, &FieldError{"week", "no working hours on any day"}
	}
	if len(h.Holidays) > maxHolidays {
		return nil, &FieldError{"holidays", fmt.Sprintf("%d dates, at most %d", len(h.Holidays), maxHolidays)}
	}
	for j, text := range h.Holidays {
		d, err := time.Parse(time.DateOnly, text)
		if err != nil {
			return nil, &FieldError{fmt.Sprintf("holidays[%d]", j), fmt.Sprintf("%q is not a date (YYYY-MM-DD)", text)}
		}
		s.holidays[dateOf(d)] = true
	}
	return s, nil
}

// parseSpan reads "HH:MM-HH:MM".
func parseSpan(text string) (span, error) {
	a, b, ok := strings.Cut(text, "-")
	if !ok {
		return span{}, fmt.Errorf("%q is not a span HH:MM-HH:MM", text)
	}
	from, err := parseClock(strings.TrimSpace(a))
	if err != nil {
		return span{}, err
	}
	to, err := parseClock(strings.TrimSpace(b))
	if err != nil {
		return span{}, err
	}
	if from >= 24*60 || to <= from {
		return span{}, fmt.Errorf("%q ends before it starts (a span past midnight is two: one per day)", text)
	}
	return span{from, to}, nil
}

// parseClock reads "HH:MM" (00:00 to 24:00) as minutes since midnight.
func parseClock(text string) (int, error) {
	t, err := time.Parse("15:04", text)
	if err == nil && len(text) == 5 {
		return t.Hour()*60 + t.Minute(), nil
	}
	if text == "24:00" {
		return 24 * 60, nil
	}
	return 0, fmt.Errorf("%q is not a time of day HH:MM", text)
}

// Hours returns the hours the schedule was compiled from.
func (s *Schedule) Hours() Hours { return s.hours }

// Working reports whether t falls in working hours.
func (s *Schedule) Working(t time.Time) bool {
	lt := t.In(s.loc)
	if s.holidays[dateOf(lt)] {
		return false
	}
	sec := lt.Hour()*3600 + lt.Minute()*60 + lt.Second()
	for _, sp := range s.week[lt.Weekday()] {
		if sp.from*60 <= sec && sec < sp.to*60 {
			return true
		}
	}
	return false
}

// Next returns the first boundary after t, the moment Working changes; zero if it never does
// in the coming year (every day a holiday).
func (s *Schedule) Next(t time.Time) time.Time {
	lt := t.In(s.loc)
	day := time.Date(lt.Year(), lt.Month(), lt.Day(), 0, 0, 0, 0, s.loc)
	for range 400 {
		if !s.holidays[dateOf(day)] {
			for _, sp := range s.week[day.Weekday()] {
				for _, m := range [2]int{sp.from, sp.to} {
					b := time.Date(day.Year(), day.Month(), day.Day(), m/60, m%60, 0, 0, s.loc)
					if b.After(t) && s.Working(b) != s.Working(b.Add(-time.Second)) {
						return b
					}
				}
			}
		}
		// A holiday has no boundary of its own; one that follows a day worked until 24:00
		// starts with that day's "to", found on that day.
		day = time.Date(day.Year(), day.Month(), day.Day()+1, 0, 0, 0, 0, s.loc)
	}
	return time.Time{}
}
