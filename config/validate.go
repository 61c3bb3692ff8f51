package config

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Kinds of extension owner, used in messages ("600" is a group, not a user).
const (
	kindUser  = "user"
	kindGroup = "group"
	kindQueue = "queue"
)

// owner is what an extension number belongs to and where it was defined.
type owner struct {
	path string // e.g. "groups[0].ext"
	kind string
}

// validator checks a decoded, defaulted Config, fills its parsed fields (Listeners,
// PortMin/PortMax, AllowNets, absolute paths) and records problems on the decoder.
type validator struct {
	d    *decoder
	c    *Config
	base string
	// exts maps every valid extension to its first definition; order keeps them in
	// file order so that messages come out the same on every run.
	exts  map[string]owner
	order []string
	users map[string]*User
}

func (v *validator) add(path, format string, args ...any) {
	v.d.add(path, format, args...)
}

// validate runs every check. Extensions are collected before groups, queues and
// trunks are checked, because those may refer to extensions defined further down.
func (v *validator) validate(c *Config, base string) {
	v.c, v.base = c, base
	v.exts = map[string]owner{}
	v.users = map[string]*User{}

	v.sip()
	v.media()
	v.http()
	v.dataDir()
	v.directory()
	v.cluster()
}

// directory checks the users, groups, queues and trunks, which WithDirectory checks alone.
func (v *validator) directory() {
	v.extensions()
	v.userSettings()
	v.groups()
	v.queues()
	v.fallbackLoops()
	v.trunks()
}

