package history

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

// openDB opens (or reopens) the bbolt file at path and closes it at the end
// of the test; closing it earlier is fine.
func openDB(t testing.TB, path string) *bbolt.DB {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// env is a store on a fresh DB file; path allows reopening it.
type env struct {
	path string
	db   *bbolt.DB
	s    *Store
}

func newEnv(t testing.TB, opts ...Option) *env {
	t.Helper()
	e := &env{path: filepath.Join(t.TempDir(), "switchboard.db")}
	e.db = openDB(t, e.path)
	s, err := Open(e.db, opts...)
	if err != nil {
		t.Fatal(err)
	}
	e.s = s
	return e
}

// reopen simulates a restart: the DB is closed and opened again.
func (e *env) reopen(t testing.TB, opts ...Option) {
	t.Helper()
	if err := e.db.Close(); err != nil {
		t.Fatal(err)
	}
	e.db = openDB(t, e.path)
	s, err := Open(e.db, opts...)
	if err != nil {
		t.Fatal(err)
	}
	e.s = s
}

// add stores r and returns it as stored.
func (e *env) add(t testing.TB, r Record) Record {
	t.Helper()
	got, err := e.s.Add(r)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// call is a minimal valid record from one party to another.
func call(from, to string) Record {
	return Record{From: from, To: to, Outcome: Missed}
}

// list lists and fails the test on error.
func (e *env) list(t testing.TB, ext string, limit int, before string) []Record {
	t.Helper()
	got, err := e.s.List(ext, limit, before)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// all pages through ext's records n at a time and returns them in order.
func (e *env) all(t testing.TB, ext string, n int) []Record {
	t.Helper()
	var out []Record
	before := ""
	for {
		page := e.list(t, ext, n, before)
		if len(page) > n {
			t.Fatalf("page of %d records, limit %d", len(page), n)
		}
		out = append(out, page...)
		if len(page) < n {
			return out
		}
		before = page[len(page)-1].ID
	}
}

func ids(rs []Record) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}

// newestFirst returns the ids of rs in reverse order of adding.
func newestFirst(rs []Record) []string {
	out := ids(rs)
	slices.Reverse(out)
	return out
}

func TestAddAssignsIDAndListsNewestFirst(t *testing.T) {
	e := newEnv(t)
	start := time.Date(2026, 11, 25, 7, 45, 0, 0, time.FixedZone("CET", 3600))
	full := Record{
		Started: start, Ended: start.Add(95 * time.Second),
		From: "15551230000", To: "700", Outcome: Answered, AnsweredBy: "1003",
		HeldMS: 30_000, TalkMS: 65_000, Via: "700",
		Trace: []string{"queue 700: 1002 busy", "queue 700: offered to 1003"},
	}
	var added []Record
	for _, r := range []Record{call("1001", "1002"), full, {From: "1002", To: "*78", Outcome: Feature}} {
		added = append(added, e.add(t, r))
	}
	seen := map[string]bool{}
	for i, r := range added {
		if !ValidID(r.ID) || len(r.ID) != 28 || seen[r.ID] {
			t.Errorf("record %d: id %q, want a fresh 28-character id", i, r.ID)
		}
		seen[r.ID] = true
		if r.Ended.IsZero() || r.Ended.Location() != time.UTC {
			t.Errorf("record %d: ended %v, want a UTC time", i, r.Ended)
		}
	}
	got := e.list(t, "", 10, "")
	if want := newestFirst(added); !slices.Equal(ids(got), want) {
		t.Fatalf("listed %v, want %v", ids(got), want)
	}
	r := got[1]
	if !r.Started.Equal(full.Started) || !r.Ended.Equal(full.Ended) || r.Started.Location() != time.UTC {
		t.Errorf("times %v – %v, want %v – %v in UTC", r.Started, r.Ended, full.Started, full.Ended)
	}
	r.Started, r.Ended, r.ID = full.Started, full.Ended, ""
	if fmt.Sprint(r) != fmt.Sprint(full) {
		t.Errorf("stored %+v\nwant     %+v", r, full)
	}
}

func TestIDsIncreaseWhenClockStandsStillOrStepsBack(t *testing.T) {
	e := newEnv(t)
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	e.s.now = func() time.Time { return now }
	var added []Record
	for i := range 5 {
		if i == 3 {
			now = now.Add(-time.Hour)
		}
		added = append(added, e.add(t, call("1001", "1002")))
	}
	for i := 1; i < len(added); i++ {
		if added[i].ID <= added[i-1].ID {
			t.Errorf("id %d %q not after %q", i, added[i].ID, added[i-1].ID)
		}
	}
	if got := e.list(t, "", 10, ""); !slices.Equal(ids(got), newestFirst(added)) {
		t.Errorf("listed %v, want %v", ids(got), newestFirst(added))
	}
}

func TestPagingHasNoDuplicatesOrGaps(t *testing.T) {
	e := newEnv(t)
	var added, alice []Record
	for i := range 23 {
		r := call("1001", "1002")
		if i%3 == 0 {
			r = call("1003", "1004")
		}
		r = e.add(t, r)
		added = append(added, r)
		if r.From == "1001" {
			alice = append(alice, r)
		}
	}
	for _, n := range []int{1, 4, 5, 15, 23, 50} {
		if got := e.all(t, "", n); !slices.Equal(ids(got), newestFirst(added)) {
			t.Errorf("pages of %d: %v, want %v", n, ids(got), newestFirst(added))
		}
		if got := e.all(t, "1001", n); !slices.Equal(ids(got), newestFirst(alice)) {
			t.Errorf("1001's pages of %d: %v, want %v", n, ids(got), newestFirst(alice))
		}
	}

	// Calls ending while someone pages do not shift later pages.
	first := e.list(t, "1001", 5, "")
	e.add(t, call("1001", "1002"))
	second := e.list(t, "1001", 5, first[len(first)-1].ID)
	if want := newestFirst(alice)[5:10]; !slices.Equal(ids(second), want) {
		t.Errorf("second page after a new call: %v, want %v", ids(second), want)
	}

	// A cursor that names no record still pages from where it sorts.
	mid := added[10].ID
	gone := mid[:len(mid)-1] + "~" // '~' sorts after the hex digits; not ValidID
	if _, err := e.s.List("", 5, gone); !errors.Is(err, ErrInvalid) {
		t.Errorf("before %q: %v, want ErrInvalid", gone, err)
	}
	between := mid + "0"
	if got := e.list(t, "", 3, between); !slices.Equal(ids(got), newestFirst(added[8:11])) {
		t.Errorf("before %q: %v, want %v", between, ids(got), newestFirst(added[8:11]))
	}
	if got := e.list(t, "", 3, added[0].ID); len(got) != 0 {
		t.Errorf("before the oldest: %v, want nothing", ids(got))
	}
	if got := e.list(t, "1001", 3, "0"); len(got) != 0 {
		t.Errorf("before \"0\": %v, want nothing", ids(got))
	}
}

func TestListFiltersByEveryPartyField(t *testing.T) {
	e := newEnv(t)
	from := e.add(t, call("1001", "1002"))
	to := e.add(t, call("1003", "1001"))
	answered := e.add(t, Record{From: "15551230000", To: "600", Outcome: Answered, AnsweredBy: "1001", Via: "600"})
	via := e.add(t, Record{From: "1003", To: "700", Outcome: Abandoned, Via: "700"})
	self := e.add(t, Record{From: "1001", To: "1001", Outcome: Voicemail, Voicemail: "1001"})
	other := e.add(t, call("10011", "100")) // prefixes of and extensions of 1001
	last := e.add(t, call("1003", "1004"))

	cases := map[string][]Record{
		"1001":        {self, answered, to, from},
		"1002":        {from},
		"1003":        {last, via, to},
		"1004":        {last},
		"600":         {answered},
		"700":         {via},
		"15551230000": {answered},
		"100":         {other},
		"10011":       {other},
		"1005":        nil,
		"*97":         nil,
	}
	for ext, want := range cases {
		got := e.list(t, ext, 10, "")
		if w := ids(want); !slices.Equal(ids(got), w) {
			t.Errorf("%s: listed %v, want %v", ext, ids(got), w)
		}
		if got == nil {
			t.Errorf("%s: nil, want an empty slice", ext)
		}
	}
	// The box a message went to is not a party: a voicemail left for
	// 1002 by 1003 is 1003's and 1002's because To is 1002.
	vm := e.add(t, Record{From: "1003", To: "1002", Outcome: Voicemail, Voicemail: "1002"})
	if got := e.list(t, "1002", 1, ""); len(got) != 1 || got[0].ID != vm.ID {
		t.Errorf("1002's newest: %v, want %s", ids(got), vm.ID)
	}
}

func TestRetentionPrunesOldestWithTheirIndexEntries(t *testing.T) {
	e := newEnv(t, WithMaxRecords(5))
	var added []Record
	for i := range 12 {
		r := call("1001", fmt.Sprint(2000+i))
		if i%2 == 0 {
			r.AnsweredBy, r.Outcome = "1002", Answered
		}
		added = append(added, e.add(t, r))
	}
	kept := added[7:]
	if got := e.list(t, "", 100, ""); !slices.Equal(ids(got), newestFirst(kept)) {
		t.Errorf("kept %v, want the newest five %v", ids(got), newestFirst(kept))
	}
	if got := e.list(t, "1001", 100, ""); !slices.Equal(ids(got), newestFirst(kept)) {
		t.Errorf("1001 has %v, want %v", ids(got), newestFirst(kept))
	}
	if got := e.list(t, "2000", 100, ""); len(got) != 0 {
		t.Errorf("a pruned call's callee still lists %v", ids(got))
	}
	// Every index entry belongs to a kept record: 5 From, 5 To, and an
	// AnsweredBy for each even i among 7..11 (8 and 10).
	n, count := e.indexEntries(t)
	if n != 12 || count != 5 {
		t.Errorf("%d index entries and a count of %d, want 12 and 5", n, count)
	}

	// A lower limit after a restart is applied by the next Add.
	e.reopen(t, WithMaxRecords(2))
	last := e.add(t, call("1001", "1002"))
	if got, want := e.list(t, "", 100, ""), []string{last.ID, added[11].ID}; !slices.Equal(ids(got), want) {
		t.Errorf("after lowering the limit: %v, want %v", ids(got), want)
	}
	if _, count := e.indexEntries(t); count != 2 {
		t.Errorf("count %d, want 2", count)
	}
}

// indexEntries counts the index entries and reads the record count.
func (e *env) indexEntries(t testing.TB) (entries int, count uint64) {
	t.Helper()
	err := e.db.View(func(tx *bbolt.Tx) error {
		entries = tx.Bucket(indexBucket).Stats().KeyN
		count = readCount(tx)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return entries, count
}

func TestRecordsSurviveReopen(t *testing.T) {
	e := newEnv(t, WithMaxRecords(3))
	var added []Record
	for i := range 3 {
		added = append(added, e.add(t, call("1001", fmt.Sprint(1002+i))))
	}
	e.reopen(t, WithMaxRecords(3))
	if got := e.list(t, "", 10, ""); !slices.Equal(ids(got), newestFirst(added)) {
		t.Fatalf("after reopen: %v, want %v", ids(got), newestFirst(added))
	}
	if got := e.list(t, "1003", 10, ""); len(got) != 1 || got[0].ID != added[1].ID {
		t.Errorf("1003 after reopen: %v, want %s", ids(got), added[1].ID)
	}
	// The count survived too: one more Add prunes exactly one.
	added = append(added, e.add(t, call("1001", "1005")))
	if got := e.list(t, "", 10, ""); !slices.Equal(ids(got), newestFirst(added[1:])) {
		t.Errorf("after one more: %v, want %v", ids(got), newestFirst(added[1:]))
	}
	// Ids stay unique and ordered across the restart.
	if added[3].ID <= added[2].ID {
		t.Errorf("id after reopen %q not after %q", added[3].ID, added[2].ID)
	}
}

func TestOpenCountsRecordsStoredWithoutACount(t *testing.T) {
	e := newEnv(t, WithMaxRecords(3))
	for range 3 {
		e.add(t, call("1001", "1002"))
	}
	err := e.db.Update(func(tx *bbolt.Tx) error { return tx.Bucket(metaBucket).Delete(countKey) })
	if err != nil {
		t.Fatal(err)
	}
	e.reopen(t, WithMaxRecords(3))
	if _, count := e.indexEntries(t); count != 3 {
		t.Errorf("count %d after reopen, want 3", count)
	}
}

func TestConcurrentAdds(t *testing.T) {
	e := newEnv(t)
	const workers, each = 8, 25
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		got = map[string]Record{}
	)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				r, err := e.s.Add(Record{From: fmt.Sprint(1001 + w), To: "600", Outcome: Missed, Trace: []string{fmt.Sprint(i)}})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				got[r.ID] = r
				mu.Unlock()
			}
		})
	}
	// Readers run alongside.
	for range 2 {
		wg.Go(func() {
			for range 20 {
				if _, err := e.s.List("600", 10, ""); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if len(got) != workers*each {
		t.Fatalf("%d distinct ids, want %d", len(got), workers*each)
	}
	all := e.all(t, "", 17)
	if len(all) != workers*each {
		t.Fatalf("listed %d, want %d", len(all), workers*each)
	}
	if !slices.IsSortedFunc(all, func(a, b Record) int { return strings.Compare(b.ID, a.ID) }) {
		t.Error("not listed newest first")
	}
	for w := range workers {
		if n := len(e.all(t, fmt.Sprint(1001+w), 7)); n != each {
			t.Errorf("%d has %d records, want %d", 1001+w, n, each)
		}
	}
	if _, count := e.indexEntries(t); count != workers*each {
		t.Errorf("count %d, want %d", count, workers*each)
	}
}

func TestAddRejectsMalformedRecords(t *testing.T) {
	e := newEnv(t)
	now := time.Now()
	cases := map[string]Record{
		"no outcome":         {From: "1001", To: "1002"},
		"unknown outcome":    {From: "1001", To: "1002", Outcome: "busy"},
		"no to":              {From: "1001", Outcome: Missed},
		"NUL in from":        {From: "10\x0001", To: "1002", Outcome: Missed},
		"newline in via":     {From: "1001", To: "1002", Via: "6\n00", Outcome: Missed},
		"long answered_by":   {From: "1001", To: "1002", AnsweredBy: strings.Repeat("1", 129), Outcome: Answered},
		"ended before start": {From: "1001", To: "1002", Outcome: Missed, Started: now, Ended: now.Add(-time.Second)},
		"negative talk":      {From: "1001", To: "1002", Outcome: Answered, TalkMS: -1},
		"negative hold":      {From: "1001", To: "1002", Outcome: Answered, HeldMS: -1},
		"code 99":            {From: "1001", To: "1002", Outcome: Rejected, Code: 99},
		"code 700":           {From: "1001", To: "1002", Outcome: Rejected, Code: 700},
		"id with a slash":    {ID: "2026/x", From: "1001", To: "1002", Outcome: Missed},
	}
	for name, r := range cases {
		if _, err := e.s.Add(r); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	if got := e.list(t, "", 10, ""); len(got) != 0 {
		t.Errorf("stored %v", ids(got))
	}

	// No caller number is fine; a given id is kept and may not repeat.
	r := e.add(t, Record{ID: "custom-1", To: "1002", Outcome: Rejected, Code: 404})
	if r.ID != "custom-1" {
		t.Errorf("id %q, want custom-1", r.ID)
	}
	if _, err := e.s.Add(Record{ID: "custom-1", To: "1003", Outcome: Missed}); !errors.Is(err, ErrExists) {
		t.Errorf("repeated id: %v, want ErrExists", err)
	}
	if got := e.list(t, "1003", 10, ""); len(got) != 0 {
		t.Errorf("the refused record was indexed: %v", ids(got))
	}
}

func TestAddCutsLongTraces(t *testing.T) {
	e := newEnv(t)
	trace := make([]string, 100)
	for i := range trace {
		trace[i] = strings.Repeat("é", 300) // 600 bytes
	}
	r := e.add(t, Record{From: "1001", To: "1002", Outcome: Missed, Trace: trace})
	if len(r.Trace) != maxTrace {
		t.Fatalf("%d trace lines kept, want %d", len(r.Trace), maxTrace)
	}
	if l := r.Trace[0]; len(l) != maxTraceLen || l != strings.Repeat("é", 256) {
		t.Errorf("line cut to %d bytes, want %d on a rune boundary", len(l), maxTraceLen)
	}
	if len(trace[0]) != 600 {
		t.Error("the caller's trace was changed")
	}
}

func TestListRejectsBadArguments(t *testing.T) {
	e := newEnv(t)
	for name, args := range map[string]struct {
		ext    string
		limit  int
		before string
	}{
		"zero limit":     {"", 0, ""},
		"negative limit": {"1001", -1, ""},
		"bad before":     {"", 10, "../x"},
		"long before":    {"", 10, strings.Repeat("1", 65)},
		"NUL in ext":     {"1\x00", 10, ""},
	} {
		if _, err := e.s.List(args.ext, args.limit, args.before); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	if _, err := Open(e.db, WithMaxRecords(0)); !errors.Is(err, ErrInvalid) {
		t.Errorf("WithMaxRecords(0): %v, want ErrInvalid", err)
	}
}

// Calls end in time order, so records are appended: their pages must come out full, not at
// bbolt's default half (the file, and what the switch maps of it, would be twice the records).
func TestRecordsFillTheirPages(t *testing.T) {
	e := newEnv(t)
	e.db.NoSync = true     // the layout is the point, not the disk
	e.db.MaxBatchDelay = 0 // one Add at a time: no batch to wait for
	for i := range 600 {
		r := call("1001", fmt.Sprint(2000+i))
		r.Trace = []string{fmt.Sprintf("user %d: ring registered phones for 20s, then voicemail", 2000+i)}
		e.add(t, r)
	}
	var st bbolt.BucketStats
	if err := e.db.View(func(tx *bbolt.Tx) error {
		st = tx.Bucket(recordsBucket).Stats()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if used := float64(st.LeafInuse) / float64(st.LeafAlloc); st.LeafPageN < 10 || used < 0.75 {
		t.Errorf("records' leaf pages %d, %.0f %% used; want at least 10 pages at 75 %% or more", st.LeafPageN, used*100)
	}
}
