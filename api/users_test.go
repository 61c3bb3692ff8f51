package api

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// decodeUser decodes one user of /api/v1/users.
func decodeUser(t *testing.T, b []byte) userView {
	t.Helper()
	var u userView
	if err := json.Unmarshal(b, &u); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return u
}

// noSecrets fails if a response body holds a password or a digest hash.
func noSecrets(t *testing.T, b []byte, secrets ...string) {
	t.Helper()
	s := string(b)
	for _, bad := range append(secrets, "password", "ha1", "HA1") {
		if strings.Contains(s, bad) {
			t.Errorf("response holds %q: %s", bad, s)
		}
	}
}

// A user created by an admin is listed, without password or hash, and signs in at once.
func TestUsersCreateListAndSignIn(t *testing.T) {
	e, d := newDirEnv(t)
	body := `{"ext":"1005","name":"Erin","password":"erin-secret","screening":true,"no_answer_timeout":30,"groups":["600"],"queues":["700"]}`
	got := decodeUser(t, e.call(t, request{method: http.MethodPost, path: "/api/v1/users", body: body, ext: "1001"}, http.StatusCreated).body)
	want := userView{Ext: "1005", Name: "Erin", Voicemail: true, Screening: true, NoAnswerTimeout: 30,
		Groups: []string{"600"}, Queues: []string{"700"}}
	if !equalUsers(got, want) {
		t.Errorf("created %+v, want %+v", got, want)
	}
	list := e.call(t, request{path: "/api/v1/users", ext: "1001"}, http.StatusOK)
	noSecrets(t, list.body, "erin-secret", "alice-secret")
	var users []userView
	if err := json.Unmarshal(list.body, &users); err != nil || len(users) != 5 || !equalUsers(users[4], want) {
		t.Fatalf("listed %s (%v)", list.body, err)
	}
	if g, _ := d.Config().Group("600"); !slices.Contains(g.Members, "1005") {
		t.Errorf("group 600's members %v", g.Members)
	}
	// The new user signs in with the password given, and sees themself.
	me := e.call(t, request{path: "/api/v1/users/1005", ext: "1005", password: "erin-secret"}, http.StatusOK)
	noSecrets(t, me.body, "erin-secret")
	e.call(t, request{method: http.MethodPost, path: "/api/v1/session", body: `{"ext":"1005","password":"erin-secret"}`, noAuth: true}, http.StatusOK)
	// Defaults for what is left out.
	got = decodeUser(t, e.call(t, request{method: http.MethodPost, path: "/api/v1/users",
		body: `{"ext":"1006","name":"Finn","password":"finn-secret"}`, ext: "1001"}, http.StatusCreated).body)
	if got.NoAnswerTimeout != 20 || !got.Voicemail || got.Admin || len(got.Groups) != 0 {
		t.Errorf("defaults: %+v", got)
	}
}

func equalUsers(a, b userView) bool {
	return a.Ext == b.Ext && a.Name == b.Name && a.Admin == b.Admin && a.Voicemail == b.Voicemail &&
		a.Screening == b.Screening && a.NoAnswerTimeout == b.NoAnswerTimeout && a.SRTP == b.SRTP &&
		slices.Equal(a.Groups, b.Groups) && slices.Equal(a.Queues, b.Queues)
}

