package main

import (
	"net/netip"
	"strings"
	"sync/atomic"

	"github.com/switchboard-voip/switchboard/config"
	"github.com/switchboard-voip/switchboard/directory"
	"github.com/switchboard-voip/switchboard/routing"
	sbsip "github.com/switchboard-voip/switchboard/sip"
	"github.com/switchboard-voip/switchboard/sip/digest"
)

// switchDirectory answers the SIP layer's, routing's and the API's questions about
// extensions from the live directory, which admins change while the switch runs.
type switchDirectory struct {
	dir   *directory.Directory
	music map[string][]int16 // queues' own music on hold, loaded at start (the API sets none)

	view atomic.Pointer[dirView] // the current directory with its fallbacks parsed
}

// dirView is one version of the directory, with every group's and queue's fallback parsed
// once rather than on each call.
type dirView struct {
	cfg       *config.Config
	fallbacks map[string]routing.Fallback
}

// openDirectory opens the live directory kept in store, seeding it from file's users,
// groups, queues and trunks on a data dir's first start (seeded). Clear passwords are hashed
// for file's realm and forgotten. The queues' own music is read now, so a bad file names its
// queue at start.
func openDirectory(file *config.Config, store directory.Store) (d *switchDirectory, seeded bool, err error) {
	realm := file.SIP.Realm
	hash := func(ext, password string) (string, string) {
		sec := digest.SecretOf(ext, realm, password)
		return sec.HA1MD5, sec.HA1SHA256
	}
	dir, seeded, err := directory.Open(file, store, hash)
	if err != nil {
		return nil, false, err
	}
	music, err := loadQueueMusic(dir.Config())
	if err != nil {
		return nil, false, err
	}
	d = &switchDirectory{dir: dir, music: music}
	d.follow(dir.Config())
	// First of the listeners: whoever follows a change after it reads the new version here.
	dir.OnChange(func(c directory.Change) { d.follow(c.New) })
	return d, seeded, nil
}

// follow makes cfg the version the lookups read.
func (d *switchDirectory) follow(cfg *config.Config) {
	v := &dirView{cfg: cfg, fallbacks: make(map[string]routing.Fallback, len(cfg.Groups)+len(cfg.Queues))}
	parse := func(ext, fb string) {
		// Checked with the directory, so this cannot fail; hang up if it ever did.
		f, err := routing.ParseFallback(fb)
		if err != nil {
			f = routing.Fallback{Kind: routing.FallbackHangup}
		}
		v.fallbacks[ext] = f
	}
	for _, g := range cfg.Groups {
		parse(g.Ext, g.Fallback)
	}
	for _, q := range cfg.Queues {
		parse(q.Ext, q.Fallback)
	}
	d.view.Store(v)
}

// cfg is the current directory, with the file's other settings.
func (d *switchDirectory) cfg() *config.Config { return d.view.Load().cfg }

// Secret implements sip.Users.
func (d *switchDirectory) Secret(ext string) (digest.Secret, bool) {
	u, ok := d.cfg().User(ext)
	if !ok {
		return digest.Secret{}, false
	}
	return digest.Secret{HA1MD5: u.HA1MD5, HA1SHA256: u.HA1SHA256}, true
}

// SRTP is ext's media.srtp (its own, else the switch's); sip.Options.SRTP.
func (d *switchDirectory) SRTP(ext string) sbsip.SRTPPolicy {
	p := d.cfg().Media.SRTP
	if u, ok := d.cfg().User(ext); ok && u.SRTP != "" {
		p = u.SRTP
	}
	policy, _ := sbsip.ParseSRTPPolicy(p) // validated with the config
	return policy
}

// DisplayName implements sip.Users.
func (d *switchDirectory) DisplayName(ext string) string {
	if u, ok := d.cfg().User(ext); ok {
		return u.Name
	}
	return ""
}

// User implements routing.Directory.
func (d *switchDirectory) User(ext string) (routing.User, bool) {
	u, ok := d.cfg().User(ext)
	if !ok {
		return routing.User{}, false
	}
	return routing.User{Ext: u.Ext, NoAnswerTimeout: u.NoAnswerTimeout, Voicemail: u.VoicemailEnabled(),
		Screening: u.Screening}, true
}

