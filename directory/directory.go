// Package directory is the switch's live directory: its users, ring groups, queues and trunks,
// kept in the data store and changed while the switch runs.
//
// The config file's sections seed it the first time a data dir is used; from then on the store
// is the directory, changed by admins through the API, and the file's sections are not read
// again. Each change is checked as a file would be (config.Config.WithDirectory), saved, and
// only then made current, so a refused change leaves nothing behind and an accepted one
// survives a crash. Readers get the current directory as an immutable *config.Config without a
// lock (Config), which is what the SIP layer reads on every REGISTER and routing on every call.
//
// Passwords are never kept: a clear password in a change or in the seeding file is replaced
// by its digest hashes (HA1, MD5 and SHA-256, bound to the extension and the realm) before
// anything is saved.
package directory

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/switchboard-voip/switchboard/config"
)

// Store keeps the directory as one document (config.MarshalDirectory's JSON).
type Store interface {
	// LoadDirectory returns the stored document; nil and no error when none was ever saved.
	LoadDirectory() ([]byte, error)
	// SaveDirectory replaces the stored document, durably, before it returns.
	SaveDirectory(doc []byte) error
}

// Hasher turns a user's clear password into the digest hashes kept in its place: HA1s of
// "ext:realm:password" in MD5 and SHA-256 hex (digest.SecretOf in cmd).
type Hasher func(ext, password string) (ha1MD5, ha1SHA256 string)

// Change is one accepted change: the directory before and after, and who made it.
type Change struct {
	Old, New *config.Config
	By       string // the admin's extension; "" for a change made at another node
	// Renamed is the users whose extension changed, old → new; nil for another node's change
	// (the node where it was made moves what the users had).
	Renamed map[string]string
}

// ErrNotFound is returned by edits for an entry that does not exist.
var ErrNotFound = errors.New("no such entry")

// Directory is the live directory. It is safe for concurrent use.
type Directory struct {
	file  *config.Config // the file: every setting that is not the directory
	store Store
	hash  Hasher

	cur atomic.Pointer[config.Config]
	doc []byte // the document cur was made from, as saved or replaced; guarded by mu

	// mu serialises changes, so that each is made on the one before and listeners see them in
	// order.
	mu        sync.Mutex
	listeners []func(Change)
}

// Open returns the directory kept in store, seeding it from file's users, groups, queues and
// trunks when the store has none (seeded reports that). A stored directory that no longer
// passes the checks against file's other settings (a realm's hashes, say) is an error naming
// what is wrong.
func Open(file *config.Config, store Store, hash Hasher) (d *Directory, seeded bool, err error) {
	if store == nil || hash == nil {
		return nil, false, errors.New("directory: nil store or hasher")
	}
	d = &Directory{file: file, store: store, hash: hash}
	doc, err := store.LoadDirectory()
	if err != nil {
		return nil, false, fmt.Errorf("loading the directory: %w", err)
	}
	if doc == nil {
		seed := file.Directory()
		cfg, err := d.check(&seed)
		if err != nil {
			return nil, false, fmt.Errorf("seeding the directory from the file: %w", err)
		}
		if err := d.save(cfg); err != nil {
			return nil, false, err
		}
		d.cur.Store(cfg)
		return d, true, nil
	}
	cfg, err := d.parse(doc)
	if err != nil {
		return nil, false, fmt.Errorf("the directory in the data store: %w", err)
	}
	d.cur.Store(cfg)
	d.doc = doc
	return d, false, nil
}

// Config returns the current directory: the file's settings with the live users, groups,
// queues and trunks. It is immutable; a change makes a new one.
func (d *Directory) Config() *config.Config { return d.cur.Load() }

// OnChange has f called after each accepted change, in order, with the change's lock held: f
// must not change the directory, and should be quick (it tells the presence table, the
// registrar and the queues). Call it before serving.
func (d *Directory) OnChange(f func(Change)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.listeners = append(d.listeners, f)
}

// Update applies edit to a copy of the current directory, checks the result as a config file
// would be checked, saves it and makes it current. by is who made the change (for the
// listeners). An error from edit, or the checks' config.Problems (paths such as
// "users[3].ext"), leaves the directory as it was.
func (d *Directory) Update(by string, edit func(*config.Directory) error) (*config.Config, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	old := d.cur.Load()
	next := old.Directory()
	if err := edit(&next); err != nil {
		return nil, err
	}
	cfg, err := d.check(&next)
	if err != nil {
		return nil, err
	}
	if err := d.save(cfg); err != nil {
		return nil, err
	}
	renamed := make(map[string]string, len(next.Renamed))
	for was, now := range next.Renamed {
		if was != now {
			renamed[was] = now
		}
	}
	d.publish(Change{Old: old, New: cfg, By: by, Renamed: renamed})
	return cfg, nil
}

// Replace makes doc (another node's saved directory) current without saving it: in a cluster
// the shared store already holds it. The document this directory already has (its own save,
// echoed back) changes nothing. A document that does not pass the checks is refused and the
// directory stays as it was.
func (d *Directory) Replace(doc []byte) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if string(doc) == string(d.doc) {
		return nil
	}
	cfg, err := d.parse(doc)
	if err != nil {
		return err
	}
	d.doc = bytes.Clone(doc)
	d.publish(Change{Old: d.cur.Load(), New: cfg})
	return nil
}

// publish makes cfg current and tells the listeners; d.mu is held.
func (d *Directory) publish(c Change) {
	d.cur.Store(c.New)
	for _, f := range d.listeners {
		f(c)
	}
}

// parse reads and checks a stored document.
func (d *Directory) parse(doc []byte) (*config.Config, error) {
	dir, err := config.ParseDirectory(doc)
	if err != nil {
		return nil, err
	}
	return d.check(&dir)
}

// check hashes the clear passwords in dir (so that none is kept) and checks it against the
// file's other settings.
func (d *Directory) check(dir *config.Directory) (*config.Config, error) {
	for i := range dir.Users {
		u := &dir.Users[i]
		if u.Password != "" {
			u.HA1MD5, u.HA1SHA256 = d.hash(u.Ext, u.Password)
			u.Password = ""
		}
	}
	return d.file.WithDirectory(*dir)
}

// save writes cfg's directory to the store; d.mu is held (or d is not yet shared).
func (d *Directory) save(cfg *config.Config) error {
	doc, err := config.MarshalDirectory(cfg.Directory())
	if err != nil {
		return err
	}
	if err := d.store.SaveDirectory(doc); err != nil {
		return fmt.Errorf("saving the directory: %w", err)
	}
	d.doc = doc
	return nil
}

// Differs reports whether the file's users, groups, queues or trunks differ from the
// directory's, ignoring how passwords are given (a clear password in the file is stored as
// its hashes): an operator who edited the file after the first start is told it is not read.
func (d *Directory) Differs() bool {
	file := d.file.Directory()
	for i := range file.Users {
		u := &file.Users[i]
		if u.Password != "" {
			u.HA1MD5, u.HA1SHA256 = d.hash(u.Ext, u.Password)
			u.Password = ""
		}
	}
	a, errA := config.MarshalDirectory(file)
	b, errB := config.MarshalDirectory(d.Config().Directory())
	return errA != nil || errB != nil || string(a) != string(b)
}