// Each bad new user is 400 naming the field, and changes nothing.
func TestUsersCreateFieldErrors(t *testing.T) {
	e, d := newDirEnv(t)
	before := d.Config()
	cases := map[string]struct{ body, field string }{
		"duplicate ext":     {`{"ext":"1002","name":"X","password":"long-enough"}`, "ext"},
		"ext of a group":    {`{"ext":"600","name":"X","password":"long-enough"}`, "ext"},
		"ext of a queue":    {`{"ext":"700","name":"X","password":"long-enough"}`, "ext"},
		"empty ext":         {`{"ext":"","name":"X","password":"long-enough"}`, "ext"},
		"letters in ext":    {`{"ext":"10a5","name":"X","password":"long-enough"}`, "ext"},
		"no password":       {`{"ext":"1005","name":"X"}`, "password"},
		"short password":    {`{"ext":"1005","name":"X","password":"short"}`, "password"},
		"no name":           {`{"ext":"1005","password":"long-enough"}`, "name"},
		"unknown group":     {`{"ext":"1005","name":"X","password":"long-enough","groups":["699"]}`, "groups[0]"},
		"unknown queue":     {`{"ext":"1005","name":"X","password":"long-enough","queues":["700","799"]}`, "queues[1]"},
		"bad srtp":          {`{"ext":"1005","name":"X","password":"long-enough","srtp":"maybe"}`, "srtp"},
		"negative timeout":  {`{"ext":"1005","name":"X","password":"long-enough","no_answer_timeout":-1}`, "no_answer_timeout"},
		"zero timeout":      {`{"ext":"1005","name":"X","password":"long-enough","no_answer_timeout":0}`, "no_answer_timeout"},
		"star ext":          {`{"ext":"*78","name":"X","password":"long-enough"}`, "ext"},
		"a group as member": {`{"ext":"1005","name":"X","password":"long-enough","groups":["700"]}`, "groups[0]"},
	}
	for name, c := range cases {
		got := e.call(t, request{method: http.MethodPost, path: "/api/v1/users", body: c.body, ext: "1001"}, http.StatusBadRequest)
		if f := fieldOf(t, got.body); f != c.field {
			t.Errorf("%s: field %q, want %q (%s)", name, f, c.field, got.body)
		}
	}
	if d.Config() != before {
		t.Error("a refused user changed the directory")
	}
}

// Malformed bodies and unknown fields are 400; unknown entries 404.
func TestDirectoryBadRequests(t *testing.T) {
	e, _ := newDirEnv(t)
	for _, r := range []request{
		{method: http.MethodPost, path: "/api/v1/users", body: `{"ext":`},
		{method: http.MethodPost, path: "/api/v1/users", body: `[1]`},
		{method: http.MethodPut, path: "/api/v1/users/1002", body: `{"name":`},
		{method: http.MethodPut, path: "/api/v1/groups/600", body: `not json`},
		{method: http.MethodPut, path: "/api/v1/queues/700", body: `{"members":"1002"}`},
		{method: http.MethodPost, path: "/api/v1/trunks", body: ``},
	} {
		r.ext = "1001"
		e.call(t, r, http.StatusBadRequest)
	}
	for _, r := range []request{
		{method: http.MethodPost, path: "/api/v1/users", body: `{"ext":"1005","name":"X","password":"long-enough","colour":"red"}`},
		{method: http.MethodPut, path: "/api/v1/users/1002", body: `{"ha1_md5":"00"}`},
		{method: http.MethodPut, path: "/api/v1/groups/600", body: `{"music":"x"}`},
		{method: http.MethodPut, path: "/api/v1/queues/700", body: `{"music_on_hold":"/etc/passwd"}`},
		{method: http.MethodPut, path: "/api/v1/trunks/carrier", body: `{"secret":"x"}`},
	} {
		r.ext = "1001"
		got := e.call(t, r, http.StatusBadRequest)
		var eb errorBody
		_ = json.Unmarshal(got.body, &eb)
		if !strings.Contains(eb.Error, "unknown field") {
			t.Errorf("%s %s: %s, want it to name the unknown field", r.method, r.path, got.body)
		}
	}
	for _, r := range []request{
		{path: "/api/v1/users/1999"},
		{method: http.MethodPut, path: "/api/v1/users/1999", body: `{}`},
		{method: http.MethodDelete, path: "/api/v1/users/1999"},
		{path: "/api/v1/groups/699"},
		{method: http.MethodPut, path: "/api/v1/groups/699", body: `{}`},
		{method: http.MethodDelete, path: "/api/v1/groups/699"},
		{path: "/api/v1/queues/799"},
		{method: http.MethodPut, path: "/api/v1/queues/799", body: `{}`},
		{method: http.MethodDelete, path: "/api/v1/queues/799"},
		{path: "/api/v1/trunks/nobody"},
		{method: http.MethodPut, path: "/api/v1/trunks/nobody", body: `{}`},
		{method: http.MethodDelete, path: "/api/v1/trunks/nobody"},
		{method: http.MethodPut, path: "/api/v1/users/1999/password", body: `{"password":"long-enough"}`},
	} {
		r.ext = "1001"
		e.call(t, r, http.StatusNotFound)
	}
}