// Group implements routing.Directory.
func (d *switchDirectory) Group(ext string) (routing.Group, bool) {
	v := d.view.Load()
	g, ok := v.cfg.Group(ext)
	if !ok {
		return routing.Group{}, false
	}
	return routing.Group{Ext: g.Ext, Name: g.Name, Sequential: g.Strategy == "sequential", Members: g.Members,
		RingTimeout: g.RingTimeout, Fallback: v.fallbacks[g.Ext]}, true
}

// Queue implements routing.Directory.
func (d *switchDirectory) Queue(ext string) (routing.Queue, bool) {
	v := d.view.Load()
	q, ok := v.cfg.Queue(ext)
	if !ok {
		return routing.Queue{}, false
	}
	return routing.Queue{Ext: q.Ext, Name: q.Name, Strategy: q.Strategy, Members: q.Members,
		RingTimeout: q.RingTimeout, MaxWait: q.MaxWait, Wrapup: q.Wrapup,
		AutoPause: q.AutoPause, AutoResume: q.AutoResume, MusicOnHold: d.music[q.Ext],
		AnnouncePosition: q.AnnouncePosition, Fallback: v.fallbacks[q.Ext]}, true
}

// Outbound implements routing.Directory: a dialled outbound_prefix + number goes to that trunk.
func (d *switchDirectory) Outbound(dialled string) (routing.OutboundRoute, bool) {
	for _, t := range d.cfg().Trunks {
		if t.OutboundPrefix == "" || t.Outbound == "" || len(dialled) <= len(t.OutboundPrefix) ||
			!strings.HasPrefix(dialled, t.OutboundPrefix) {
			continue
		}
		number := dialled[len(t.OutboundPrefix):]
		if strings.Trim(number, "+0123456789") != "" {
			continue // outside numbers are digits (a leading + allowed)
		}
		return routing.OutboundRoute{Trunk: t.Name, Number: number, Transport: t.OutboundTarget.Transport,
			Addr: t.OutboundTarget.Addr()}, true
	}
	return routing.OutboundRoute{}, false
}

// OutboundVia implements flow.TrunkRoutes: an outside caller is called back through the trunk
// they came in by, when it has an outbound target.
func (d *switchDirectory) OutboundVia(trunk, number string) (routing.OutboundRoute, bool) {
	for _, t := range d.cfg().Trunks {
		if t.Name == trunk && t.Outbound != "" {
			return routing.OutboundRoute{Trunk: t.Name, Number: number, Transport: t.OutboundTarget.Transport,
				Addr: t.OutboundTarget.Addr()}, true
		}
	}
	return routing.OutboundRoute{}, false
}

// TrunkFor implements sip.InboundTrunks.
func (d *switchDirectory) TrunkFor(addr netip.Addr) (string, map[string]string, bool) {
	t, ok := d.cfg().TrunkFor(addr)
	if !ok {
		return "", nil, false
	}
	return t.Name, t.DIDs, true
}

// Exists implements routing.Directory.
func (d *switchDirectory) Exists(ext string) bool {
	cfg := d.cfg()
	if _, ok := cfg.User(ext); ok {
		return true
	}
	if _, ok := cfg.Group(ext); ok {
		return true
	}
	_, ok := cfg.Queue(ext)
	return ok
}

// Check implements api.Users: HTTP Basic uses the SIP password.
func (d *switchDirectory) Check(ext, password string) (ok, admin bool) {
	cfg := d.cfg() // one version: the user may be removed meanwhile
	u, found := cfg.User(ext)
	// Hash anyway for an unknown extension, so that it costs the same time as a wrong password.
	sec := digest.Secret{HA1SHA256: strings.Repeat("0", 64)}
	if found {
		sec = digest.Secret{HA1MD5: u.HA1MD5, HA1SHA256: u.HA1SHA256}
	}
	if !sec.Matches(ext, cfg.SIP.Realm, password) || !found {
		return false, false
	}
	return true, u.Admin
}
