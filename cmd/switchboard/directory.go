package main

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/switchboard-voip/switchboard/config"
	"github.com/switchboard-voip/switchboard/routing"
	sbsip "github.com/switchboard-voip/switchboard/sip"
	"github.com/switchboard-voip/switchboard/sip/digest"
)

// directory answers the SIP layer's and routing's questions about extensions from the config.
type directory struct {
	cfg       *config.Config
	secrets   map[string]digest.Secret    // users' digest HA1s; their clear passwords are dropped
	music     map[string][]int16          // queues' own music on hold, loaded at start
	fallbacks map[string]routing.Fallback // groups' and queues' fallbacks, parsed once
}

// newDirectory builds the directory of cfg, parsing every fallback once.
func newDirectory(cfg *config.Config, music map[string][]int16) (directory, error) {
	d := directory{cfg: cfg, music: music, fallbacks: make(map[string]routing.Fallback),
		secrets: make(map[string]digest.Secret, len(cfg.Users))}
	for i := range cfg.Users {
		u := &cfg.Users[i]
		if u.Password != "" {
			// Hashed at once and forgotten: nothing after this holds a user's password.
			d.secrets[u.Ext] = digest.SecretOf(u.Ext, cfg.SIP.Realm, u.Password)
			u.Password = ""
			continue
		}
		d.secrets[u.Ext] = digest.Secret{HA1MD5: u.HA1MD5, HA1SHA256: u.HA1SHA256}
	}
	for i, g := range cfg.Groups {
		fb, err := routing.ParseFallback(g.Fallback)
		if err != nil {
			return directory{}, fmt.Errorf("groups[%d].fallback: %w", i, err)
		}
		d.fallbacks[g.Ext] = fb
	}
	for i, q := range cfg.Queues {
		fb, err := routing.ParseFallback(q.Fallback)
		if err != nil {
			return directory{}, fmt.Errorf("queues[%d].fallback: %w", i, err)
		}
		d.fallbacks[q.Ext] = fb
	}
	return d, nil
}

// Secret implements sip.Users.
func (d directory) Secret(ext string) (digest.Secret, bool) {
	sec, ok := d.secrets[ext]
	return sec, ok
}

// SRTP is ext's media.srtp (its own, else the switch's); sip.Options.SRTP.
func (d directory) SRTP(ext string) sbsip.SRTPPolicy {
	p := d.cfg.Media.SRTP
	if u, ok := d.cfg.User(ext); ok && u.SRTP != "" {
		p = u.SRTP
	}
	policy, _ := sbsip.ParseSRTPPolicy(p) // validated with the config
	return policy
}

// DisplayName implements sip.Users.
func (d directory) DisplayName(ext string) string {
	if u, ok := d.cfg.User(ext); ok {
		return u.Name
	}
	return ""
}

// User implements routing.Directory.
func (d directory) User(ext string) (routing.User, bool) {
	u, ok := d.cfg.User(ext)
	if !ok {
		return routing.User{}, false
	}
	return routing.User{Ext: u.Ext, NoAnswerTimeout: u.NoAnswerTimeout, Voicemail: u.VoicemailEnabled(),
		Screening: u.Screening}, true
}

// Group implements routing.Directory.
func (d directory) Group(ext string) (routing.Group, bool) {
	g, ok := d.cfg.Group(ext)
	if !ok {
		return routing.Group{}, false
	}
	return routing.Group{Ext: g.Ext, Name: g.Name, Sequential: g.Strategy == "sequential", Members: g.Members,
		RingTimeout: g.RingTimeout, Fallback: d.fallbacks[g.Ext]}, true
}

// Queue implements routing.Directory.
func (d directory) Queue(ext string) (routing.Queue, bool) {
	q, ok := d.cfg.Queue(ext)
	if !ok {
		return routing.Queue{}, false
	}
	return routing.Queue{Ext: q.Ext, Name: q.Name, Strategy: q.Strategy, Members: q.Members,
		RingTimeout: q.RingTimeout, MaxWait: q.MaxWait, Wrapup: q.Wrapup,
		AutoPause: q.AutoPause, AutoResume: q.AutoResume, MusicOnHold: d.music[q.Ext],
		AnnouncePosition: q.AnnouncePosition, Fallback: d.fallbacks[q.Ext]}, true
}

// Outbound implements routing.Directory: a dialled outbound_prefix + number goes to that trunk.
func (d directory) Outbound(dialled string) (routing.OutboundRoute, bool) {
	for _, t := range d.cfg.Trunks {
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
func (d directory) OutboundVia(trunk, number string) (routing.OutboundRoute, bool) {
	for _, t := range d.cfg.Trunks {
		if t.Name == trunk && t.Outbound != "" {
			return routing.OutboundRoute{Trunk: t.Name, Number: number, Transport: t.OutboundTarget.Transport,
				Addr: t.OutboundTarget.Addr()}, true
		}
	}
	return routing.OutboundRoute{}, false
}

// TrunkFor implements sip.InboundTrunks.
func (d directory) TrunkFor(addr netip.Addr) (string, map[string]string, bool) {
	t, ok := d.cfg.TrunkFor(addr)
	if !ok {
		return "", nil, false
	}
	return t.Name, t.DIDs, true
}

// Exists implements routing.Directory.
func (d directory) Exists(ext string) bool {
	if _, ok := d.cfg.User(ext); ok {
		return true
	}
	if _, ok := d.cfg.Group(ext); ok {
		return true
	}
	_, ok := d.cfg.Queue(ext)
	return ok
}

// Check implements api.Users: HTTP Basic uses the SIP password.
func (d directory) Check(ext, password string) (ok, admin bool) {
	u, found := d.cfg.User(ext)
	sec := d.secrets[ext]
	if !found {
		// Hash anyway so an unknown extension costs the same time as a wrong password.
		sec = digest.Secret{HA1SHA256: strings.Repeat("0", 64)}
	}
	if !sec.Matches(ext, d.cfg.SIP.Realm, password) || !found {
		return false, false
	}
	return true, u.Admin
}