// Every change to the directory is an admin's: 403 for anyone else, whatever the entry.
func TestDirectoryChangesAreForAdmins(t *testing.T) {
	e, d := newDirEnv(t)
	before := d.Config()
	for _, r := range []request{
		{path: "/api/v1/users"},
		{method: http.MethodPost, path: "/api/v1/users", body: `{"ext":"1005","name":"X","password":"long-enough"}`},
		{method: http.MethodPut, path: "/api/v1/users/1003", body: `{"screening":true}`},
		{method: http.MethodDelete, path: "/api/v1/users/1003"},
		{method: http.MethodDelete, path: "/api/v1/users/1002"},
		{path: "/api/v1/users/1003"},
		{method: http.MethodPut, path: "/api/v1/users/1003/password", body: `{"password":"long-enough"}`},
		{method: http.MethodPost, path: "/api/v1/groups", body: `{"ext":"601","name":"X","members":["1002"]}`},
		{method: http.MethodPut, path: "/api/v1/groups/600", body: `{"name":"X"}`},
		{method: http.MethodDelete, path: "/api/v1/groups/600"},
		{method: http.MethodPost, path: "/api/v1/queues", body: `{"ext":"701","name":"X","members":["1002"]}`},
		{method: http.MethodPut, path: "/api/v1/queues/700", body: `{"name":"X"}`},
		{method: http.MethodDelete, path: "/api/v1/queues/700"},
		{path: "/api/v1/trunks"},
		{path: "/api/v1/trunks/carrier"},
		{method: http.MethodPost, path: "/api/v1/trunks", body: `{"name":"x","allow":["198.51.100.1"]}`},
		{method: http.MethodPut, path: "/api/v1/trunks/carrier", body: `{"outbound":""}`},
		{method: http.MethodDelete, path: "/api/v1/trunks/carrier"},
	} {
		r.ext = "1002"
		e.call(t, r, http.StatusForbidden)
	}
	if d.Config() != before {
		t.Error("a refused request changed the directory")
	}
	// Groups and queues are the team's to read.
	e.call(t, request{path: "/api/v1/groups", ext: "1002"}, http.StatusOK)
	e.call(t, request{path: "/api/v1/groups/600", ext: "1002"}, http.StatusOK)
	e.call(t, request{path: "/api/v1/queues/700", ext: "1002"}, http.StatusOK)
	e.call(t, request{path: "/api/v1/queues?settings", ext: "1002"}, http.StatusOK)
}

// A user changes their own voicemail, screening and no-answer timeout, and nothing else.
func TestUsersOwnSettings(t *testing.T) {
	e, d := newDirEnv(t)
	got := decodeUser(t, e.call(t, request{method: http.MethodPut, path: "/api/v1/users/1002",
		body: `{"voicemail":false,"screening":true,"no_answer_timeout":12.5}`, ext: "1002"}, http.StatusOK).body)
	if got.Voicemail || !got.Screening || got.NoAnswerTimeout != 12.5 || got.Name != "Bob" || !slices.Equal(got.Groups, []string{"600"}) {
		t.Errorf("after own PUT: %+v", got)
	}
	if u, _ := d.Config().User("1002"); u.VoicemailEnabled() || !u.Screening {
		t.Errorf("directory: %+v", u)
	}
	for body, field := range map[string]string{
		`{"admin":true}`:                      "admin",
		`{"name":"Robert"}`:                   "name",
		`{"ext":"1009","password":"x"}`:       "ext",
		`{"groups":[]}`:                       "groups",
		`{"queues":["700"],"screening":true}`: "", // the same memberships: only screening changes
		`{"password":"a-new-password"}`:       "password",
	} {
		want := http.StatusForbidden
		if field == "" {
			want = http.StatusOK
		}
		got := e.call(t, request{method: http.MethodPut, path: "/api/v1/users/1002", body: body, ext: "1002"}, want)
		if field != "" {
			if f := fieldOf(t, got.body); f != field {
				t.Errorf("%s: field %q, want %q", body, f, field)
			}
		}
	}
	// The same values as now are not a change.
	e.call(t, request{method: http.MethodPut, path: "/api/v1/users/1002", body: `{"name":"Bob","admin":false}`, ext: "1002"}, http.StatusOK)
	e.call(t, request{method: http.MethodPut, path: "/api/v1/users/1003", body: `{"screening":true}`, ext: "1002"}, http.StatusForbidden)
}