// clusterNode is what a node's name may be: it is a key in NATS subjects.
func clusterNode(name string) bool {
	if name == "" || len(name) > 64 {
		return false
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

func (v *validator) cluster() {
	c := v.c.Cluster
	if c == nil {
		return
	}
	if !clusterNode(c.Node) {
		v.add("cluster.node", "want a name of 1 to 64 letters, digits, '-' or '_', unique in the cluster, got %q", c.Node)
	}
	if len(c.NATS) == 0 {
		v.add("cluster.nats", `at least one NATS URL is required, e.g. ["nats://127.0.0.1:4222"]`)
	}
	for i, u := range c.NATS {
		if err := natsURL(u); err != nil {
			v.add(index("cluster.nats", i), "%v", err)
		}
	}
	hasUDP := false
	for _, l := range v.c.SIP.Listeners {
		hasUDP = hasUDP || l.Transport == "udp"
	}
	if !hasUDP && len(v.c.SIP.Listen) > 0 {
		v.add("sip.listen", "a cluster node needs a udp listener: the nodes send each other calls over it")
	}
	if c.NodeTTL < time.Second {
		v.add("cluster.node_ttl", "must be at least 1s, got %s", c.NodeTTL)
	}
	if c.Replicas < 1 || c.Replicas > 5 {
		v.add("cluster.replicas", "must be 1 to 5 (NATS servers keeping each bucket), got %d", c.Replicas)
	}
}

// natsURL checks one NATS server URL: nats:// or tls:// (or a bare host:port), with a port.
func natsURL(s string) error {
	rest, ok := strings.CutPrefix(s, "nats://")
	if !ok {
		rest, ok = strings.CutPrefix(s, "tls://")
	}
	if !ok && strings.Contains(s, "://") {
		return fmt.Errorf("want nats://host:port or tls://host:port, got %q", s)
	}
	if at := strings.LastIndex(rest, "@"); at >= 0 { // user:password@ or token@
		rest = rest[at+1:]
	}
	host, port, err := net.SplitHostPort(rest)
	if err != nil || host == "" {
		return fmt.Errorf("want nats://host:port, got %q", s)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("port of %q must be 1-65535", s)
	}
	return nil
}

func (v *validator) sip() {
	s := &v.c.SIP
	if len(s.Listen) == 0 {
		v.add("sip.listen", `at least one listener is required, e.g. ["udp:127.0.0.1:5060"]`)
	}
	first := map[string]int{}
	for i, entry := range s.Listen {
		p := index("sip.listen", i)
		// Port 0 (any free port) is allowed so that tests can start servers without
		// fixed ports; the program reports the port actually bound.
		l, err := parseTransportAddr(entry, true, "udp", "tcp", "tls", "ws", "wss")
		if err != nil {
			v.add(p, "%v", err)
			continue
		}
		if j, dup := first[l.String()]; dup && l.Port != 0 {
			v.add(p, "duplicate listener %q, also sip.listen[%d]", entry, j)
			continue
		}
		first[l.String()] = i
		s.Listeners = append(s.Listeners, l)
	}
	v.tlsPair("sip", &s.TLSCert, &s.TLSKey)
	for i, l := range s.Listeners {
		if (l.Transport == "wss" || l.Transport == "tls") && s.TLSCert == "" && v.c.HTTP.TLSCert == "" {
			v.add(index("sip.listen", i), "a %s listener needs a certificate: set sip.tls_cert and sip.tls_key (or http.tls_cert and http.tls_key, which it then shares)", l.Transport)
		}
	}
	if s.Realm == "" {
		v.add("sip.realm", "must not be empty")
	}
	switch s.NAT {
	case "auto", "always", "never":
	default:
		v.add("sip.nat", `want auto, always or never, got %q`, s.NAT)
	}
	s.PermitNets = v.prefixes("sip.permit", s.Permit)
	s.DenyNets = v.prefixes("sip.deny", s.Deny)
	s.Flood.TrustNets = v.prefixes("sip.flood.trust", s.Flood.Trust)
	if s.Flood.Rate < 0 {
		v.add("sip.flood.rate", "must be 0 (off) or more, got %v", s.Flood.Rate)
	}
	if s.Flood.Rate > 0 && s.Flood.Burst < 1 {
		v.add("sip.flood.burst", "must be at least 1 when sip.flood.rate is set, got %d", s.Flood.Burst)
	}
	switch s.LogGarbage {
	case "debug", "info", "warn", "error":
	default:
		v.add("sip.log_garbage", `want debug, info, warn or error, got %q`, s.LogGarbage)
	}
	if s.MaxConnections < 1 {
		v.add("sip.max_connections", "must be at least 1, got %d", s.MaxConnections)
	}
	if s.MaxConnectionsPerSource < 1 {
		v.add("sip.max_connections_per_source", "must be at least 1, got %d", s.MaxConnectionsPerSource)
	}
	if s.MaxCalls < 0 {
		v.add("sip.max_calls", "must be 0 (no cap) or more, got %d", s.MaxCalls)
	}
	if s.MaxCallRate < 0 {
		v.add("sip.max_call_rate", "must be 0 (no cap) or more, got %v", s.MaxCallRate)
	}
	if s.OverloadBacklog < 0 {
		v.add("sip.overload_backlog", "must be 0 (not watched) or more KiB, got %d", s.OverloadBacklog)
	}
	if s.RetryAfter < time.Second {
		v.add("sip.retry_after", "must be at least 1s, got %s", s.RetryAfter)
	}
	if s.IdleTimeout < time.Second {
		v.add("sip.idle_timeout", "must be at least 1s, got %s", s.IdleTimeout)
	}
	if len(s.DigestAlgorithms) == 0 {
		v.add("sip.digest_algorithms", `at least one of "MD5", "SHA-256" is required`)
	}
	seenAlg := map[string]bool{}
	for i, alg := range s.DigestAlgorithms {
		p := index("sip.digest_algorithms", i)
		switch {
		case alg != "MD5" && alg != "SHA-256":
			v.add(p, `unknown algorithm %q: want "MD5" or "SHA-256"`, alg)
		case seenAlg[alg]:
			v.add(p, "%s listed twice", alg)
		}
		seenAlg[alg] = true
	}
	for i, a := range s.DigestSHA256Agents {
		if strings.TrimSpace(a) == "" {
			v.add(index("sip.digest_sha256_agents", i), "empty: a User-Agent substring such as \"Linphone\" is expected")
		}
	}
}

func (v *validator) media() {
	m := &v.c.Media
	v.srtpPolicy("media.srtp", m.SRTP, false)
	switch m.KernelRelay {
	case "auto", "on", "off":
	default:
		v.add("media.kernel_relay", "want auto, on or off, got %q", m.KernelRelay)
	}
	if addr, err := netip.ParseAddr(m.Address); err != nil {
		v.add("media.address", "want an IP address such as 127.0.0.1, got %q", m.Address)
	} else if addr.IsUnspecified() {
		// It is written into SDP: the far end must be able to send RTP to it.
		v.add("media.address", "must be an address phones can reach, not %s", addr)
	}
	if lo, hi, err := parsePortRange(m.RTPPorts); err != nil {
		v.add("media.rtp_ports", "%v", err)
	} else {
		m.PortMin, m.PortMax = lo, hi
	}
}

func (v *validator) http() {
	// An empty host (":8080") means all interfaces, as with net/http; port 0 is for tests.
	if _, _, err := splitHostPort(v.c.HTTP.Listen, true); err != nil {
		v.add("http.listen", "%v", err)
	}
	v.tlsPair("http", &v.c.HTTP.TLSCert, &v.c.HTTP.TLSKey)
}

// tlsPair checks a section's tls_cert and tls_key: both or neither, resolved against the
// config's directory, and a certificate and key that belong together.
func (v *validator) tlsPair(section string, cert, key *string) {
	switch {
	case *cert == "" && *key == "":
		return
	case *cert == "":
		v.add(section+".tls_cert", "is required with %s.tls_key", section)
		return
	case *key == "":
		v.add(section+".tls_key", "is required with %s.tls_cert", section)
		return
	}
	*cert, *key = resolve(v.base, *cert), resolve(v.base, *key)
	if _, err := tls.LoadX509KeyPair(*cert, *key); err != nil {
		v.add(section+".tls_cert", "with %s.tls_key: %v", section, err)
	}
}

func (v *validator) dataDir() {
	if v.c.DataDir == "" {
		v.add("data_dir", "must not be empty")
		return
	}
	v.c.DataDir = resolve(v.base, v.c.DataDir)
	// A missing directory is fine (it is created at start-up); a file in its place is not.
	if fi, err := os.Stat(v.c.DataDir); err == nil && !fi.IsDir() {
		v.add("data_dir", "%s exists and is not a directory", v.c.DataDir)
	}
}

// extensions checks every ext and records the valid ones; uniqueness spans users,
// groups and queues because they share one dial plan.
func (v *validator) extensions() {
	if len(v.c.Users) == 0 {
		v.add("users", "at least one user is required")
	}
	for i := range v.c.Users {
		p := index("users", i)
		if v.ext(p, v.c.Users[i].Ext, kindUser) {
			v.users[v.c.Users[i].Ext] = &v.c.Users[i]
		}
	}
	for i := range v.c.Groups {
		v.ext(index("groups", i), v.c.Groups[i].Ext, kindGroup)
	}
	for i := range v.c.Queues {
		v.ext(index("queues", i), v.c.Queues[i].Ext, kindQueue)
	}
}

// ext validates one extension number at path.ext and registers it; it reports whether
// the extension was valid and new.
func (v *validator) ext(path, ext, kind string) bool {
	p := field(path, "ext")
	switch {
	case ext == "":
		v.add(p, "must not be empty")
	case ext[0] == '*':
		v.add(p, "must not start with '*': star codes are reserved for features such as *78")
	case !isDigits(ext):
		v.add(p, "want digits only, got %q", ext)
	default:
		if o, dup := v.exts[ext]; dup {
			v.add(p, "duplicate extension %q, also %s", ext, o.path)
			return false
		}
		v.exts[ext] = owner{path: p, kind: kind}
		v.order = append(v.order, ext)
		return true
	}
	return false
}

func (v *validator) userSettings() {
	for i := range v.c.Users {
		u := &v.c.Users[i]
		p := index("users", i)
		v.srtpPolicy(field(p, "srtp"), u.SRTP, true)
		v.hash(field(p, "ha1_md5"), &u.HA1MD5, 32)
		v.hash(field(p, "ha1_sha256"), &u.HA1SHA256, 64)
		if u.Password != "" && (u.HA1MD5 != "" || u.HA1SHA256 != "") {
			v.add(field(p, "password"), "give the password or its hashes (ha1_md5, ha1_sha256), not both")
		}
		if u.Password == "" && u.HA1MD5 == "" && u.HA1SHA256 == "" {
			v.add(field(p, "password"), "must not be empty (or give ha1_md5 and ha1_sha256)")
		}
		if u.Password == "" && (u.HA1MD5 != "" || u.HA1SHA256 != "") {
			v.offeredHashes(p, u)
		}
		g := field(p, "greetings")
		v.file(field(g, "busy"), &u.Greetings.Busy)
		v.file(field(g, "dnd"), &u.Greetings.DND)
		v.file(field(g, "no_answer"), &u.Greetings.NoAnswer)
	}
}

func (v *validator) groups() {
	for i := range v.c.Groups {
		g := &v.c.Groups[i]
		p := index("groups", i)
		switch g.Strategy {
		case "ringall", "sequential":
		default:
			v.add(field(p, "strategy"), "want ringall or sequential, got %q", g.Strategy)
		}
		v.members(field(p, "members"), g.Members)
		v.fallback(field(p, "fallback"), g.Fallback, g.Ext)
	}
}

func (v *validator) queues() {
	for i := range v.c.Queues {
		q := &v.c.Queues[i]
		p := index("queues", i)
		switch q.Strategy {
		case "ringall", "longest_idle", "round_robin":
		default:
			v.add(field(p, "strategy"), "want ringall, longest_idle or round_robin, got %q", q.Strategy)
		}
		v.members(field(p, "members"), q.Members)
		v.file(field(p, "music_on_hold"), &q.MusicOnHold)
		v.fallback(field(p, "fallback"), q.Fallback, q.Ext)
		if q.AutoPause < 0 || q.AutoPause > 100 {
			v.add(field(p, "auto_pause"), "want 0 (never) to 100 missed offers, got %d", q.AutoPause)
		}
		if q.AutoResume < 0 || q.AutoResume > 366*24*time.Hour {
			v.add(field(p, "auto_resume"), "want 0 (never) up to a year, got %s", q.AutoResume)
		}
	}
}

// members checks a group's or queue's member list: each a known user, once.
func (v *validator) members(path string, members []string) {
	if len(members) == 0 {
		v.add(path, "at least one member is required")
	}
	first := map[string]int{}
	for i, m := range members {
		p := index(path, i)
		if j, dup := first[m]; dup {
			v.add(p, "duplicate member %q, also %s", m, index(path, j))
			continue
		}
		first[m] = i
		if o, ok := v.exts[m]; !ok {
			v.add(p, "unknown user %q", m)
		} else if o.kind != kindUser {
			v.add(p, "%q is a %s, not a user", m, o.kind)
		}
	}
}

// fallback checks "hangup", "voicemail:EXT" (EXT a user with voicemail) or "EXT" (a
// user, group or queue other than self).
func (v *validator) fallback(path, fb, self string) {
	if fb == "hangup" {
		return
	}
	if ext, ok := strings.CutPrefix(fb, "voicemail:"); ok {
		u, found := v.users[ext]
		switch {
		case !found:
			v.add(path, "unknown user %q in %q", ext, fb)
		case !u.VoicemailEnabled():
			v.add(path, "user %q has voicemail turned off", ext)
		}
		return
	}
	if !isDigits(fb) {
		v.add(path, "want hangup, voicemail:EXT or EXT, got %q", fb)
		return
	}
	if _, ok := v.exts[fb]; !ok {
		v.add(path, "unknown extension %q", fb)
	} else if fb == self {
		v.add(path, "falls back to itself")
	}
}

// fallbackLoops finds groups and queues whose fallbacks lead back to themselves
// (600 -> 700 -> 600), which would bounce a caller around forever. Each loop is
// reported once, at its member that comes first in the file.
func (v *validator) fallbackLoops() {
	next := map[string]string{} // group/queue ext -> group/queue it falls back to
	paths := map[string]string{}
	var order []string
	add := func(path, ext, fb string) {
		if o, ok := v.exts[fb]; ok && o.kind != kindUser && fb != ext && v.exts[ext].path == field(path, "ext") {
			next[ext] = fb
		}
		paths[ext] = field(path, "fallback")
		order = append(order, ext)
	}
	for i, g := range v.c.Groups {
		add(index("groups", i), g.Ext, g.Fallback)
	}
	for i, q := range v.c.Queues {
		add(index("queues", i), q.Ext, q.Fallback)
	}
	rank := map[string]int{}
	for i, ext := range order {
		if _, ok := rank[ext]; !ok {
			rank[ext] = i
		}
	}
	for _, start := range order {
		chain := []string{start}
		for cur, ok := next[start]; ok; cur, ok = next[cur] {
			chain = append(chain, cur)
			if cur == start {
				if lowestRank(chain, rank) == start {
					v.add(paths[start], "fallback loop %s", strings.Join(chain, " -> "))
				}
				break
			}
			if slices.Contains(chain[:len(chain)-1], cur) || len(chain) > len(order)+1 {
				break // a loop that does not pass through start; found from its own members
			}
		}
	}
}

// lowestRank returns the chain member that appears first in the file.
func lowestRank(chain []string, rank map[string]int) string {
	best := chain[0]
	for _, e := range chain[1:] {
		if rank[e] < rank[best] {
			best = e
		}
	}
	return best
}

func (v *validator) trunks() {
	type allowed struct {
		trunk int
		path  string
		net   netip.Prefix
	}
	var nets []allowed
	names := map[string]int{}
	var prefixes []prefixAt
	for i := range v.c.Trunks {
		t := &v.c.Trunks[i]
		p := index("trunks", i)
		if t.Name == "" {
			v.add(field(p, "name"), "must not be empty")
		} else if j, dup := names[t.Name]; dup {
			v.add(field(p, "name"), "duplicate trunk name %q, also trunks[%d].name", t.Name, j)
		} else {
			names[t.Name] = i
		}

		for j, a := range t.Allow {
			ap := index(field(p, "allow"), j)
			n, err := parseAllow(a)
			if err != nil {
				v.add(ap, "want a CIDR such as 192.0.2.0/24 or an IP address, got %q", a)
				continue
			}
			// Overlapping trunks would make "which trunk is this?" depend on order.
			for _, o := range nets {
				if o.trunk != i && o.net.Overlaps(n) {
					v.add(ap, "%s overlaps %s (%s): a source address must identify one trunk", n, o.path, o.net)
				}
			}
			nets = append(nets, allowed{trunk: i, path: ap, net: n})
			t.AllowNets = append(t.AllowNets, n)
		}

		dids := make([]string, 0, len(t.DIDs))
		for did := range t.DIDs {
			dids = append(dids, did)
		}
		slices.Sort(dids)
		for _, did := range dids {
			dp := field(field(p, "dids"), did)
			if !isDigits(strings.TrimPrefix(did, "+")) {
				v.add(dp, "want a number (digits, optional leading +), got %q", did)
			}
			if target := t.DIDs[did]; v.exts[target].path == "" {
				v.add(dp, "unknown extension %q", target)
			}
		}

		if t.Outbound != "" {
			if l, err := parseTransportAddr(t.Outbound, false, "udp", "tcp"); err != nil {
				v.add(field(p, "outbound"), "%v", err)
			} else {
				t.OutboundTarget = l
			}
		}
		prefixes = v.outboundPrefix(field(p, "outbound_prefix"), t, prefixes)
	}
}

// outboundPrefix checks a trunk's dial-out prefix: digits, backed by an outbound
// target, and not ambiguous with another trunk's prefix or with a local extension.
// It returns prefixes with this one appended when valid.
func (v *validator) outboundPrefix(path string, t *Trunk, prefixes []prefixAt) []prefixAt {
	pre := t.OutboundPrefix
	if pre == "" {
		return prefixes
	}
	if !isDigits(pre) {
		v.add(path, "want digits only, got %q", pre)
		return prefixes
	}
	if t.Outbound == "" {
		v.add(path, "needs outbound: calls dialled with this prefix would have nowhere to go")
	}
	for _, o := range prefixes {
		if strings.HasPrefix(pre, o.prefix) || strings.HasPrefix(o.prefix, pre) {
			v.add(path, "prefix %q clashes with %s %q", pre, o.path, o.prefix)
		}
	}
	for _, ext := range v.order {
		if strings.HasPrefix(ext, pre) {
			v.add(path, "prefix %q makes extension %q (%s) ambiguous to dial", pre, ext, v.exts[ext].path)
		}
	}
	return append(prefixes, prefixAt{prefix: pre, path: path})
}

// prefixAt is an outbound prefix and the key path that set it.
type prefixAt struct {
	prefix, path string
}

// file resolves a WAV path against the config's directory and checks that it exists.
// The audio format is checked when the media layer loads it.
func (v *validator) file(path string, p *string) {
	if *p == "" {
		return
	}
	*p = resolve(v.base, *p)
	fi, err := os.Stat(*p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		v.add(path, "file %s does not exist", *p)
	case err != nil:
		v.add(path, "cannot read file: %v", err)
	case fi.IsDir():
		v.add(path, "%s is a directory, want a WAV file", *p)
	}
}

// parseTransportAddr parses "transport:host:port" (transport one of transports; IPv6 hosts
// bracketed). allowZeroPort admits port 0, meaning any free port.
func parseTransportAddr(s string, allowZeroPort bool, transports ...string) (Listener, error) {
	tr, addr, ok := strings.Cut(s, ":")
	if !ok {
		return Listener{}, fmt.Errorf("want transport:host:port such as \"udp:127.0.0.1:5060\", got %q", s)
	}
	tr = strings.ToLower(tr)
	if !slices.Contains(transports, tr) {
		return Listener{}, fmt.Errorf("transport %q in %q: want %s", tr, s, strings.Join(transports, ", "))
	}
	host, port, err := splitHostPort(addr, allowZeroPort)
	if err != nil {
		return Listener{}, fmt.Errorf("%q: %w", s, err)
	}
	if host == "" {
		return Listener{}, fmt.Errorf("%q: host is missing (0.0.0.0 or [::] means every interface)", s)
	}
	return Listener{Transport: tr, Host: host, Port: port}, nil
}

// splitHostPort parses host:port with a numeric port in range; the host may be empty
// but, if present, must be an IP literal or a plausible host name.
func splitHostPort(s string, allowZeroPort bool) (string, int, error) {
	host, ps, err := net.SplitHostPort(s)
	if err != nil {
		return "", 0, fmt.Errorf("want host:port such as \"127.0.0.1:8080\", got %q", s)
	}
	low := 1
	if allowZeroPort {
		low = 0
	}
	port, err := strconv.Atoi(ps)
	if err != nil || port < low || port > 65535 {
		return "", 0, fmt.Errorf("port %q: want a number from %d to 65535", ps, low)
	}
	if host != "" && !isHost(host) {
		return "", 0, fmt.Errorf("host %q: want an IP address or host name", host)
	}
	return host, port, nil
}

// isHost reports whether h is an IP literal or made of host-name characters.
func isHost(h string) bool {
	if _, err := netip.ParseAddr(h); err == nil {
		return true
	}
	for _, r := range h {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.') {
			return false
		}
	}
	return true
}

// parsePortRange parses "MIN-MAX": MIN even (RTP on even ports, RTCP on the next odd
// one), room for at least one RTP+RTCP pair, all within 1024..65535.
func parsePortRange(s string) (int, int, error) {
	a, b, ok := strings.Cut(s, "-")
	lo, errLo := strconv.Atoi(strings.TrimSpace(a))
	hi, errHi := strconv.Atoi(strings.TrimSpace(b))
	switch {
	case !ok || errLo != nil || errHi != nil:
		return 0, 0, fmt.Errorf("want \"MIN-MAX\" such as \"20000-29999\", got %q", s)
	case lo < 1024 || hi > 65535:
		return 0, 0, fmt.Errorf("range %d-%d must lie within 1024-65535", lo, hi)
	case lo%2 != 0:
		return 0, 0, fmt.Errorf("first port %d must be even: RTP uses even ports, RTCP the odd port above", lo)
	case hi < lo+1:
		return 0, 0, fmt.Errorf("range %d-%d has no room for one RTP+RTCP port pair", lo, hi)
	}
	return lo, hi, nil
}

// parseAllow parses a trunk allow entry: a CIDR, or a plain IP taken as a single host.
// IPv4-mapped IPv6 is unmapped so that it matches IPv4 sources.
func parseAllow(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			return netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96).Masked(), nil
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("parsing allow entry %q: %w", s, err)
	}
	a = a.Unmap().WithZone("")
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// isDigits reports whether s is non-empty and all ASCII digits.
func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// prefixes parses a list of addresses and networks ("203.0.113.7", "10.0.0.0/8"); a bare
// address is the network of that address alone.
func (v *validator) prefixes(key string, list []string) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(list))
	for i, entry := range list {
		if a, err := netip.ParseAddr(entry); err == nil {
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(entry)
		if err != nil {
			v.add(index(key, i), "want an address or a network such as 10.0.0.0/8, got %q", entry)
			continue
		}
		out = append(out, p.Masked())
	}
	return out
}

