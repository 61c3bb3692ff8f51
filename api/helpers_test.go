package api

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/switchboard-voip/switchboard/media/mailbox"
	"github.com/switchboard-voip/switchboard/presence"
)

// testUser is an account of testUsers.
type testUser struct {
	password string
	admin    bool
}

// testUsers implements Users from a map, as the config does.
type testUsers map[string]testUser

func (u testUsers) Check(ext, password string) (ok, admin bool) {
	user, found := u[ext]
	if !PasswordsEqual(user.password, password) || !found {
		return false, false
	}
	return true, user.admin
}

func (u testUsers) Exists(ext string) bool {
	_, ok := u[ext]
	return ok
}

// users: 1001 is the admin; 1004 never gets voicemail.
var users = testUsers{
	"1001": {password: "alice-secret", admin: true},
	"1002": {password: "bob-secret"},
	"1003": {password: "carol-secret"},
	"1004": {password: "dave-secret"},
}

// names are the users' names in the presence table, in configured order.
var names = []presence.User{
	{Ext: "1001", Name: "Alice"}, {Ext: "1002", Name: "Bob"}, {Ext: "1003", Name: "Carol"}, {Ext: "1004", Name: "Dave"},
}

// fakeStats implements Stats with fixed figures.
type fakeStats struct {
	calls, registrations, subscriptions, ports int
	refused                                    uint64
}

func (f fakeStats) ActiveCalls() int     { return f.calls }
func (f fakeStats) Registrations() int   { return f.registrations }
func (f fakeStats) Subscriptions() int   { return f.subscriptions }
func (f fakeStats) MediaPortsInUse() int { return f.ports }
func (f fakeStats) CallsRefused() uint64 { return f.refused }

// env is a Server on a real mailbox.Store and a real presence.Table (on a
// presence.MemoryStore), served over HTTP.
type env struct {
	store  *mailbox.Store
	table  *presence.Table
	pstore *presence.MemoryStore
	api    *Server
	srv    *httptest.Server
	logs   *observer.ObservedLogs
}

// newEnv starts a server; edit may change its options (e.g. wrap the
// voicemail store) before New.
func newEnv(t testing.TB, edit ...func(*Options)) *env {
	t.Helper()
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "db"), 0o600, &bbolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	store, err := mailbox.Open(db, filepath.Join(t.TempDir(), "voicemail"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })

	pstore := &presence.MemoryStore{}
	table, err := presence.NewTable(names, pstore, presence.WithHours(pstore))
	if err != nil {
		t.Fatal(err)
	}

	core, logs := observer.New(zapcore.DebugLevel)
	o := Options{
		Users:     users,
		Voicemail: store,
		Presence:  table,
		Stats:     fakeStats{calls: 3, registrations: 7, subscriptions: 2, ports: 4, refused: 9},
		Logger:    zap.New(core),
	}
	for _, f := range edit {
		f(&o)
	}
	a := New(o)
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)
	return &env{store: store, table: table, pstore: pstore, api: a, srv: srv, logs: logs}
}

// leave records a message of n samples (8 kHz) in box and returns it with
// the samples written.
func (e *env) leave(t *testing.T, box, from, fromName string, n int) (mailbox.Message, []int16) {
	t.Helper()
	rec, err := e.store.Record(box, from, fromName)
	if err != nil {
		t.Fatal(err)
	}
	samples := make([]int16, n)
	for i := range samples {
		samples[i] = int16(i*31 + len(from))
	}
	for rest := samples; len(rest) > 0; {
		k := min(160, len(rest)) // 20 ms frames, as a call writes
		if err := rec.Write(rest[:k]); err != nil {
			t.Fatal(err)
		}
		rest = rest[k:]
	}
	m, err := rec.Commit(0)
	if err != nil {
		t.Fatal(err)
	}
	return m, samples
}

// request describes one API call. By default it authenticates as ext with
// the right password; noAuth sends no credentials, password overrides it.
type request struct {
	method, path, body string
	ext, password      string
	noAuth             bool
	header             map[string]string
}

// response is what came back.
type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends r and checks the rules every response follows: an error status
// comes with a JSON {"error": "..."} body (and "field" naming a bad field),
// and a 401 with the Basic challenge.
func (e *env) do(t *testing.T, r request) response {
	t.Helper()
	if r.method == "" {
		r.method = http.MethodGet
	}
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	req, err := http.NewRequest(r.method, e.srv.URL+r.path, body)
	if err != nil {
		t.Fatal(err)
	}
	if !r.noAuth {
		pw := r.password
		if pw == "" {
			pw = users[r.ext].password
		}
		req.SetBasicAuth(r.ext, pw)
	}
	for k, v := range r.header {
		req.Header.Set(k, v)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	got := response{status: resp.StatusCode, header: resp.Header, body: b}
	if got.status >= 400 {
		wantErrorBody(t, r, got)
	}
	return got
}

// wantErrorBody checks that an error response is JSON with an "error".
func wantErrorBody(t *testing.T, r request, got response) {
	t.Helper()
	if ct := got.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s %s: %d with Content-Type %q, want application/json", r.method, r.path, got.status, ct)
	}
	var eb map[string]any
	if err := json.Unmarshal(got.body, &eb); err != nil {
		t.Errorf("%s %s: %d with a body that is not JSON: %q", r.method, r.path, got.status, got.body)
		return
	}
	field, hasField := eb["field"].(string)
	if msg, ok := eb["error"].(string); !ok || msg == "" || len(eb) != 1 && !(len(eb) == 2 && hasField && field != "") {
		t.Errorf("%s %s: %d with body %s, want only a non-empty \"error\" (and a \"field\")", r.method, r.path, got.status, got.body)
	}
	if got.status == http.StatusUnauthorized {
		if c := got.header.Get("WWW-Authenticate"); c != `Basic realm="switchboard"` {
			t.Errorf("%s %s: 401 with WWW-Authenticate %q", r.method, r.path, c)
		}
	}
}

// wantStatus fails the test unless got has status want.
func wantStatus(t *testing.T, r request, got response, want int) {
	t.Helper()
	if got.status != want {
		t.Fatalf("%s %s as %q: status %d (%s), want %d", r.method, r.path, r.ext, got.status, got.body, want)
	}
}

// call does r and requires status want.
func (e *env) call(t *testing.T, r request, want int) response {
	t.Helper()
	got := e.do(t, r)
	wantStatus(t, r, got, want)
	return got
}

// zapString is a zap string field, to filter observed logs.
func zapString(key, value string) zapcore.Field { return zap.String(key, value) }