// An admin changes a user's every field: role, memberships, name.
func TestUsersAdminEdits(t *testing.T) {
	e, d := newDirEnv(t)
	// Taking a queue's only member out of it is the queue's problem, named by its path.
	only := e.call(t, request{method: http.MethodPut, path: "/api/v1/users/1002", body: `{"queues":[]}`, ext: "1001"}, http.StatusBadRequest)
	if f := fieldOf(t, only.body); f != "queues[0].members" {
		t.Errorf("removing the only member: field %q (%s)", f, only.body)
	}
	got := decodeUser(t, e.call(t, request{method: http.MethodPut, path: "/api/v1/users/1003",
		body: `{"name":"Caroline","admin":true,"groups":["600"],"queues":["700"],"srtp":"required"}`, ext: "1001"}, http.StatusOK).body)
	if got.Name != "Caroline" || !got.Admin || got.SRTP != "required" || !slices.Equal(got.Groups, []string{"600"}) || !slices.Equal(got.Queues, []string{"700"}) {
		t.Errorf("after admin PUT: %+v", got)
	}
	if q, _ := d.Config().Queue("700"); !slices.Equal(q.Members, []string{"1002", "1003"}) {
		t.Errorf("queue members %v", q.Members)
	}
	// The new admin acts as one at once.
	e.call(t, request{path: "/api/v1/users", ext: "1003"}, http.StatusOK)
}

// A rename needs a new password (the digest hash is bound to the extension), and carries the
// user's memberships and what leads to them.
func TestUsersRename(t *testing.T) {
	e, d := newDirEnv(t)
	got := e.call(t, request{method: http.MethodPut, path: "/api/v1/users/1003", body: `{"ext":"1013"}`, ext: "1001"}, http.StatusBadRequest)
	if f := fieldOf(t, got.body); f != "password" {
		t.Errorf("rename without a password: field %q", f)
	}
	got = e.call(t, request{method: http.MethodPut, path: "/api/v1/users/1003", body: `{"ext":"1002","password":"carol-new-pw"}`, ext: "1001"}, http.StatusBadRequest)
	if f := fieldOf(t, got.body); f != "ext" {
		t.Errorf("rename onto a user: field %q", f)
	}
	u := decodeUser(t, e.call(t, request{method: http.MethodPut, path: "/api/v1/users/1003",
		body: `{"ext":"1013","password":"carol-new-pw"}`, ext: "1001"}, http.StatusOK).body)
	if u.Ext != "1013" {
		t.Errorf("renamed %+v", u)
	}
	if g, _ := d.Config().Group("600"); g.Fallback != "voicemail:1013" {
		t.Errorf("group fallback %q", g.Fallback)
	}
	e.call(t, request{path: "/api/v1/users/1013", ext: "1013", password: "carol-new-pw"}, http.StatusOK)
	e.call(t, request{path: "/api/v1/users/1003", ext: "1001"}, http.StatusNotFound)
}

// Removing: 204; 409 while something leads to the user; the last admin stays.
func TestUsersDelete(t *testing.T) {
	e, d := newDirEnv(t)
	got := e.call(t, request{method: http.MethodDelete, path: "/api/v1/users/1003", ext: "1001"}, http.StatusConflict)
	if !strings.Contains(string(got.body), "fallback of group 600") {
		t.Errorf("in use: %s", got.body)
	}
	e.call(t, request{method: http.MethodDelete, path: "/api/v1/users/1002", ext: "1001"}, http.StatusConflict) // queue 700's only member
	e.call(t, request{method: http.MethodDelete, path: "/api/v1/users/1004", ext: "1001"}, http.StatusNoContent)
	if _, ok := d.Config().User("1004"); ok {
		t.Error("1004 still there")
	}
	e.call(t, request{path: "/api/v1/users/1004", ext: "1004", password: "dave-secret"}, http.StatusUnauthorized)
	e.call(t, request{method: http.MethodDelete, path: "/api/v1/users/1004", ext: "1001"}, http.StatusNotFound)
}

