package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/switchboard-voip/switchboard/history"
)

// historyEnv is an env whose server has a real history.Store.
type historyEnv struct {
	*env
	hist *history.Store
}

func newHistoryEnv(t *testing.T) *historyEnv {
	t.Helper()
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "history.db"), 0o600, &bbolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	hist, err := history.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(o *Options) { o.History = hist })
	return &historyEnv{env: e, hist: hist}
}

// add stores records concurrently (the store batches concurrent Adds) and
// returns them as stored, in the order of their ids, oldest first.
func (e *historyEnv) add(t *testing.T, rs ...history.Record) []history.Record {
	t.Helper()
	out := make([]history.Record, len(rs))
	var wg sync.WaitGroup
	for i, r := range rs {
		wg.Go(func() {
			got, err := e.hist.Add(r)
			if err != nil {
				t.Error(err)
			}
			out[i] = got
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	slices.SortFunc(out, func(a, b history.Record) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// page gets one page of history as ext and returns its records' ids and
// the next-page cursor.
func (e *historyEnv) page(t *testing.T, ext, query string) (ids []string, next string) {
	t.Helper()
	got := e.call(t, request{path: "/api/v1/history" + query, ext: ext}, http.StatusOK)
	var list []struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(got.body, &list); err != nil {
		t.Fatalf("%s: %v", got.body, err)
	}
	ids = []string{}
	for _, r := range list {
		ids = append(ids, r.ID)
	}
	return ids, got.header.Get("X-Next-Before")
}

// pages walks every page as ext, limit at a time.
func (e *historyEnv) pages(t *testing.T, ext, filter string, limit int) []string {
	t.Helper()
	var all []string
	before := ""
	for range 1000 {
		q := url.Values{"limit": {fmt.Sprint(limit)}}
		if before != "" {
			q.Set("before", before)
		}
		if filter != "" {
			q.Set("ext", filter)
		}
		ids, next := e.page(t, ext, "?"+q.Encode())
		all = append(all, ids...)
		if next == "" {
			if len(ids) > limit {
				t.Fatalf("last page of %d, limit %d", len(ids), limit)
			}
			return all
		}
		if len(ids) != limit || next != ids[len(ids)-1] {
			t.Fatalf("page of %d with cursor %q, want %d records and the last one's id", len(ids), next, limit)
		}
		before = next
	}
	t.Fatal("paging does not end")
	return nil
}

// newest returns the ids of rs, newest first, keeping those keep accepts.
func newest(rs []history.Record, keep func(history.Record) bool) []string {
	out := []string{}
	for _, r := range slices.Backward(rs) {
		if keep(r) {
			out = append(out, r.ID)
		}
	}
	return out
}

func involves(ext string) func(history.Record) bool {
	return func(r history.Record) bool {
		return r.From == ext || r.To == ext || r.AnsweredBy == ext || r.Via == ext
	}
}

func TestHistoryOwnCallsForUsersAllForAdmin(t *testing.T) {
	e := newHistoryEnv(t)
	recs := e.add(t,
		history.Record{From: "1002", To: "1003", Outcome: history.Answered, AnsweredBy: "1003"},
		history.Record{From: "15551230000", To: "700", Via: "700", AnsweredBy: "1002", Outcome: history.Answered},
		history.Record{From: "1003", To: "1004", Outcome: history.Voicemail, Voicemail: "1004"},
		history.Record{From: "1001", To: "*78", Outcome: history.Feature},
		history.Record{From: "1004", To: "600", Via: "600", Outcome: history.Abandoned},
	)
	all := func(history.Record) bool { return true }
	for _, c := range []struct {
		who, query string
		want       []string
	}{
		{"1002", "", newest(recs, involves("1002"))},
		{"1002", "?ext=1002", newest(recs, involves("1002"))},
		{"1003", "", newest(recs, involves("1003"))},
		{"1004", "", newest(recs, involves("1004"))},
		{"1001", "", newest(recs, all)},
		{"1001", "?ext=1003", newest(recs, involves("1003"))},
		{"1001", "?ext=15551230000", newest(recs, involves("15551230000"))},
		{"1001", "?ext=700", newest(recs, involves("700"))},
		{"1001", "?ext=1005", []string{}},
	} {
		if got, _ := e.page(t, c.who, c.query); !slices.Equal(got, c.want) {
			t.Errorf("%s GET %s: %v, want %v", c.who, c.query, got, c.want)
		}
	}
	if n := len(newest(recs, involves("1002"))); n != 2 {
		t.Fatalf("test data: 1002 is in %d calls, want 2", n)
	}
	e.call(t, request{path: "/api/v1/history?ext=1003", ext: "1002"}, http.StatusForbidden)
	e.call(t, request{path: "/api/v1/history", noAuth: true}, http.StatusUnauthorized)
	e.call(t, request{path: "/api/v1/history", ext: "1002", password: "wrong"}, http.StatusUnauthorized)
}

func TestHistoryPagesWithNextBeforeHeader(t *testing.T) {
	e := newHistoryEnv(t)
	var rs []history.Record
	for i := range 23 {
		from := "1002"
		if i%4 == 0 {
			from = "1003"
		}
		rs = append(rs, history.Record{From: from, To: fmt.Sprint(2000 + i), Outcome: history.Missed})
	}
	recs := e.add(t, rs...)
	for _, limit := range []int{1, 5, 11, 22, 23, 24, 500} {
		if got, want := e.pages(t, "1001", "", limit), newest(recs, func(history.Record) bool { return true }); !slices.Equal(got, want) {
			t.Errorf("admin, pages of %d: %v, want %v", limit, got, want)
		}
		if got, want := e.pages(t, "1002", "", limit), newest(recs, involves("1002")); !slices.Equal(got, want) {
			t.Errorf("1002, pages of %d: %v, want %v", limit, got, want)
		}
		if got, want := e.pages(t, "1001", "1003", limit), newest(recs, involves("1003")); !slices.Equal(got, want) {
			t.Errorf("admin ext=1003, pages of %d: %v, want %v", limit, got, want)
		}
	}

	// A call ending between pages shows on the first page, not the next.
	first, next := e.page(t, "1001", "?limit=5")
	late := e.add(t, history.Record{From: "1002", To: "1003", Outcome: history.Missed})[0]
	second, _ := e.page(t, "1001", "?limit=5&before="+next)
	if want := newest(recs, func(history.Record) bool { return true })[5:10]; !slices.Equal(second, want) || slices.Contains(first, late.ID) {
		t.Errorf("second page %v, want %v", second, want)
	}
}

func TestHistoryDefaultAndMaximumLimit(t *testing.T) {
	e := newHistoryEnv(t)
	rs := make([]history.Record, 60)
	for i := range rs {
		rs[i] = history.Record{From: "1002", To: "1003", Outcome: history.Missed}
	}
	recs := e.add(t, rs...)
	ids, next := e.page(t, "1001", "")
	if len(ids) != 50 || next != recs[10].ID {
		t.Errorf("no limit: %d records, next %q; want 50 and %q", len(ids), next, recs[10].ID)
	}
	ids, next = e.page(t, "1002", "?limit=500")
	if len(ids) != 60 || next != "" {
		t.Errorf("limit=500: %d records, next %q; want 60 and none", len(ids), next)
	}
	if _, next = e.page(t, "1002", "?limit=60"); next != "" {
		t.Errorf("limit equal to the count: next %q, want none", next)
	}
}

func TestHistoryBadQueriesAre400(t *testing.T) {
	e := newHistoryEnv(t)
	e.add(t, history.Record{From: "1002", To: "1003", Outcome: history.Missed})
	for _, q := range []string{
		"limit=0", "limit=-1", "limit=501", "limit=abc", "limit=1.5", "limit=%201",
		"before=..%2Fx", "before=a%20b", "before=" + strings.Repeat("1", 65),
		"ext=1%00", "ext=" + strings.Repeat("1", 129),
	} {
		e.call(t, request{path: "/api/v1/history?" + q, ext: "1001"}, http.StatusBadRequest)
		if !strings.HasPrefix(q, "ext=") { // a user's other ext is 403
			e.call(t, request{path: "/api/v1/history?" + q, ext: "1002"}, http.StatusBadRequest)
		}
	}
	// A well-formed cursor naming no record is fine: it pages from
	// where it sorts.
	if ids, _ := e.page(t, "1002", "?before=0"); len(ids) != 0 {
		t.Errorf("before=0: %v, want nothing", ids)
	}
	if ids, _ := e.page(t, "1002", "?before=z"); len(ids) != 1 {
		t.Errorf("before=z: %v, want the one record", ids)
	}
	e.call(t, request{method: http.MethodPost, path: "/api/v1/history", ext: "1002"}, http.StatusMethodNotAllowed)
}

func TestHistoryJSONFields(t *testing.T) {
	e := newHistoryEnv(t)
	started := time.Date(2026, 11, 25, 8, 0, 0, 0, time.FixedZone("CET", 3600))
	full := e.add(t, history.Record{
		Started: started, Ended: started.Add(90 * time.Second),
		From: "15551230000", To: "700", Outcome: history.Answered, AnsweredBy: "1002",
		Voicemail: "1002", HeldMS: 20_000, TalkMS: 70_000, Code: 200, Via: "700",
		Trace: []string{"queue 700", "offered to 1002"},
	})[0]
	bare := e.add(t, history.Record{Started: started, Ended: started, From: "1002", To: "1009", Outcome: history.Rejected})[0]

	got := e.call(t, request{path: "/api/v1/history", ext: "1002"}, http.StatusOK)
	if ct := got.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	var list []map[string]any
	if err := json.Unmarshal(got.body, &list); err != nil || len(list) != 2 {
		t.Fatalf("%s: %v, want two records", got.body, err)
	}
	want := []string{"answered_by", "code", "ended", "from", "held_ms", "id", "outcome", "started", "talk_ms", "to", "trace", "via", "voicemail"}
	if keys := slices.Sorted(maps.Keys(list[1])); !slices.Equal(keys, want) {
		t.Errorf("full record has fields %v, want %v", keys, want)
	}
	wantBare := []string{"ended", "from", "id", "outcome", "started", "to"}
	if keys := slices.Sorted(maps.Keys(list[0])); !slices.Equal(keys, wantBare) {
		t.Errorf("bare record has fields %v, want %v", keys, wantBare)
	}
	r := list[1]
	if r["id"] != full.ID || r["from"] != "15551230000" || r["to"] != "700" || r["outcome"] != "answered" ||
		r["answered_by"] != "1002" || r["voicemail"] != "1002" || r["held_ms"] != 20000.0 ||
		r["talk_ms"] != 70000.0 || r["code"] != 200.0 || r["via"] != "700" ||
		fmt.Sprint(r["trace"]) != "[queue 700 offered to 1002]" {
		t.Errorf("full record %v", r)
	}
	if r["started"] != "2026-11-25T07:00:00Z" || r["ended"] != "2026-11-25T07:01:30Z" {
		t.Errorf("times %v – %v, want UTC RFC 3339", r["started"], r["ended"])
	}
	if list[0]["id"] != bare.ID || list[0]["outcome"] != "rejected" {
		t.Errorf("bare record %v", list[0])
	}

	empty := e.call(t, request{path: "/api/v1/history", ext: "1004"}, http.StatusOK)
	if s := strings.TrimSpace(string(empty.body)); s != "[]" {
		t.Errorf("no calls listed as %q, want []", s)
	}
}

// failingHistory fails every List.
type failingHistory struct{}

func (failingHistory) List(string, int, string) ([]history.Record, error) {
	return nil, errors.New("disk on fire")
}

func TestHistoryStoreFailureIs500(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.History = failingHistory{} })
	got := e.call(t, request{path: "/api/v1/history", ext: "1002"}, http.StatusInternalServerError)
	if strings.Contains(string(got.body), "fire") {
		t.Errorf("detail leaked to the client: %s", got.body)
	}
	if n := e.logs.FilterField(zapString("path", "/api/v1/history")).FilterMessage("http request failed").Len(); n != 1 {
		t.Errorf("%d error lines logged, want 1", n)
	}
}

func TestHistoryRouteAbsentWithoutStore(t *testing.T) {
	e := newEnv(t)
	e.call(t, request{path: "/api/v1/history", ext: "1001"}, http.StatusNotFound)
}