// hash checks a digest HA1: digits hex digits, kept in lowercase as digests are compared. The
// message does not quote the value: an HA1 lets whoever reads it answer digest challenges as
// the user, and a mistyped one is nearly the right one, so it stays out of terminals and logs.
func (v *validator) hash(key string, h *string, digits int) {
	switch {
	case *h == "":
		return
	case len(*h) != digits:
		v.add(key, "want %d hexadecimal digits (switchboard hash-password prints it), got %d characters", digits, len(*h))
		return
	case strings.Trim(strings.ToLower(*h), "0123456789abcdef") != "":
		v.add(key, "want %d hexadecimal digits (switchboard hash-password prints it), got other characters", digits)
		return
	}
	*h = strings.ToLower(*h)
}

// offeredHashes checks that a user stored as hashes has the hash of every algorithm
// sip.digest_algorithms challenges with. A phone answers the first challenge it supports, and
// the challenges are the same for every user (so that they do not tell which users exist), so
// a missing hash would lock that user's phones out with nothing but "wrong password" to show.
func (v *validator) offeredHashes(p string, u *User) {
	sha256 := false
	for _, alg := range v.c.SIP.DigestAlgorithms {
		switch {
		case alg == "MD5" && u.HA1MD5 == "":
			v.add(field(p, "ha1_md5"), "required: sip.digest_algorithms offers MD5 (switchboard hash-password prints it)")
		case alg == "SHA-256":
			sha256 = true
			if u.HA1SHA256 == "" {
				v.add(field(p, "ha1_sha256"), "required: sip.digest_algorithms offers SHA-256 (switchboard hash-password prints it)")
			}
		}
	}
	if !sha256 && len(v.c.SIP.DigestSHA256Agents) > 0 && u.HA1SHA256 == "" {
		v.add(field(p, "ha1_sha256"), "required: sip.digest_sha256_agents offers SHA-256 to those phones "+
			"(switchboard hash-password prints it; or set digest_sha256_agents: [])")
	}
}

// srtpPolicy checks a media.srtp value; a user's may be empty (media.srtp then).
func (v *validator) srtpPolicy(key, p string, emptyOK bool) {
	switch {
	case p == "optional", p == "required", p == "off", p == "" && emptyOK:
	default:
		v.add(key, "want optional, required or off, got %q", p)
	}
}