// The last admin can neither demote nor remove themself; with a second admin they can.
func TestUsersLastAdmin(t *testing.T) {
	e, _ := newDirEnv(t)
	got := e.call(t, request{method: http.MethodPut, path: "/api/v1/users/1001", body: `{"admin":false}`, ext: "1001"}, http.StatusBadRequest)
	if f := fieldOf(t, got.body); f != "admin" || !strings.Contains(string(got.body), "last admin") {
		t.Errorf("demoting the last admin: %s", got.body)
	}
	// 1001 is a member of group 600 with 1002: removing is refused only for being the last admin.
	got = e.call(t, request{method: http.MethodDelete, path: "/api/v1/users/1001", ext: "1001"}, http.StatusConflict)
	if !strings.Contains(string(got.body), "last admin") {
		t.Errorf("removing the last admin: %s", got.body)
	}
	e.call(t, request{method: http.MethodPut, path: "/api/v1/users/1004", body: `{"admin":true}`, ext: "1001"}, http.StatusOK)
	e.call(t, request{method: http.MethodPut, path: "/api/v1/users/1001", body: `{"admin":false}`, ext: "1001"}, http.StatusOK)
	// Demoted: the directory's role counts at once, not the one signed in with.
	e.call(t, request{path: "/api/v1/users", ext: "1001"}, http.StatusForbidden)
}

// Passwords: the user with their current one, an admin for another without; 8 characters.
func TestUsersPassword(t *testing.T) {
	e, _ := newDirEnv(t)
	path := "/api/v1/users/1002/password"
	got := e.call(t, request{method: http.MethodPut, path: path, body: `{"current":"wrong-one","password":"bob-new-secret"}`, ext: "1002"}, http.StatusBadRequest)
	if f := fieldOf(t, got.body); f != "current" {
		t.Errorf("wrong current: field %q", f)
	}
	got = e.call(t, request{method: http.MethodPut, path: path, body: `{"password":"bob-new-secret"}`, ext: "1002"}, http.StatusBadRequest)
	if f := fieldOf(t, got.body); f != "current" {
		t.Errorf("no current: field %q", f)
	}
	got = e.call(t, request{method: http.MethodPut, path: path, body: `{"current":"bob-secret","password":"short"}`, ext: "1002"}, http.StatusBadRequest)
	if f := fieldOf(t, got.body); f != "password" {
		t.Errorf("short: field %q", f)
	}
	e.call(t, request{path: "/api/v1/users/1002", ext: "1002"}, http.StatusOK) // unchanged so far
	e.call(t, request{method: http.MethodPut, path: path, body: `{"current":"bob-secret","password":"bob-new-secret"}`, ext: "1002"}, http.StatusNoContent)
	e.call(t, request{path: "/api/v1/users/1002", ext: "1002"}, http.StatusUnauthorized)
	e.call(t, request{path: "/api/v1/users/1002", ext: "1002", password: "bob-new-secret"}, http.StatusOK)
	// An admin resets it without the current one.
	e.call(t, request{method: http.MethodPut, path: path, body: `{"password":"reset-by-alice"}`, ext: "1001"}, http.StatusNoContent)
	e.call(t, request{path: "/api/v1/users/1002", ext: "1002", password: "reset-by-alice"}, http.StatusOK)
	// Others may not.
	e.call(t, request{method: http.MethodPut, path: path, body: `{"current":"x","password":"long-enough"}`, ext: "1003"}, http.StatusForbidden)
}

// Without a Directory the routes are not served.
func TestDirectoryRoutesAbsentWithoutDirectory(t *testing.T) {
	e := newEnv(t)
	for _, p := range []string{"/api/v1/users", "/api/v1/users/1002", "/api/v1/groups", "/api/v1/trunks", "/api/v1/queues/700"} {
		e.call(t, request{path: p, ext: "1001"}, http.StatusNotFound)
	}
}
