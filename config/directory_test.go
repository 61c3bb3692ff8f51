package config

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A directory written by MarshalDirectory reads back the same, and checks as the file did.
func TestDirectoryRoundTrip(t *testing.T) {
	c, err := Demo()
	if err != nil {
		t.Fatal(err)
	}
	d := c.Directory()
	data, err := MarshalDirectory(d)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseDirectory(data)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.WithDirectory(back)
	if err != nil {
		t.Fatalf("the demo's directory, written and read back: %v\n%s", err, data)
	}
	if len(got.Users) != len(c.Users) || len(got.Groups) != len(c.Groups) || len(got.Queues) != len(c.Queues) {
		t.Fatalf("read back %d users %d groups %d queues, want %d %d %d", len(got.Users), len(got.Groups),
			len(got.Queues), len(c.Users), len(c.Groups), len(c.Queues))
	}
	for i, u := range c.Users {
		b := got.Users[i]
		if b.Ext != u.Ext || b.Name != u.Name || b.Password != u.Password || b.NoAnswerTimeout != u.NoAnswerTimeout ||
			b.VoicemailEnabled() != u.VoicemailEnabled() || b.Admin != u.Admin {
			t.Errorf("user %d read back as %+v, want %+v", i, b, u)
		}
	}
	if q := got.Queues[0]; q.Wrapup != c.Queues[0].Wrapup || q.AutoPause != c.Queues[0].AutoPause {
		t.Errorf("queue read back as %+v, want %+v", q, c.Queues[0])
	}
	if u, ok := got.User(c.Users[0].Ext); !ok || u.Name != c.Users[0].Name {
		t.Error("the new config's index does not find the first user")
	}
}

// WithDirectory refuses what a file would be refused for, naming the entry's key.
func TestWithDirectoryProblems(t *testing.T) {
	c, err := Demo()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		edit func(d *Directory)
		path string
	}{
		{"duplicate extension", func(d *Directory) {
			u := NewUser()
			u.Ext, u.Name, u.Password = d.Users[0].Ext, "Twin", "pw"
			d.Users = append(d.Users, u)
		}, "users[" + itoa(len(c.Users)) + "].ext"},
		{"user clashing with a group", func(d *Directory) {
			u := NewUser()
			u.Ext, u.Name, u.Password = d.Groups[0].Ext, "Clash", "pw"
			d.Users = append(d.Users, u)
		}, "groups[0].ext"},
		{"unknown member", func(d *Directory) { d.Queues[0].Members = append(d.Queues[0].Members, "4999") },
			"queues[0].members[" + itoa(len(c.Queues[0].Members)) + "]"},
		{"no password", func(d *Directory) { d.Users[0].Password = "" }, "users[0].password"},
		{"bad strategy", func(d *Directory) { d.Groups[0].Strategy = "random" }, "groups[0].strategy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := c.Directory()
			tc.edit(&d)
			_, err := c.WithDirectory(d)
			var probs Problems
			if !errors.As(err, &probs) {
				t.Fatalf("got %v, want Problems", err)
			}
			found := false
			for _, p := range probs {
				found = found || p.Path == tc.path
			}
			if !found {
				t.Errorf("problems %q, want one at %s", err, tc.path)
			}
		})
	}
	// The original is untouched by a refused or an accepted change.
	d := c.Directory()
	d.Users[0].Name = "Changed"
	if _, err := c.WithDirectory(d); err != nil {
		t.Fatal(err)
	}
	if c.Users[0].Name == "Changed" {
		t.Error("WithDirectory changed the config it was called on")
	}
}

// New entries carry the file's defaults.
func TestNewEntriesDefaults(t *testing.T) {
	if u := NewUser(); u.NoAnswerTimeout != 20*time.Second || !u.VoicemailEnabled() {
		t.Errorf("NewUser: %+v", u)
	}
	if g := NewGroup(); g.Strategy != "ringall" || g.Fallback != "hangup" {
		t.Errorf("NewGroup: %+v", g)
	}
	if q := NewQueue(); q.Strategy != "longest_idle" || q.Wrapup != 5*time.Second || q.AutoPause != 3 {
		t.Errorf("NewQueue: %+v", q)
	}
	if _, err := ParseDirectory([]byte("users: [{ext: 1, nmae: x}]")); err == nil || !strings.Contains(err.Error(), "nmae") {
		t.Errorf("a misspelt key: %v", err)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
