// Package config loads, defaults and validates Switchboard's YAML configuration.
//
// The file format is described in the project's interface spec. Loading is strict:
// unknown keys, values of the wrong type and every rule in validate.go are reported
// together as Problems, each naming the key path (for example
// `queues[0].members[2]: unknown user "1009"`), so that `switchboard -check` can print
// one line per problem and an operator can fix them all in one pass.
package config

import (
	_ "embed"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// demoYAML is the demo configuration that `switchboard` runs with no flags. It is the
// package's only global: embedded read-only data, never written.
//
//go:embed demo.yaml
var demoYAML []byte

// Config is a whole Switchboard configuration. Values returned by Load, Parse and Demo
// are defaulted and validated; treat them as read-only, since the lookup index built
// by Parse points into the slices.
type Config struct {
	SIP     SIP     `yaml:"sip"`
	Media   Media   `yaml:"media"`
	HTTP    HTTP    `yaml:"http"`
	DataDir string  `yaml:"data_dir"` // absolute after Parse; created by the program if missing
	Users   []User  `yaml:"users"`
	Groups  []Group `yaml:"groups"`
	Queues  []Queue `yaml:"queues"`
	Trunks  []Trunk `yaml:"trunks"`
	// Cluster joins this node to others serving the same team through NATS JetStream; nil
	// (the key absent) is one node with its embedded store.
	Cluster *Cluster `yaml:"cluster"`
	// File is the path Load read this config from, as given; "" for Parse and Demo. A running
	// switch re-reads it on SIGHUP.
	File string `yaml:"-"`

	// Indexes from extension to slice position, built by Parse so that lookups on the
	// call path do not scan.
	userIdx  map[string]int
	groupIdx map[string]int
	queueIdx map[string]int
}

// Cluster is a node's place in a cluster. Every node has the same users, groups, queues and
// trunks; statuses, registrations and calls are shared through NATS JetStream key-value buckets.
type Cluster struct {
	// Node names this node, unique in the cluster: letters, digits, '-' and '_', at most 64.
	Node string `yaml:"node"`
	// NATS lists the URLs of a NATS server or cluster with JetStream, e.g.
	// ["nats://10.0.0.1:4222", "nats://10.0.0.2:4222", "nats://10.0.0.3:4222"].
	NATS []string `yaml:"nats"`
	// NodeTTL is how long a silent node's calls and registrations count: after it, the other
	// nodes clear them (a node that died leaves no one Busy). Default 15s, at least 1s.
	NodeTTL time.Duration `yaml:"node_ttl"`
	// Replicas is how many NATS servers keep each bucket: 1 to 5; default 3 when NATS lists
	// three or more URLs (a NATS cluster, so that losing one server changes nothing), else 1.
	Replicas int `yaml:"replicas"`
}

// SIP holds the signalling settings.
type SIP struct {
	// Listen lists the sockets to serve, each "transport:host:port" with transport udp, tcp,
	// tls, ws or wss (SIP over WebSocket for browsers, RFC 7118), e.g. "udp:127.0.0.1:5060",
	// "tcp:[::1]:5060", "tls:0.0.0.0:5061", "ws:127.0.0.1:5066" or "wss:0.0.0.0:7443".
	Listen []string `yaml:"listen"`
	// TLSCert and TLSKey, both or neither, are the PEM certificate and key of tls and wss
	// listeners; when unset, those use http.tls_cert and http.tls_key.
	TLSCert string `yaml:"tls_cert"`
	TLSKey  string `yaml:"tls_key"`
	// Realm is the digest authentication realm; default "switchboard".
	Realm string `yaml:"realm"`
	// NonceTTL is how long a digest nonce stays fresh; older nonces are answered with
	// stale=true so the phone retries without asking the user. Default 5m.
	NonceTTL time.Duration `yaml:"nonce_ttl"`
	// DigestAlgorithms are the digest challenges sent, most preferred first: "MD5" and/or
	// "SHA-256". Default ["MD5"]: SIPp answers only the first challenge and baresip 1.0 refuses
	// a 401 with several; add "SHA-256" first when every phone speaks RFC 8760.
	DigestAlgorithms []string `yaml:"digest_algorithms"`
	// DigestSHA256Agents are User-Agent substrings (any case) of phones challenged SHA-256 first
	// and then with DigestAlgorithms' others (RFC 8760), whatever DigestAlgorithms says for the
	// rest. Default ["Linphone"] (tested); [] turns it off. Users stored as hashes then need
	// ha1_sha256 too.
	DigestSHA256Agents []string `yaml:"digest_sha256_agents"`
	// NAT decides where calls to a registered phone go: "auto" (default) the Contact, or the
	// REGISTER's source when the phone is behind NAT; "always" the source; "never" the Contact.
	NAT string `yaml:"nat"`
	// Permit and Deny list source addresses or networks ("203.0.113.7", "10.0.0.0/8") in the
	// manner of Asterisk's permit/deny: an address in Deny and not in Permit is refused before
	// anything it sends is read (datagrams dropped, connections closed). Default: both empty,
	// nobody refused. "Deny everything but the office and the carrier" is deny ["0.0.0.0/0",
	// "::/0"] with permit listing them.
	Permit []string `yaml:"permit"`
	Deny   []string `yaml:"deny"`
	// Flood limits the requests each source address may send, like Kamailio's pike.
	Flood Flood `yaml:"flood"`
	// LogGarbage is the level of the log lines about unparseable messages and floods, at most
	// one per source address a minute: "debug", "info" (default), "warn" or "error".
	LogGarbage string `yaml:"log_garbage"`
	// MaxConnections caps the SIP TCP, TLS and WebSocket connections open at once (default
	// 10000), and MaxConnectionsPerSource those from one address (default 100); past them a
	// new connection is closed at once.
	MaxConnections          int `yaml:"max_connections"`
	MaxConnectionsPerSource int `yaml:"max_connections_per_source"`
	// IdleTimeout closes a SIP TCP, TLS or WebSocket connection that has sent nothing for this
	// long (default 2m). A phone registered over a connection keeps it for its registration's
	// lifetime however quiet it is: the switch calls the phone over it.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// MaxCalls, MaxCallRate and OverloadDelay turn new calls away with 503 and Retry-After
	// (RetryAfter, default 5s) before the switch is too busy to serve them, so that the calls
	// up keep their audio and callers retry or go elsewhere at once: at most MaxCalls calls in
	// progress (default 0: no cap), at most MaxCallRate new calls a second (default 0: no
	// cap), and none while goroutines wait longer than OverloadDelay to run (the CPUs are
	// saturated; default 0: not watched). OverloadBacklog refuses them while more than this
	// many KiB of SIP wait unread in a UDP listener's receive queue (the kernel's accounting,
	// about twice the messages' size; default 1024; 0: not watched): messages arrive faster
	// than the switch reads them.
	MaxCalls        int           `yaml:"max_calls"`
	MaxCallRate     float64       `yaml:"max_call_rate"`
	OverloadDelay   time.Duration `yaml:"overload_delay"`
	OverloadBacklog int           `yaml:"overload_backlog"`
	RetryAfter      time.Duration `yaml:"retry_after"`
	// Listeners is Listen parsed, in the same order.
	Listeners []Listener `yaml:"-"`
	// PermitNets and DenyNets are Permit and Deny parsed.
	PermitNets, DenyNets []netip.Prefix `yaml:"-"`
}

// Flood is sip.flood: each source address may send Burst requests at once and Rate a second
// after that; a request past them is dropped unanswered. Phones send a few a minute.
type Flood struct {
	// Rate is requests a second per address; default 100, 0 turns the limit off.
	Rate float64 `yaml:"rate"`
	// Burst is requests at once; default twice the rate.
	Burst int `yaml:"burst"`
	// Trust lists addresses never limited (a load balancer in front, a carrier); default the
	// loopback networks, which only local programs can send from.
	Trust []string `yaml:"trust"`
	// TrustNets is Trust parsed.
	TrustNets []netip.Prefix `yaml:"-"`
}

// Listener is one parsed "transport:host:port" socket address.
type Listener struct {
	Transport string // "udp", "tcp", "tls", "ws" or "wss"
	Host      string // IP literal or host name, without brackets
	Port      int
}

// Addr returns host:port in the form net.Listen and net.Dial expect (IPv6 bracketed).
func (l Listener) Addr() string {
	return net.JoinHostPort(l.Host, strconv.Itoa(l.Port))
}

// String returns the listener in the config file's "transport:host:port" form.
func (l Listener) String() string {
	return l.Transport + ":" + l.Addr()
}

// Media holds the RTP relay settings.
type Media struct {
	// Address is the IP written into SDP for both call legs; default 127.0.0.1.
	Address string `yaml:"address"`
	// RTPPorts is the "MIN-MAX" port range for RTP (even ports; RTCP on port+1);
	// default "20000-29999".
	RTPPorts string `yaml:"rtp_ports"`
	// RTPTimeout ends a call when neither leg has sent RTP or RTCP for this long;
	// default 60s.
	RTPTimeout time.Duration `yaml:"rtp_timeout"`
	// SRTP is whether phones' media is encrypted (SRTP with SDES keys, RFC 4568): "optional"
	// (default: an SRTP offer is taken, calls to phones are offered plain RTP), "required"
	// (plain offers refused with 488, calls offered RTP/SAVP) or "off" (SRTP offers refused).
	// A user's own srtp overrides it.
	SRTP string `yaml:"srtp"`
	// KernelRelay is who relays a call's plain RTP once both phones have sent: "auto" (default:
	// the kernel, through a tc program, where the switch may load one, CAP_BPF and CAP_NET_ADMIN
	// on Linux 6.6 or later; the switch otherwise), "on" (the kernel, or the switch does not
	// start) or "off" (the switch, always).
	KernelRelay string `yaml:"kernel_relay"`
	// PortMin and PortMax are RTPPorts parsed: PortMin is even and PortMax >= PortMin+1,
	// so the range holds at least one RTP+RTCP pair.
	PortMin int `yaml:"-"`
	PortMax int `yaml:"-"`
}

// HTTP holds the API and web page settings.
type HTTP struct {
	// Listen is the host:port to serve on; default "127.0.0.1:8080".
	Listen string `yaml:"listen"`
	// TLSCert and TLSKey, both or neither, are PEM files: the page and the API are then served
	// over HTTPS (browsers give a page the microphone only on https or on localhost).
	TLSCert string `yaml:"tls_cert"`
	TLSKey  string `yaml:"tls_key"`
}

// User is one extension with a SIP account.
type User struct {
	Ext  string `yaml:"ext"`
	Name string `yaml:"name"`
	// Password is the SIP digest and page password, in clear text (the demo's way). Or give
	// its digest hashes instead, HA1MD5 and/or HA1SHA256 — the MD5 and SHA-256 of
	// "ext:realm:password" in hex, as `switchboard hash-password` prints them — so the file
	// does not hold the password. A hash is bound to sip.realm: changing the realm needs new
	// hashes. Every algorithm sip.digest_algorithms offers needs its hash (phones answer the
	// first they support); the validator says which is missing. An HA1 is not the password
	// but answers digest challenges as well as it: keep the file as private as passwords.
	Password  string `yaml:"password"`
	HA1MD5    string `yaml:"ha1_md5"`
	HA1SHA256 string `yaml:"ha1_sha256"`
	// Admin users may change other users' status and read everyone's history.
	Admin bool `yaml:"admin"`
	// NoAnswerTimeout is how long the user's phones ring before voicemail; default 20s.
	NoAnswerTimeout time.Duration `yaml:"no_answer_timeout"`
	// Screening asks the callee to accept each incoming call before it is connected.
	Screening bool `yaml:"screening"`
	// SRTP overrides media.srtp for this user's phones; empty: media.srtp.
	SRTP string `yaml:"srtp"`
	// Voicemail is a pointer so that an absent key can default to true; read it with
	// VoicemailEnabled. Parse always sets it.
	Voicemail *bool     `yaml:"voicemail"`
	Greetings Greetings `yaml:"greetings"`
}

// VoicemailEnabled reports whether the user has a voicemail box (true unless the
// config says `voicemail: false`).
func (u User) VoicemailEnabled() bool {
	return u.Voicemail == nil || *u.Voicemail
}

// Greetings are optional per-user WAV prompts. After Parse each non-empty entry is an
// absolute path to an existing file; empty means the built-in prompt.
type Greetings struct {
	Busy     string `yaml:"busy"`
	DND      string `yaml:"dnd"`
	NoAnswer string `yaml:"no_answer"`
}

// Group is a hunt group: one extension that rings several users.
type Group struct {
	Ext  string `yaml:"ext"`
	Name string `yaml:"name"`
	// Strategy is "ringall" (default) or "sequential".
	Strategy string   `yaml:"strategy"`
	Members  []string `yaml:"members"` // user extensions
	// RingTimeout is how long the group rings (each member, for sequential) before
	// the next member or the fallback; default 20s.
	RingTimeout time.Duration `yaml:"ring_timeout"`
	// Fallback is "hangup" (default), "voicemail:EXT" or "EXT" (user, group or queue).
	Fallback string `yaml:"fallback"`
}

// Queue is a call queue: callers wait with music until a member is free.
type Queue struct {
	Ext  string `yaml:"ext"`
	Name string `yaml:"name"`
	// Strategy is "ringall", "longest_idle" (default) or "round_robin".
	Strategy string   `yaml:"strategy"`
	Members  []string `yaml:"members"` // user extensions
	// RingTimeout is how long one offer rings an agent; default 15s.
	RingTimeout time.Duration `yaml:"ring_timeout"`
	// MaxWait is how long a caller waits before the fallback; default 5m.
	MaxWait time.Duration `yaml:"max_wait"`
	// Wrapup is the rest an agent gets after a call before the next offer; default 5s.
	// Unlike other durations it may be set to 0 (no rest).
	Wrapup time.Duration `yaml:"wrapup" check:"allowzero"`
	// MusicOnHold is an absolute path to a WAV file after Parse, or "" for built-in.
	MusicOnHold string `yaml:"music_on_hold"`
	// AnnouncePosition tells waiting callers their place in the queue.
	AnnouncePosition bool `yaml:"announce_position"`
	// Fallback is "hangup" (default), "voicemail:EXT" or "EXT" (user, group or queue).
	Fallback string `yaml:"fallback"`
	// AutoPause sets an agent who lets this many offers in a row ring out (or declines them)
	// to DND "missed N queue calls"; default 3, 0 never does.
	AutoPause int `yaml:"auto_pause"`
	// AutoResume ends such a DND by itself after this long; 0 (default) leaves it to the agent.
	AutoResume time.Duration `yaml:"auto_resume" check:"allowzero"`
}

// Trunk is a carrier or PBX that exchanges calls with Switchboard without digest auth.
type Trunk struct {
	Name string `yaml:"name"`
	// Allow lists source addresses accepted as this trunk: CIDRs or plain IPs.
	Allow []string `yaml:"allow"`
	// DIDs maps a number dialled at the trunk to a local extension.
	DIDs map[string]string `yaml:"dids"`
	// Outbound is where calls to outside numbers go: "udp:host:port" or "tcp:host:port".
	Outbound string `yaml:"outbound"`
	// OutboundPrefix is what users dial before an outside number; requires Outbound.
	OutboundPrefix string `yaml:"outbound_prefix"`
	// AllowNets is Allow parsed; plain IPs become /32 or /128, IPv4-mapped IPv6 is unmapped.
	AllowNets []netip.Prefix `yaml:"-" json:"-"`
	// OutboundTarget is Outbound parsed; zero when Outbound is empty.
	OutboundTarget Listener `yaml:"-" json:"-"`
}

// Allows reports whether a request from addr comes from this trunk.
func (t *Trunk) Allows(addr netip.Addr) bool {
	addr = addr.Unmap().WithZone("")
	for _, p := range t.AllowNets {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// Load reads, defaults and validates the YAML file at path. Relative paths inside it
// (data_dir, greetings, music_on_hold) are resolved against the file's directory.
// Validation failures come back as Problems, unwrapped, so that each line of the
// error is `path: message`; a YAML syntax error names the file and line.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("reading config %s: %w", path, err)
	}
	c, err := parse(data, filepath.Dir(abs), path)
	if err != nil {
		return nil, err
	}
	c.File = path
	return c, nil
}

// Parse does what Load does, from bytes; dir is the base for relative paths (the
// current directory when empty).
func Parse(data []byte, dir string) (*Config, error) {
	return parse(data, dir, "config")
}

// Demo returns the embedded demo config, parsed, defaulted and validated, with
// relative paths resolved against the current working directory.
func Demo() (*Config, error) {
	wd, err := os.Getwd()
	if err != nil {
		return nil, fmt.Errorf("demo config: %w", err)
	}
	c, err := parse(demoYAML, wd, "demo.yaml")
	if err != nil {
		return nil, fmt.Errorf("demo config: %w", err)
	}
	return c, nil
}

// DemoYAML returns a copy of the embedded demo file, for operators to start from.
func DemoYAML() []byte {
	return append([]byte(nil), demoYAML...)
}

// User returns the user with extension ext.
func (c *Config) User(ext string) (*User, bool) {
	i, ok := lookup(c.userIdx, len(c.Users), ext, func(i int) string { return c.Users[i].Ext })
	if !ok {
		return nil, false
	}
	return &c.Users[i], true
}

// Group returns the hunt group with extension ext.
func (c *Config) Group(ext string) (*Group, bool) {
	i, ok := lookup(c.groupIdx, len(c.Groups), ext, func(i int) string { return c.Groups[i].Ext })
	if !ok {
		return nil, false
	}
	return &c.Groups[i], true
}

// Queue returns the queue with extension ext.
func (c *Config) Queue(ext string) (*Queue, bool) {
	i, ok := lookup(c.queueIdx, len(c.Queues), ext, func(i int) string { return c.Queues[i].Ext })
	if !ok {
		return nil, false
	}
	return &c.Queues[i], true
}

// TrunkFor returns the trunk whose allow list contains addr. Validation guarantees
// that trunks' allow lists do not overlap, so the answer is unique.
func (c *Config) TrunkFor(addr netip.Addr) (*Trunk, bool) {
	for i := range c.Trunks {
		if c.Trunks[i].Allows(addr) {
			return &c.Trunks[i], true
		}
	}
	return nil, false
}

// lookup finds ext through idx, or by scanning when idx was never built (a Config
// assembled by hand in a test rather than by Parse).
func lookup(idx map[string]int, n int, ext string, extAt func(int) string) (int, bool) {
	if idx != nil {
		i, ok := idx[ext]
		return i, ok
	}
	for i := range n {
		if extAt(i) == ext {
			return i, true
		}
	}
	return 0, false
}

// buildIndex fills the extension indexes; called only once validation has shown the
// extensions to be unique.
func (c *Config) buildIndex() {
	c.userIdx = make(map[string]int, len(c.Users))
	for i, u := range c.Users {
		c.userIdx[u.Ext] = i
	}
	c.groupIdx = make(map[string]int, len(c.Groups))
	for i, g := range c.Groups {
		c.groupIdx[g.Ext] = i
	}
	c.queueIdx = make(map[string]int, len(c.Queues))
	for i, q := range c.Queues {
		c.queueIdx[q.Ext] = i
	}
}

// parse is Parse with a name for the source, used in syntax errors.
func parse(data []byte, dir, name string) (*Config, error) {
	base, err := baseDir(dir)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		// yaml.v3 messages already carry "line N".
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	d := newDecoder()
	var c Config
	if doc := documentBody(&root); doc != nil {
		d.decode("", doc, reflectValue(&c), false, 0)
	}
	applyDefaults(&c, d.lines)
	v := &validator{d: d}
	v.validate(&c, base)
	if probs := d.sorted(); len(probs) > 0 {
		return nil, probs
	}
	c.buildIndex()
	return &c, nil
}

// baseDir makes dir absolute, defaulting to the working directory, so that every
// resolved path in the Config is absolute whatever the process later chdirs to.
func baseDir(dir string) (string, error) {
	if dir == "" {
		dir = "."
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("resolving base directory %q: %w", dir, err)
	}
	return abs, nil
}

// resolve returns p made absolute against base; "" stays "".
func resolve(base, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(base, p)
}

// applyDefaults fills every key that the file left out or set to null. set holds the
// paths present in the file, so that an explicit value (even "" or a 0 wrapup) is kept
// and judged by validation rather than silently replaced.
func applyDefaults(c *Config, set map[string]int) {
	has := func(path string) bool { _, ok := set[path]; return ok }
	defStr := func(path string, p *string, v string) {
		if !has(path) {
			*p = v
		}
	}
	defDur := func(path string, p *time.Duration, v time.Duration) {
		if !has(path) {
			*p = v
		}
	}
	defStr("sip.realm", &c.SIP.Realm, "switchboard")
	defDur("sip.nonce_ttl", &c.SIP.NonceTTL, 5*time.Minute)
	defStr("sip.nat", &c.SIP.NAT, "auto")
	if !has("sip.digest_algorithms") {
		c.SIP.DigestAlgorithms = []string{"MD5"}
	}
	if !has("sip.digest_sha256_agents") {
		c.SIP.DigestSHA256Agents = []string{"Linphone"}
	}
	if !has("sip.flood.rate") {
		c.SIP.Flood.Rate = 100
	}
	if !has("sip.flood.burst") {
		c.SIP.Flood.Burst = int(2 * c.SIP.Flood.Rate)
	}
	if !has("sip.flood.trust") {
		c.SIP.Flood.Trust = []string{"127.0.0.0/8", "::1/128"}
	}
	defStr("sip.log_garbage", &c.SIP.LogGarbage, "info")
	if !has("sip.max_connections") {
		c.SIP.MaxConnections = 10000
	}
	if !has("sip.max_connections_per_source") {
		c.SIP.MaxConnectionsPerSource = 100
	}
	defDur("sip.idle_timeout", &c.SIP.IdleTimeout, 2*time.Minute)
	defDur("sip.retry_after", &c.SIP.RetryAfter, 5*time.Second)
	if !has("sip.overload_backlog") {
		c.SIP.OverloadBacklog = 1024
	}
	defStr("media.address", &c.Media.Address, "127.0.0.1")
	defStr("media.rtp_ports", &c.Media.RTPPorts, "20000-29999")
	defDur("media.rtp_timeout", &c.Media.RTPTimeout, 60*time.Second)
	defStr("media.srtp", &c.Media.SRTP, "optional")
	defStr("media.kernel_relay", &c.Media.KernelRelay, "auto")
	defStr("http.listen", &c.HTTP.Listen, "127.0.0.1:8080")
	defStr("data_dir", &c.DataDir, "./data")
	if c.Cluster != nil {
		defDur("cluster.node_ttl", &c.Cluster.NodeTTL, 15*time.Second)
		if !has("cluster.replicas") {
			c.Cluster.Replicas = 1
			if len(c.Cluster.NATS) >= 3 {
				c.Cluster.Replicas = 3
			}
		}
	}
	for i := range c.Users {
		u := &c.Users[i]
		p := index("users", i)
		defDur(field(p, "no_answer_timeout"), &u.NoAnswerTimeout, 20*time.Second)
		if u.Voicemail == nil {
			on := true
			u.Voicemail = &on
		}
	}
	for i := range c.Groups {
		g := &c.Groups[i]
		p := index("groups", i)
		defStr(field(p, "strategy"), &g.Strategy, "ringall")
		defDur(field(p, "ring_timeout"), &g.RingTimeout, 20*time.Second)
		defStr(field(p, "fallback"), &g.Fallback, "hangup")
	}
	for i := range c.Queues {
		q := &c.Queues[i]
		p := index("queues", i)
		defStr(field(p, "strategy"), &q.Strategy, "longest_idle")
		defDur(field(p, "ring_timeout"), &q.RingTimeout, 15*time.Second)
		defDur(field(p, "max_wait"), &q.MaxWait, 5*time.Minute)
		defDur(field(p, "wrapup"), &q.Wrapup, 5*time.Second)
		defStr(field(p, "fallback"), &q.Fallback, "hangup")
		if !has(field(p, "auto_pause")) {
			q.AutoPause = 3
		}
	}
}

// field joins a key onto a key path: field("sip", "listen") = "sip.listen".
func field(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// index joins a list position onto a key path: index("users", 2) = "users[2]".
func index(parent string, i int) string {
	return parent + "[" + strconv.Itoa(i) + "]"
}

// parent strips the last component of a key path, or returns "" at the top.
func parent(path string) string {
	i := strings.LastIndexAny(path, ".[")
	if i < 0 {
		return ""
	}
	return path[:i]
}
