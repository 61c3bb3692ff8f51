package directory

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/switchboard-voip/switchboard/config"
)

const testYAML = `
sip: {listen: ["udp:127.0.0.1:0"]}
users:
  - {ext: "1001", name: Alice, password: alice-pw, admin: true}
  - {ext: "1002", name: Bob, password: bob-pw}
  - {ext: "1003", name: Carol, password: carol-pw}
groups:
  - {ext: "600", name: Sales, members: ["1001", "1002"], fallback: "voicemail:1003"}
queues:
  - {ext: "700", name: Support, members: ["1002"]}
trunks:
  - {name: carrier, allow: ["192.0.2.0/24"], dids: {"+15550100": "600"}}
`

// hashOf stands in for digest.SecretOf: what matters here is that clear passwords are
// replaced, and by what.
func hashOf(ext, pw string) (string, string) {
	return strings.Repeat("a", 32), strings.Repeat("b", 63) + string(rune('0'+len(ext+pw)%10))
}

func testConfig(t *testing.T) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(testYAML+"data_dir: "+t.TempDir()+"\n"), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func openBolt(t *testing.T, path string) *bbolt.DB {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// The file seeds the store once, without its passwords; a change is saved and is what the
// next start finds, whatever the file says then.
func TestSeedOnceThenTheStoreIsTheDirectory(t *testing.T) {
	cfg := testConfig(t)
	path := filepath.Join(t.TempDir(), "switchboard.db")
	db := openBolt(t, path)
	store, err := NewBoltStore(db)
	if err != nil {
		t.Fatal(err)
	}
	d, seeded, err := Open(cfg, store, hashOf)
	if err != nil || !seeded {
		t.Fatalf("Open: seeded %v, %v", seeded, err)
	}
	doc, _ := store.LoadDirectory()
	if strings.Contains(string(doc), "alice-pw") || !strings.Contains(string(doc), `"HA1MD5":"`+strings.Repeat("a", 32)) {
		t.Fatalf("the stored directory holds a clear password, or no hash:\n%s", doc)
	}
	if d.Differs() {
		t.Error("the directory just seeded from the file differs from it")
	}
	_, err = d.Update("1001", func(dir *config.Directory) error {
		u := config.NewUser()
		u.Ext, u.Name, u.Password = "1004", "Dave", "dave-pw"
		dir.Users = append(dir.Users, u)
		return SetMemberships(dir, "1004", []string{"600"}, []string{"700"})
	})
	if err != nil {
		t.Fatal(err)
	}
	if g, _ := d.Config().Group("600"); strings.Join(g.Members, ",") != "1001,1002,1004" {
		t.Errorf("group members %v", g.Members)
	}
	_ = db.Close()

	db = openBolt(t, path)
	defer db.Close()
	store, _ = NewBoltStore(db)
	d2, seeded, err := Open(cfg, store, hashOf)
	if err != nil || seeded {
		t.Fatalf("reopen: seeded %v, %v", seeded, err)
	}
	u, ok := d2.Config().User("1004")
	if !ok || u.Name != "Dave" || u.Password != "" || u.HA1MD5 == "" {
		t.Fatalf("after a restart user 1004 is %+v (found %v)", u, ok)
	}
	if q, _ := d2.Config().Queue("700"); strings.Join(q.Members, ",") != "1002,1004" {
		t.Errorf("queue members after a restart %v", q.Members)
	}
	if !d2.Differs() {
		t.Error("a directory changed since the seed does not differ from the file")
	}
}

// A refused change leaves the directory and the store as they were, and tells no listener; an
// accepted one tells them, in order.
func TestRefusedChangesLeaveNothing(t *testing.T) {
	store := &MemoryStore{}
	d, _, err := Open(testConfig(t), store, hashOf)
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	d.OnChange(func(c Change) { seen = append(seen, c.By+":"+c.New.Users[len(c.New.Users)-1].Ext) })
	before, _ := store.LoadDirectory()
	cur := d.Config()
	for _, tc := range []struct {
		name  string
		edit  func(*config.Directory) error
		field string
	}{
		{"duplicate extension", func(dir *config.Directory) error { return ExtFree(dir, "1002", "") }, "ext"},
		{"extension of a group", func(dir *config.Directory) error { return ExtFree(dir, "600", "") }, "ext"},
		{"unknown member", func(dir *config.Directory) error { return Members(dir, []string{"1001", "4999"}) }, "members[1]"},
		{"a queue as member", func(dir *config.Directory) error { return Members(dir, []string{"700"}) }, "members[0]"},
		{"unknown group", func(dir *config.Directory) error { return SetMemberships(dir, "1003", []string{"601"}, nil) }, "groups[0]"},
		{"checked as a file", func(dir *config.Directory) error {
			u := config.NewUser()
			u.Ext, u.Name, u.Password = "1005", "Eve", "pw"
			u.SRTP = "sometimes"
			dir.Users = append(dir.Users, u)
			return nil
		}, "srtp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := d.Update("1001", tc.edit)
			field, msg, ok := Blame(err, "users[3]")
			if !ok || field != tc.field {
				t.Fatalf("got %v: field %q (%s), want %q", err, field, msg, tc.field)
			}
		})
	}
	if d.Config() != cur {
		t.Error("a refused change replaced the directory")
	}
	if after, _ := store.LoadDirectory(); string(after) != string(before) {
		t.Error("a refused change was saved")
	}
	store.Fail = errors.New("disk full")
	if _, err := d.Update("1001", func(dir *config.Directory) error { dir.Users[0].Name = "Al"; return nil }); err == nil || d.Config() != cur {
		t.Fatalf("a change the store could not save: %v, and made current: %v", err, d.Config() != cur)
	}
	store.Fail = nil
	if len(seen) != 0 {
		t.Errorf("listeners told of refused changes: %v", seen)
	}
	if _, err := d.Update("1001", func(dir *config.Directory) error { dir.Users[2].Name = "Caroline"; return nil }); err != nil {
		t.Fatal(err)
	}
	if strings.Join(seen, ",") != "1001:1003" {
		t.Errorf("listeners saw %v", seen)
	}
}

