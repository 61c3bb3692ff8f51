package api

import (
	"testing"

	"github.com/switchboard-voip/switchboard/config"
	"github.com/switchboard-voip/switchboard/directory"
	"github.com/switchboard-voip/switchboard/sip/digest"
)

// dirYAML is the package's users (same passwords as users) with a group, a queue and a trunk,
// as a config file gives them.
const dirYAML = `
sip: {listen: ["udp:127.0.0.1:0"]}
users:
  - {ext: "1001", name: Alice, password: alice-secret, admin: true}
  - {ext: "1002", name: Bob, password: bob-secret}
  - {ext: "1003", name: Carol, password: carol-secret}
  - {ext: "1004", name: Dave, password: dave-secret, voicemail: false}
groups:
  - {ext: "600", name: Sales, members: ["1001", "1002"], fallback: "voicemail:1003"}
queues:
  - {ext: "700", name: Support, members: ["1002"]}
trunks:
  - {name: carrier, allow: ["192.0.2.0/24"], dids: {"+15550100": "600"}}
`

// newDirectory is a live directory of dirYAML over a memory store, hashing passwords as the
// switch does.
func newDirectory(t testing.TB) *directory.Directory {
	t.Helper()
	cfg, err := config.Parse([]byte(dirYAML+"data_dir: "+t.TempDir()+"\n"), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	hash := func(ext, pw string) (string, string) {
		s := digest.SecretOf(ext, cfg.SIP.Realm, pw)
		return s.HA1MD5, s.HA1SHA256
	}
	d, _, err := directory.Open(cfg, &directory.MemoryStore{}, hash)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// dirUsers implements Users from the live directory, as cmd does: a user added through the
// API signs in at once, one removed no longer can.
type dirUsers struct{ d *directory.Directory }

func (u dirUsers) Check(ext, password string) (ok, admin bool) {
	cfg := u.d.Config()
	usr, found := cfg.User(ext)
	if !found {
		return false, false
	}
	sec := digest.Secret{HA1MD5: usr.HA1MD5, HA1SHA256: usr.HA1SHA256}
	if !sec.Matches(ext, cfg.SIP.Realm, password) {
		return false, false
	}
	return true, usr.Admin
}

func (u dirUsers) Exists(ext string) bool {
	_, ok := u.d.Config().User(ext)
	return ok
}

// newDirEnv is newEnv with a live directory serving the directory routes and sign-in.
func newDirEnv(t testing.TB, edit ...func(*Options)) (*env, *directory.Directory) {
	t.Helper()
	d := newDirectory(t)
	e := newEnv(t, append([]func(*Options){func(o *Options) {
		o.Directory, o.Users = d, dirUsers{d}
	}}, edit...)...)
	return e, d
}
