package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"gopkg.in/yaml.v3"
)

// Directory is the users, groups, queues and trunks of a Config: the part that a running switch
// keeps in its data store and that admins change live. The file's sections seed it on a data
// dir's first start (see package directory).
type Directory struct {
	Users  []User  `yaml:"users"`
	Groups []Group `yaml:"groups"`
	Queues []Queue `yaml:"queues"`
	Trunks []Trunk `yaml:"trunks"`

	// Renamed is the users whose extension an edit changed, old → new (directory.RenameUser
	// sets it), for the switch to move what it keeps per extension. It belongs to one edit: it
	// is not saved, not checked, and Config.Directory starts without it.
	Renamed map[string]string `yaml:"-" json:"-"`
}

// Directory returns a deep copy of c's users, groups, queues and trunks, which the caller may
// change freely.
func (c *Config) Directory() Directory {
	d := Directory{
		Users:  slices.Clone(c.Users),
		Groups: slices.Clone(c.Groups),
		Queues: slices.Clone(c.Queues),
		Trunks: slices.Clone(c.Trunks),
	}
	for i := range d.Users {
		if v := d.Users[i].Voicemail; v != nil {
			on := *v
			d.Users[i].Voicemail = &on
		}
	}
	for i := range d.Groups {
		d.Groups[i].Members = slices.Clone(d.Groups[i].Members)
	}
	for i := range d.Queues {
		d.Queues[i].Members = slices.Clone(d.Queues[i].Members)
	}
	for i := range d.Trunks {
		t := &d.Trunks[i]
		t.Allow = slices.Clone(t.Allow)
		t.DIDs = maps.Clone(t.DIDs)
		t.AllowNets = slices.Clone(t.AllowNets)
	}
	return d
}

// WithDirectory returns a copy of c whose users, groups and queues and trunks are d's, checked
// as Load checks a file's: every extension unique, members and fallbacks known, trunks' sources
// not overlapping, and so on. A failure is Problems whose paths are d's ("users[3].ext",
// "queues[0].members[2]"). d's entries are taken as they are: defaults are not filled in (start
// a new entry from NewUser, NewGroup or NewQueue). Relative WAV paths are resolved against the
// working directory; d is not changed, and c is not either.
func (c *Config) WithDirectory(d Directory) (*Config, error) {
	cp := *c
	own := (&Config{Users: d.Users, Groups: d.Groups, Queues: d.Queues, Trunks: d.Trunks}).Directory()
	cp.Users, cp.Groups, cp.Queues, cp.Trunks = own.Users, own.Groups, own.Queues, own.Trunks
	for i := range cp.Users {
		if cp.Users[i].Voicemail == nil {
			on := true
			cp.Users[i].Voicemail = &on
		}
	}
	for i := range cp.Trunks {
		// Filled again by the checks below, from Allow and Outbound.
		cp.Trunks[i].AllowNets, cp.Trunks[i].OutboundTarget = nil, Listener{}
	}
	base, err := baseDir("")
	if err != nil {
		return nil, err
	}
	v := &validator{d: newDecoder(), c: &cp, base: base, exts: map[string]owner{}, users: map[string]*User{}}
	v.directory()
	if probs := v.d.sorted(); len(probs) > 0 {
		return nil, probs
	}
	cp.buildIndex()
	return &cp, nil
}

// MarshalDirectory writes d as JSON, which ParseDirectory reads back. (Not YAML: yaml.v3's
// encoder takes some 80 ms and 50 MB to write a directory of 1,000 users; encoding/json a
// fraction of that.)
func MarshalDirectory(d Directory) ([]byte, error) {
	out, err := json.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("encoding the directory: %w", err)
	}
	return out, nil
}

// ParseDirectory reads a directory that MarshalDirectory wrote (JSON, every key present), or
// the same sections of a config file (YAML, with the file's defaults for keys left out). It
// decodes only: check the result with WithDirectory.
func ParseDirectory(data []byte) (Directory, error) {
	if trimmed := bytes.TrimSpace(data); len(trimmed) > 0 && trimmed[0] == '{' {
		dec := json.NewDecoder(bytes.NewReader(trimmed))
		dec.DisallowUnknownFields()
		var d Directory
		if err := dec.Decode(&d); err != nil {
			return Directory{}, fmt.Errorf("reading the directory: %w", err)
		}
		return d, nil
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return Directory{}, fmt.Errorf("reading the directory: %w", err)
	}
	dec := newDecoder()
	var c Config
	if doc := documentBody(&root); doc != nil {
		dec.decode("", doc, reflectValue(&c), false, 0)
	}
	if probs := dec.sorted(); len(probs) > 0 {
		return Directory{}, fmt.Errorf("reading the directory: %w", probs)
	}
	applyDefaults(&c, dec.lines)
	return Directory{Users: c.Users, Groups: c.Groups, Queues: c.Queues, Trunks: c.Trunks}, nil
}

// NewUser returns a user with the defaults a file's user gets for every key left out.
func NewUser() User { return newEntries().Users[0] }

// NewGroup returns a group with the defaults a file's group gets for every key left out.
func NewGroup() Group { return newEntries().Groups[0] }

// NewQueue returns a queue with the defaults a file's queue gets for every key left out.
func NewQueue() Queue { return newEntries().Queues[0] }

// newEntries is one entry of each kind, defaulted as applyDefaults does for a file, so that
// the defaults are written in one place.
func newEntries() *Config {
	c := &Config{Users: make([]User, 1), Groups: make([]Group, 1), Queues: make([]Queue, 1)}
	applyDefaults(c, nil)
	return c
}
