package queuestats

import (
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/switchboard-voip/switchboard/history"
	"github.com/switchboard-voip/switchboard/internal/clock"
	"github.com/switchboard-voip/switchboard/internal/poll"
)

// zone is the switch's time zone in these tests: five hours behind UTC, so a local day and a
// UTC day differ and a test counting by the wrong one fails.
var zone = time.FixedZone("UTC-5", -5*3600)

// at is a local time of 25 November 2026 in zone.
func at(h, m, s int) time.Time { return time.Date(2026, 11, 25, h, m, s, 0, zone) }

// rec is a queue call that came in at start and waited wait.
func rec(id, via string, o history.Outcome, start time.Time, wait time.Duration, by string) history.Record {
	return history.Record{ID: id, Started: start.UTC(), Ended: start.Add(wait + time.Minute).UTC(), From: "15550001",
		To: via, Via: via, Outcome: o, HeldMS: wait.Milliseconds(), AnsweredBy: by}
}

func newToday(t *testing.T, now time.Time, changes *atomic.Int32) (*Today, *clock.Fake) {
	t.Helper()
	fake := clock.NewFake(now)
	today := New(Options{Queues: []string{"700", "701"}, Clock: fake, Location: zone,
		OnChange: func() { changes.Add(1) }})
	t.Cleanup(today.Close)
	return today, fake
}

// TestTodayCountsOutcomesServiceLevelAndSlots: answered calls within and over 20 s, long and
// short abandons and a call that went to the fallback make the day's figures; the service
// level is answered within 20 s over everything but short abandons; each call lands in the
// 15-minute slot it came in; calls through a group, feature codes and another queue's calls
// are apart.
func TestTodayCountsOutcomesServiceLevelAndSlots(t *testing.T) {
	var changes atomic.Int32
	today, _ := newToday(t, at(16, 0, 0), &changes)

	if d := today.Queue("700"); d.Offered() != 0 || d.Date != "2026-11-25" {
		t.Fatalf("empty day: %+v", d)
	}
	if _, ok := today.Queue("700").ServiceLevel(); ok {
		t.Error("a service level with no calls yet, want none")
	}
	for _, r := range []history.Record{
		rec("a1", "700", history.Answered, at(0, 0, 0), 20*time.Second, "1002"), // 20 s: in time
		rec("a2", "700", history.Answered, at(9, 14, 59), 3*time.Second, "1003"),
		rec("a3", "700", history.Answered, at(9, 15, 0), 21*time.Second, "1002"), // late
		rec("b1", "700", history.Abandoned, at(9, 20, 0), 40*time.Second, ""),
		rec("b2", "700", history.Abandoned, at(9, 29, 0), 4999*time.Millisecond, ""), // short
		rec("v1", "700", history.Voicemail, at(23, 59, 59), 5*time.Minute, ""),
		rec("o1", "701", history.Answered, at(10, 0, 0), time.Second, "1004"),
		rec("g1", "600", history.Answered, at(10, 0, 0), 0, "1001"), // a group, not counted
		{ID: "f1", Started: at(10, 0, 0), To: "*78", Outcome: history.Feature, Via: "700"},
	} {
		today.Add(r)
	}
	today.Add(rec("a1", "700", history.Answered, at(0, 0, 0), 20*time.Second, "1002")) // again: once

	d := today.Queue("700")
	if d.Answered != 3 || d.AnsweredInTime != 2 || d.Abandoned != 2 || d.ShortAbandoned != 1 || d.Unanswered != 1 {
		t.Errorf("700: %+v, want 3 answered (2 in time), 2 abandoned (1 short), 1 unanswered", d)
	}
	if d.Offered() != 6 {
		t.Errorf("offered %d, want 6", d.Offered())
	}
	sl, ok := d.ServiceLevel()
	if want := 2.0 / 5.0; !ok || sl != want {
		t.Errorf("service level %v (%v), want %v: 2 in time of 3 answered + 1 long abandon + 1 unanswered", sl, ok, want)
	}
	if d.AnsweredBy["1002"] != 2 || d.AnsweredBy["1003"] != 1 || len(d.AnsweredBy) != 2 {
		t.Errorf("answered by %v", d.AnsweredBy)
	}
	if got, want := d.AverageWait(), (44*time.Second)/3/time.Millisecond*time.Millisecond; got != want {
		t.Errorf("average wait %v, want %v", got, want)
	}
	want := map[int]int{0: 1, 36: 1, 37: 3, 95: 1}
	for i, n := range d.Slots {
		if n != want[i] {
			t.Errorf("slot %d (%02d:%02d) = %d, want %d", i, i/4, i%4*15, n, want[i])
		}
	}
	if o := today.Queue("701"); o.Answered != 1 || o.Offered() != 1 || o.Slots[40] != 1 {
		t.Errorf("701: %+v, want its one call", o)
	}
	if g := today.Queue("600"); g.Offered() != 0 {
		t.Errorf("a group's call was counted: %+v", g)
	}
	if n := changes.Load(); n != 7 {
		t.Errorf("OnChange told %d times, want 7 (once per record counted)", n)
	}
}