// Removing a user takes them out of groups and queues, unless something would lead nowhere.
func TestRemoveUser(t *testing.T) {
	d, _, err := Open(testConfig(t), &MemoryStore{}, hashOf)
	if err != nil {
		t.Fatal(err)
	}
	var inUse *InUseError
	_, err = d.Update("1001", func(dir *config.Directory) error { return RemoveUser(dir, "1003") })
	if !errors.As(err, &inUse) || !strings.Contains(err.Error(), "fallback of group 600") {
		t.Errorf("removing the fallback's voicemail box: %v", err)
	}
	_, err = d.Update("1001", func(dir *config.Directory) error { return RemoveUser(dir, "1002") })
	if !errors.As(err, &inUse) || !strings.Contains(err.Error(), "only member of queue 700") {
		t.Errorf("removing a queue's only member: %v", err)
	}
	if _, err := d.Update("1001", func(dir *config.Directory) error { return RemoveUser(dir, "1009") }); !errors.Is(err, ErrNotFound) {
		t.Errorf("removing nobody: %v", err)
	}
	if _, err := d.Update("1001", func(dir *config.Directory) error { return RemoveGroup(dir, "600") }); !errors.As(err, &inUse) {
		t.Errorf("removing a group a trunk's number leads to: %v", err)
	}
	cfg, err := d.Update("1002", func(dir *config.Directory) error { return RemoveUser(dir, "1001") })
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := cfg.User("1001"); ok {
		t.Error("user 1001 is still there")
	}
	if g, _ := cfg.Group("600"); strings.Join(g.Members, ",") != "1002" {
		t.Errorf("group 600 members %v", g.Members)
	}
}

// Renaming a user's extension follows every reference to it.
func TestRenameUser(t *testing.T) {
	d, _, err := Open(testConfig(t), &MemoryStore{}, hashOf)
	if err != nil {
		t.Fatal(err)
	}
	var renamed map[string]string
	d.OnChange(func(c Change) { renamed = c.Renamed })
	cfg, err := d.Update("1001", func(dir *config.Directory) error {
		RenameUser(dir, "1003", "1013")
		dir.Users[UserIndex(dir, "1013")].Password = "new-pw"
		RenameUser(dir, "1002", "1012")
		dir.Users[UserIndex(dir, "1012")].Password = "new-pw"
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	g, _ := cfg.Group("600")
	q, _ := cfg.Queue("700")
	if g.Fallback != "voicemail:1013" || strings.Join(g.Members, ",") != "1001,1012" || q.Members[0] != "1012" {
		t.Errorf("after renaming: group %+v, queue %+v", g, q)
	}
	if len(renamed) != 2 || renamed["1003"] != "1013" || renamed["1002"] != "1012" {
		t.Errorf("the change's renames: %v", renamed)
	}
	if _, err := d.Update("1001", func(dir *config.Directory) error {
		RenameUser(dir, "1013", "1023")
		RenameUser(dir, "1023", "1033")
		dir.Users[UserIndex(dir, "1033")].Password = "pw"
		return nil
	}); err != nil || len(renamed) != 1 || renamed["1013"] != "1033" {
		t.Errorf("renamed twice in one edit: %v (%v), want 1013 → 1033", renamed, err)
	}
	if _, err := d.Update("1001", func(dir *config.Directory) error { dir.Users[0].Name = "Al"; return nil }); err != nil || len(renamed) != 0 {
		t.Errorf("a change without renames reports %v (%v)", renamed, err)
	}
}

// Another node's document replaces the directory and tells the listeners; the same document
// again (a node's own save, echoed back by the shared store) changes nothing.
func TestReplace(t *testing.T) {
	a, _, err := Open(testConfig(t), &MemoryStore{}, hashOf)
	if err != nil {
		t.Fatal(err)
	}
	shared := &MemoryStore{}
	b, _, err := Open(testConfig(t), shared, hashOf)
	if err != nil {
		t.Fatal(err)
	}
	told := 0
	a.OnChange(func(Change) { told++ })
	if _, err := b.Update("1001", func(dir *config.Directory) error { dir.Users[1].Name = "Robert"; return nil }); err != nil {
		t.Fatal(err)
	}
	doc, _ := shared.LoadDirectory()
	for range 2 {
		if err := a.Replace(doc); err != nil {
			t.Fatal(err)
		}
	}
	if u, _ := a.Config().User("1002"); u.Name != "Robert" || told != 1 {
		t.Errorf("after replacing: user 1002 is %q, listeners told %d times", u.Name, told)
	}
	if err := a.Replace([]byte("users: [{ext: x}]")); err == nil {
		t.Error("a document that fails the checks replaced the directory")
	}
}