// TestTodayTurnsOverAtLocalMidnight: at the switch's midnight the figures go back to zero and
// OnChange is told, with no call needed; a call that came in yesterday and ends after midnight
// is yesterday's, not today's.
func TestTodayTurnsOverAtLocalMidnight(t *testing.T) {
	var changes atomic.Int32
	today, fake := newToday(t, at(23, 50, 0), &changes)
	today.Add(rec("a1", "700", history.Answered, at(23, 45, 0), time.Second, "1002"))
	if d := today.Queue("700"); d.Answered != 1 || d.Slots[95] != 1 {
		t.Fatalf("before midnight: %+v", d)
	}

	fake.Advance(9*time.Minute + 59*time.Second) // 23:59:59
	if d := today.Queue("700"); d.Answered != 1 {
		t.Fatalf("a second before midnight the day was reset: %+v", d)
	}
	told := changes.Load()
	fake.Advance(time.Second) // midnight
	poll.Require(t, 2*time.Second, "OnChange told at midnight", func() bool { return changes.Load() > told })
	d := today.Queue("700")
	if d.Date != "2026-11-26" || d.Offered() != 0 || d.Slots[95] != 0 {
		t.Fatalf("after midnight: %+v, want an empty 2026-11-26", d)
	}

	today.Add(rec("late", "700", history.Abandoned, at(23, 59, 0), 2*time.Minute, ""))
	today.Add(rec("new", "700", history.Answered, at(23, 59, 0).Add(2*time.Minute), time.Second, "1003"))
	if d := today.Queue("700"); d.Abandoned != 0 || d.Answered != 1 || d.Slots[0] != 1 {
		t.Errorf("after midnight: %+v, want only the call that came in after it", d)
	}

	// The next midnight turns it over again: the timer is set each day.
	told = changes.Load()
	fake.Advance(24 * time.Hour)
	poll.Require(t, 2*time.Second, "OnChange told at the next midnight", func() bool { return changes.Load() > told })
	if d := today.Queue("700"); d.Date != "2026-11-27" || d.Offered() != 0 {
		t.Errorf("a day later: %+v", d)
	}
}

// TestTodayLoadsTodaysRecordsFromHistory: at start the figures come from the history store:
// today's queue calls count, yesterday's do not, and a record that is both read at start and
// told by OnAdd (stored while Load runs) counts once.
func TestTodayLoadsTodaysRecordsFromHistory(t *testing.T) {
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "db"), 0o600, &bbolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	store, err := history.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	add := func(r history.Record) history.Record {
		t.Helper()
		r.ID = "" // the store's own ids: they sort in the order added, as calls end
		got, err := store.Add(r)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	yesterday := at(20, 0, 0).AddDate(0, 0, -1)
	for i := range 3 {
		add(rec("", "700", history.Answered, yesterday.Add(time.Duration(i)*time.Hour), time.Second, "1002"))
	}
	loadPage = 4 // so that Load reads several pages
	t.Cleanup(func() { loadPage = 500 })
	for i := range 11 {
		add(rec("", "700", history.Abandoned, at(8, 14, 55).Add(time.Duration(i)*time.Second), time.Minute, ""))
	}
	last := add(rec("", "700", history.Answered, at(9, 0, 0), 10*time.Second, "1003"))
	add(rec("", "701", history.Voicemail, at(9, 0, 0), time.Minute, ""))

	var changes atomic.Int32
	today, _ := newToday(t, at(12, 0, 0), &changes)
	store.OnAdd(today.Add)
	today.Add(last) // as if told while Load reads it too
	if err := today.Load(store); err != nil {
		t.Fatal(err)
	}
	d := today.Queue("700")
	if d.Answered != 1 || d.Abandoned != 11 || d.Unanswered != 0 {
		t.Errorf("700 loaded: answered %d abandoned %d unanswered %d, want 1, 11, 0", d.Answered, d.Abandoned, d.Unanswered)
	}
	if d.Slots[32] != 5 || d.Slots[33] != 6 || d.Slots[36] != 1 {
		t.Errorf("slots 08:00 %d, 08:15 %d, 09:00 %d; want 5, 6, 1", d.Slots[32], d.Slots[33], d.Slots[36])
	}
	if o := today.Queue("701"); o.Unanswered != 1 {
		t.Errorf("701 loaded: %+v", o)
	}

	add(rec("", "700", history.Answered, at(11, 59, 0), 2*time.Second, "1002")) // through OnAdd
	if d := today.Queue("700"); d.Answered != 2 {
		t.Errorf("after a call stored: answered %d, want 2", d.Answered)
	}
}

// A queue added to the directory while the switch runs is counted from then on, and still after
// midnight; one removed keeps what it had until midnight.
func TestSetQueuesCountsANewQueue(t *testing.T) {
	var changes atomic.Int32
	today, fake := newToday(t, at(16, 0, 0), &changes)
	today.Add(rec("n1", "702", history.Answered, at(15, 0, 0), time.Second, "1002"))
	if d := today.Queue("702"); d.Answered != 0 {
		t.Fatalf("702 before it is a queue: %+v", d)
	}
	today.SetQueues([]string{"700", "702"})
	today.Add(rec("n2", "702", history.Answered, at(15, 30, 0), time.Second, "1002"))
	today.Add(rec("o1", "701", history.Answered, at(15, 30, 0), time.Second, "1004"))
	if d := today.Queue("702"); d.Answered != 1 {
		t.Errorf("702 once a queue: %+v, want its call counted", d)
	}
	if d := today.Queue("701"); d.Answered != 1 {
		t.Errorf("701, taken out today: %+v, want what it had kept", d)
	}
	fake.Advance(9 * time.Hour) // the next day
	today.Add(rec("n3", "702", history.Answered, at(16, 0, 0).Add(9*time.Hour), time.Second, "1002"))
	if d := today.Queue("702"); d.Answered != 1 {
		t.Errorf("702 the next day: %+v, want its new call counted", d)
	}
	if d := today.Queue("701"); d.Offered() != 0 {
		t.Errorf("701 the next day: %+v, want nothing", d)
	}
}
