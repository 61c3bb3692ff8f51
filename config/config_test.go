package config

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// minimal is the smallest valid config; cases append sections to it.
const minimal = `
sip: {listen: ["udp:127.0.0.1:5060"]}
users:
  - {ext: "1001", password: a}
  - {ext: "1002", password: b}
  - ext: "1003"
    password: c
`

func TestDemo(t *testing.T) {
	c, err := Demo()
	if err != nil {
		t.Fatalf("Demo: %v", err)
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(DemoYAML(), demoYAML) {
		t.Error("DemoYAML differs from the embedded file")
	}
	tests := map[string]struct{ got, want any }{
		"listeners": {c.SIP.Listeners, []Listener{
			{Transport: "udp", Host: "127.0.0.1", Port: 5060},
			{Transport: "tcp", Host: "127.0.0.1", Port: 5060},
			{Transport: "ws", Host: "127.0.0.1", Port: 5066},
		}},
		"realm":        {c.SIP.Realm, "switchboard"},
		"nat":          {c.SIP.NAT, "auto"},
		"http":         {c.HTTP.Listen, "127.0.0.1:8080"},
		"data dir":     {c.DataDir, filepath.Join(wd, "data")},
		"media":        {[]any{c.Media.Address, c.Media.PortMin, c.Media.PortMax}, []any{"127.0.0.1", 20000, 29999}},
		"user count":   {len(c.Users), 5},
		"user names":   {names(c), []string{"1001 Alice alice-secret", "1002 Bob bob-secret", "1003 Carol carol-secret", "1004 Dave dave-secret", "1005 Erin erin-secret"}},
		"admins":       {[]bool{c.Users[0].Admin, c.Users[1].Admin}, []bool{true, false}},
		"group":        {[]any{c.Groups[0].Ext, c.Groups[0].Name, c.Groups[0].Strategy, c.Groups[0].Members}, []any{"600", "Sales", "ringall", []string{"1001", "1002", "1003"}}},
		"queue":        {[]any{c.Queues[0].Ext, c.Queues[0].Name, c.Queues[0].Members, c.Queues[0].Fallback}, []any{"700", "Support", []string{"1002", "1003", "1004"}, "voicemail:1002"}},
		"no trunks":    {len(c.Trunks), 0},
		"music empty":  {c.Queues[0].MusicOnHold, ""},
		"voicemail on": {c.Users[4].VoicemailEnabled(), true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if !reflect.DeepEqual(tc.got, tc.want) {
				t.Errorf("got %#v, want %#v", tc.got, tc.want)
			}
		})
	}
}

func names(c *Config) []string {
	var out []string
	for _, u := range c.Users {
		out = append(out, u.Ext+" "+u.Name+" "+u.Password)
	}
	return out
}

// TestClusterDefaults: node_ttl 15s; replicas 3 when NATS lists a cluster, else 1.
func TestClusterDefaults(t *testing.T) {
	for _, tc := range []struct {
		nats     string
		replicas int
	}{
		{`["nats://127.0.0.1:4222"]`, 1},
		{`["nats://a:4222", "nats://b:4222", "tls://c:4222"]`, 3},
	} {
		c, err := Parse([]byte(minimal+"cluster: {node: n1, nats: "+tc.nats+"}\n"), t.TempDir())
		if err != nil {
			t.Fatalf("Parse: %v", err)
		}
		if c.Cluster.NodeTTL != 15*time.Second || c.Cluster.Replicas != tc.replicas || c.Cluster.Node != "n1" {
			t.Errorf("nats %s: %+v, want node_ttl 15s and %d replicas", tc.nats, *c.Cluster, tc.replicas)
		}
	}
}

func TestDefaults(t *testing.T) {
	dir := t.TempDir()
	c, err := Parse([]byte(minimal+`
groups: [{ext: "600", members: ["1001"]}]
queues:
  - {ext: "700", members: ["1001"]}
  - {ext: "701", members: ["1001"], wrapup: 0s, ring_timeout: ~}
`), dir)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	tests := map[string]struct{ got, want any }{
		"realm":              {c.SIP.Realm, "switchboard"},
		"nonce ttl":          {c.SIP.NonceTTL, 5 * time.Minute},
		"digest algorithms":  {strings.Join(c.SIP.DigestAlgorithms, ","), "MD5"},
		"SHA-256 first for":  {strings.Join(c.SIP.DigestSHA256Agents, ","), "Linphone"},
		"media address":      {c.Media.Address, "127.0.0.1"},
		"rtp ports":          {c.Media.RTPPorts, "20000-29999"},
		"port min":           {c.Media.PortMin, 20000},
		"port max":           {c.Media.PortMax, 29999},
		"rtp timeout":        {c.Media.RTPTimeout, 60 * time.Second},
		"http listen":        {c.HTTP.Listen, "127.0.0.1:8080"},
		"data dir":           {c.DataDir, filepath.Join(dir, "data")},
		"no answer timeout":  {c.Users[0].NoAnswerTimeout, 20 * time.Second},
		"voicemail set":      {c.Users[0].Voicemail != nil && *c.Users[0].Voicemail, true},
		"group strategy":     {c.Groups[0].Strategy, "ringall"},
		"group ring":         {c.Groups[0].RingTimeout, 20 * time.Second},
		"group fallback":     {c.Groups[0].Fallback, "hangup"},
		"queue strategy":     {c.Queues[0].Strategy, "longest_idle"},
		"queue ring":         {c.Queues[0].RingTimeout, 15 * time.Second},
		"queue max wait":     {c.Queues[0].MaxWait, 5 * time.Minute},
		"queue wrapup":       {c.Queues[0].Wrapup, 5 * time.Second},
		"queue fallback":     {c.Queues[0].Fallback, "hangup"},
		"queue auto-pause":   {c.Queues[0].AutoPause, 3},
		"queue auto-resume":  {c.Queues[0].AutoResume, time.Duration(0)},
		"explicit 0 wrapup":  {c.Queues[1].Wrapup, time.Duration(0)},
		"null means default": {c.Queues[1].RingTimeout, 15 * time.Second},
		"flood rate":         {c.SIP.Flood.Rate, 100.0},
		"flood burst":        {c.SIP.Flood.Burst, 200},
		"flood trust":        {fmt.Sprint(c.SIP.Flood.TrustNets), "[127.0.0.0/8 ::1/128]"},
		"log garbage":        {c.SIP.LogGarbage, "info"},
		"max connections":    {c.SIP.MaxConnections, 10000},
		"per source":         {c.SIP.MaxConnectionsPerSource, 100},
		"overload backlog":   {c.SIP.OverloadBacklog, 1024},
		"idle timeout":       {c.SIP.IdleTimeout, 2 * time.Minute},
		"srtp":               {c.Media.SRTP, "optional"},
		"kernel relay":       {c.Media.KernelRelay, "auto"},
		"nobody denied":      {len(c.SIP.DenyNets), 0},
		"one node":           {c.Cluster == (*Cluster)(nil), true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if !reflect.DeepEqual(tc.got, tc.want) {
				t.Errorf("got %#v, want %#v", tc.got, tc.want)
			}
		})
	}
}

func TestExplicitValuesKept(t *testing.T) {
	c, err := Parse([]byte(`
sip:
  listen: ["tcp:[::1]:5070", "UDP:0.0.0.0:0"]
  realm: example.com
  nonce_ttl: 90s
media: {address: "::1", rtp_ports: "30000 - 30001", rtp_timeout: 1m}
http: {listen: ":9000"}
data_dir: /var/lib/switchboard
users:
  - ext: 1001
    password: p
    voicemail: false
    admin: True
trunks:
  - name: carrier
    allow: ["192.0.2.7", "2001:db8::/32", "::ffff:198.51.100.1"]
    dids: {"+15551230000": "1001"}
    outbound: "udp:192.0.2.7:5090"
    outbound_prefix: "9"
`), "")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	tests := map[string]struct{ got, want any }{
		"listeners":    {c.SIP.Listeners, []Listener{{"tcp", "::1", 5070}, {"udp", "0.0.0.0", 0}}},
		"addr v6":      {c.SIP.Listeners[0].Addr(), "[::1]:5070"},
		"string":       {c.SIP.Listeners[0].String(), "tcp:[::1]:5070"},
		"realm":        {c.SIP.Realm, "example.com"},
		"nonce":        {c.SIP.NonceTTL, 90 * time.Second},
		"ports":        {[]int{c.Media.PortMin, c.Media.PortMax}, []int{30000, 30001}},
		"data dir":     {c.DataDir, "/var/lib/switchboard"},
		"unquoted ext": {c.Users[0].Ext, "1001"},
		"voicemail":    {c.Users[0].VoicemailEnabled(), false},
		"admin":        {c.Users[0].Admin, true},
		"allow nets": {c.Trunks[0].AllowNets, []netip.Prefix{
			netip.MustParsePrefix("192.0.2.7/32"),
			netip.MustParsePrefix("2001:db8::/32"),
			netip.MustParsePrefix("198.51.100.1/32"),
		}},
		"outbound": {c.Trunks[0].OutboundTarget, Listener{"udp", "192.0.2.7", 5090}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if !reflect.DeepEqual(tc.got, tc.want) {
				t.Errorf("got %#v, want %#v", tc.got, tc.want)
			}
		})
	}
}

func TestProblems(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "busy.wav"), []byte("RIFF"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "sounds"), 0o700); err != nil {
		t.Fatal(err)
	}
	// Each want entry is the start of one problem line, in order; the problem count
	// must match exactly so that follow-on noise is caught too.
	tests := map[string]struct {
		yaml string
		want []string
	}{
		"unknown top-level key": {
			minimal + "sipp: {}\n",
			[]string{`sipp: unknown key, did you mean "sip"? (line 8)`},
		},
		"unknown key in section": {
			"sip:\n  lisen: [\"udp:127.0.0.1:5060\"]\n" + strings.TrimPrefix(minimal, "\nsip: {listen: [\"udp:127.0.0.1:5060\"]}\n"),
			[]string{`sip.lisen: unknown key, did you mean "listen"? (line 2)`, `sip.listen: at least one listener`},
		},
		"unknown digest algorithm": {
			strings.Replace(minimal, "sip: {", "sip: {digest_algorithms: [SHA-256, SHA-1], ", 1),
			[]string{`sip.digest_algorithms[1]: unknown algorithm "SHA-1"`},
		},
		"unknown key at depth": {
			minimal + "    greetings: {bussy: x.wav}\n",
			[]string{`users[2].greetings.bussy: unknown key, did you mean "busy"? (line 8)`},
		},
		"unknown key without suggestion": {
			minimal + "queues: [{ext: \"700\", members: [\"1001\"], colour: blue}]\n",
			[]string{`queues[0].colour: unknown key (line 8)`},
		},
		"wrong type boolean": {
			minimal + "    admin: yes\n",
			[]string{`users[2].admin: want a boolean (true or false), got "yes" (line 8)`},
		},
		"wrong type list silences follow-on": {
			strings.Replace(minimal, `["udp:127.0.0.1:5060"]`, `"udp:127.0.0.1:5060"`, 1),
			[]string{`sip.listen: want a list, got "udp:127.0.0.1:5060" (line 2)`},
		},
		"wrong type mapping for string": {
			minimal + "    name: {first: Carol}\n",
			[]string{`users[2].name: want a string, got a mapping`},
		},
		"wrong type for user entry": {
			minimal + "  - \"1004\"\n",
			[]string{`users[3]: want a mapping, got "1004" (line 8)`},
		},
		"bad duration": {
			minimal + "    no_answer_timeout: 20\n",
			[]string{`users[2].no_answer_timeout: want a duration such as "20s" or "5m", got "20"`},
		},
		"zero duration": {
			minimal + "groups: [{ext: \"600\", members: [\"1001\"], ring_timeout: 0s}]\n",
			[]string{`groups[0].ring_timeout: must be greater than 0, got "0s"`},
		},
		"auto-pause out of range": {
			minimal + "queues: [{ext: \"700\", members: [\"1001\"], auto_pause: -1, auto_resume: 9000h}]\n",
			[]string{`queues[0].auto_pause: want 0 (never) to 100 missed offers, got -1`,
				`queues[0].auto_resume: want 0 (never) up to a year, got 9000h0m0s`},
		},
		"negative wrapup": {
			minimal + "queues: [{ext: \"700\", members: [\"1001\"], wrapup: -1s}]\n",
			[]string{`queues[0].wrapup: must not be negative`},
		},
		"duplicate key": {
			minimal + "data_dir: a\ndata_dir: b\n",
			[]string{`data_dir: duplicate key, first set on line 8 (line 9)`},
		},
		"top level not a mapping": {
			"- 1\n- 2\n",
			[]string{`want a mapping, got a list (line 1)`},
		},
		"empty file": {
			"",
			[]string{`sip.listen: at least one listener`, `users: at least one user is required`},
		},
		"duplicate user ext": {
			minimal + "  - {ext: \"1002\", password: d}\n",
			[]string{`users[3].ext: duplicate extension "1002", also users[1].ext`},
		},
		"group ext clashes with user": {
			minimal + "groups: [{ext: \"1001\", members: [\"1002\"]}]\n",
			[]string{`groups[0].ext: duplicate extension "1001", also users[0].ext`},
		},
		"queue ext clashes with group": {
			minimal + "groups: [{ext: \"600\", members: [\"1002\"]}]\nqueues: [{ext: \"600\", members: [\"1002\"]}]\n",
			[]string{`queues[0].ext: duplicate extension "600", also groups[0].ext`},
		},
		"bad extensions": {
			minimal + "  - {ext: \"*78\", password: d}\n  - {ext: \"10a1\", password: e}\n  - {password: f}\n  - {ext: \"1009\"}\n",
			[]string{
				`users[3].ext: must not start with '*'`,
				`users[4].ext: want digits only, got "10a1"`,
				`users[5].ext: must not be empty`,
				`users[6].password: must not be empty`,
			},
		},
		"no users": {
			"sip: {listen: [\"udp:127.0.0.1:5060\"]}\nusers: []\n",
			[]string{`users: at least one user is required`},
		},
		"unknown queue member": {
			minimal + "queues: [{ext: \"700\", members: [\"1001\", \"1002\", \"1009\"]}]\n",
			[]string{`queues[0].members[2]: unknown user "1009"`},
		},
		"duplicate and non-user members": {
			minimal + "groups:\n  - {ext: \"600\", members: [\"1001\", \"1001\", \"601\"]}\n  - {ext: \"601\", members: []}\n",
			[]string{
				`groups[0].members[1]: duplicate member "1001", also groups[0].members[0]`,
				`groups[0].members[2]: "601" is a group, not a user`,
				`groups[1].members: at least one member is required`,
			},
		},
		"bad strategies": {
			minimal + "groups: [{ext: \"600\", members: [\"1001\"], strategy: longest_idle}]\nqueues: [{ext: \"700\", members: [\"1001\"], strategy: random}]\n",
			[]string{
				`groups[0].strategy: want ringall or sequential, got "longest_idle"`,
				`queues[0].strategy: want ringall, longest_idle or round_robin, got "random"`,
			},
		},
		"bad listen entries": {
			strings.Replace(minimal, `["udp:127.0.0.1:5060"]`,
				`["udp:127.0.0.1:5060", "sctp:127.0.0.1:5060", "udp:127.0.0.1", "tcp:127.0.0.1:70000", "udp::5060", "127.0.0.1", "udp:127.0.0.1:5060"]`, 1),
			[]string{
				`sip.listen[1]: transport "sctp"`,
				`sip.listen[2]: "udp:127.0.0.1": want host:port`,
				`sip.listen[3]: "tcp:127.0.0.1:70000": port "70000": want a number from 0 to 65535`,
				`sip.listen[4]: "udp::5060": host is missing`,
				`sip.listen[5]: want transport:host:port such as "udp:127.0.0.1:5060", got "127.0.0.1"`,
				`sip.listen[6]: duplicate listener "udp:127.0.0.1:5060", also sip.listen[0]`,
			},
		},
		"unknown nat mode": {
			"sip: {listen: [\"udp:127.0.0.1:5060\"], nat: sometimes}\nusers: [{ext: \"1001\", password: a}]\n",
			[]string{`sip.nat: want auto, always or never, got "sometimes"`},
		},
		"bad source lists": {
			"sip: {listen: [\"udp:127.0.0.1:5060\"], deny: [\"0.0.0.0/0\", \"10.0.0.0/33\"], permit: [office], flood: {rate: -1, trust: [\"1.2.3.4/\"]}, log_garbage: loud}\nusers: [{ext: \"1001\", password: a}]\n",
			[]string{
				`sip.permit[0]: want an address or a network such as 10.0.0.0/8, got "office"`,
				`sip.deny[1]: want an address or a network such as 10.0.0.0/8, got "10.0.0.0/33"`,
				`sip.flood.trust[0]: want an address or a network such as 10.0.0.0/8, got "1.2.3.4/"`,
				`sip.flood.rate: must be 0 (off) or more, got -1`,
				`sip.log_garbage: want debug, info, warn or error, got "loud"`,
			},
		},
		"bad connection limits": {
			"sip: {listen: [\"udp:127.0.0.1:5060\"], max_connections: 0, max_connections_per_source: -2, idle_timeout: 10ms}\nusers: [{ext: \"1001\", password: a}]\n",
			[]string{
				`sip.max_connections: must be at least 1, got 0`,
				`sip.max_connections_per_source: must be at least 1, got -2`,
				`sip.idle_timeout: must be at least 1s, got 10ms`,
			},
		},
		"bad overload limits": {
			"sip: {listen: [\"udp:127.0.0.1:5060\"], max_calls: -1, max_call_rate: -0.5, overload_delay: -1s, overload_backlog: -1, retry_after: 100ms}\nusers: [{ext: \"1001\", password: a}]\n",
			[]string{
				`sip.overload_delay: must not be negative, got "-1s" (line 1)`,
				`sip.max_calls: must be 0 (no cap) or more, got -1`,
				`sip.max_call_rate: must be 0 (no cap) or more, got -0.5`,
				`sip.overload_backlog: must be 0 (not watched) or more KiB, got -1`,
				`sip.retry_after: must be at least 1s, got 100ms`,
			},
		},
		"bad cluster": {
			minimal + "cluster: {node: \"n 1\", nats: [\"http://10.0.0.1:4222\", \"nats://10.0.0.2\", \"nats://:4222\", \"nats://h:0\"], node_ttl: 500ms, replicas: 7}\n",
			[]string{
				`cluster.node: want a name of 1 to 64 letters, digits, '-' or '_', unique in the cluster, got "n 1"`,
				`cluster.nats[0]: want nats://host:port or tls://host:port, got "http://10.0.0.1:4222"`,
				`cluster.nats[1]: want nats://host:port, got "nats://10.0.0.2"`,
				`cluster.nats[2]: want nats://host:port, got "nats://:4222"`,
				`cluster.nats[3]: port of "nats://h:0" must be 1-65535`,
				`cluster.node_ttl: must be at least 1s, got 500ms`,
				`cluster.replicas: must be 1 to 5 (NATS servers keeping each bucket), got 7`,
			},
		},
		"cluster node without udp": {
			"sip: {listen: [\"tcp:127.0.0.1:5060\"]}\nusers: [{ext: \"1001\", password: a}]\ncluster: {node: n1, nats: [\"nats://127.0.0.1:4222\"]}\n",
			[]string{`sip.listen: a cluster node needs a udp listener: the nodes send each other calls over it`},
		},
		"cluster without a node or NATS": {
			minimal + "cluster: {node_ttl: 5s}\n",
			[]string{
				`cluster.node: want a name of 1 to 64 letters, digits, '-' or '_', unique in the cluster, got ""`,
				`cluster.nats: at least one NATS URL is required, e.g. ["nats://127.0.0.1:4222"]`,
			},
		},
		"bad kernel relay": {
			minimal + "media: {kernel_relay: yes}\n",
			[]string{`media.kernel_relay: want auto, on or off, got "yes"`},
		},
		"bad srtp policies": {
			"sip: {listen: [\"udp:127.0.0.1:5060\"]}\nmedia: {srtp: always}\nusers: [{ext: \"1001\", password: a, srtp: maybe}]\n",
			[]string{
				`media.srtp: want optional, required or off, got "always"`,
				`users[0].srtp: want optional, required or off, got "maybe"`,
			},
		},
		"bad password hashes": {
			"sip: {listen: [\"udp:127.0.0.1:5060\"]}\nusers: [{ext: \"1001\", ha1_md5: abc, ha1_sha256: \"" + strings.Repeat("g", 64) + "\"}, {ext: \"1002\"}]\n",
			[]string{
				`users[0].ha1_md5: want 32 hexadecimal digits (switchboard hash-password prints it), got 3 characters`,
				`users[0].ha1_sha256: want 64 hexadecimal digits (switchboard hash-password prints it), got other characters`,
				`users[1].password: must not be empty (or give ha1_md5 and ha1_sha256)`,
			},
		},
		"password hashes of the wrong length, or with the password": {
			"sip: {listen: [\"udp:127.0.0.1:5060\"], digest_algorithms: [\"SHA-256\", \"MD5\"]}\nusers:\n" +
				"  - {ext: \"1001\", ha1_md5: \"" + md5HA1 + "\", ha1_sha256: \"" + md5HA1 + "\"}\n" +
				"  - {ext: \"1002\", ha1_md5: \"" + md5HA1 + "0\", ha1_sha256: \"" + sha256HA1 + "\"}\n" +
				"  - {ext: \"1003\", password: a, ha1_md5: \"" + md5HA1 + "\"}\n",
			[]string{
				`users[0].ha1_sha256: want 64 hexadecimal digits (switchboard hash-password prints it), got 32 characters`,
				`users[1].ha1_md5: want 32 hexadecimal digits (switchboard hash-password prints it), got 33 characters`,
				`users[2].password: give the password or its hashes (ha1_md5, ha1_sha256), not both`,
			},
		},
		"a hash missing for an offered algorithm": {
			"sip: {listen: [\"udp:127.0.0.1:5060\"], digest_algorithms: [\"SHA-256\", \"MD5\"]}\nusers:\n" +
				"  - {ext: \"1001\", ha1_md5: \"" + md5HA1 + "\"}\n" +
				"  - {ext: \"1002\", ha1_sha256: \"" + sha256HA1 + "\"}\n" +
				"  - {ext: \"1003\", password: a}\n",
			[]string{
				`users[0].ha1_sha256: required: sip.digest_algorithms offers SHA-256 (switchboard hash-password prints it)`,
				`users[1].ha1_md5: required: sip.digest_algorithms offers MD5 (switchboard hash-password prints it)`,
			},
		},
		"an MD5 hash alone while Linphone phones are challenged SHA-256 first": {
			"sip: {listen: [\"udp:127.0.0.1:5060\"]}\nusers: [{ext: \"1001\", ha1_md5: \"" + md5HA1 + "\"}]\n",
			[]string{`users[0].ha1_sha256: required: sip.digest_sha256_agents offers SHA-256 to those phones (switchboard hash-password prints it; or set digest_sha256_agents: [])`},
		},
		"an empty agent": {
			"sip: {listen: [\"udp:127.0.0.1:5060\"], digest_sha256_agents: [Linphone, \" \"]}\nusers: [{ext: \"1001\", password: a}]\n",
			[]string{`sip.digest_sha256_agents[1]: empty: a User-Agent substring such as "Linphone" is expected`},
		},
		"a SHA-256 hash alone when only MD5 is offered": {
			"sip: {listen: [\"udp:127.0.0.1:5060\"]}\nusers: [{ext: \"1001\", ha1_sha256: \"" + sha256HA1 + "\"}]\n",
			[]string{`users[0].ha1_md5: required: sip.digest_algorithms offers MD5 (switchboard hash-password prints it)`},
		},
		"empty realm": {
			"sip: {listen: [\"udp:127.0.0.1:5060\"], realm: \"\"}\nusers: [{ext: \"1001\", password: a}]\n",
			[]string{`sip.realm: must not be empty`},
		},
		"odd port range": {
			minimal + "media: {rtp_ports: \"20001-29999\"}\n",
			[]string{`media.rtp_ports: first port 20001 must be even`},
		},
		"port range without room": {
			minimal + "media: {rtp_ports: \"20000-20000\"}\n",
			[]string{`media.rtp_ports: range 20000-20000 has no room`},
		},
		"port range out of bounds": {
			minimal + "media: {rtp_ports: \"80-2000\"}\n",
			[]string{`media.rtp_ports: range 80-2000 must lie within 1024-65535`},
		},
		"port range malformed": {
			minimal + "media: {rtp_ports: \"20000\"}\n",
			[]string{`media.rtp_ports: want "MIN-MAX"`},
		},
		"media address": {
			minimal + "media: {address: localhost}\n",
			[]string{`media.address: want an IP address such as 127.0.0.1, got "localhost"`},
		},
		"media address unspecified": {
			minimal + "media: {address: 0.0.0.0}\n",
			[]string{`media.address: must be an address phones can reach`},
		},
		"http listen": {
			minimal + "http: {listen: \"8080\"}\n",
			[]string{`http.listen: want host:port`},
		},
		"empty data dir": {
			minimal + "data_dir: \"\"\n",
			[]string{`data_dir: must not be empty`},
		},
		"bad CIDR": {
			minimal + "trunks: [{name: c, allow: [\"192.0.2.0/24\", \"192.0.2.0/33\", \"carrier.example\"]}]\n",
			[]string{
				`trunks[0].allow[1]: want a CIDR such as 192.0.2.0/24 or an IP address, got "192.0.2.0/33"`,
				`trunks[0].allow[2]: want a CIDR such as 192.0.2.0/24 or an IP address, got "carrier.example"`,
			},
		},
		"overlapping trunks": {
			minimal + "trunks:\n  - {name: a, allow: [\"10.0.0.0/8\"]}\n  - {name: a, allow: [\"10.1.2.3\"]}\n",
			[]string{
				`trunks[1].name: duplicate trunk name "a", also trunks[0].name`,
				`trunks[1].allow[0]: 10.1.2.3/32 overlaps trunks[0].allow[0] (10.0.0.0/8)`,
			},
		},
		"trunk dids and outbound": {
			minimal + "groups: [{ext: \"600\", members: [\"1001\"]}]\ntrunks:\n  - name: c\n    dids: {\"5551\": \"600\", \"5552\": \"799\", \"55x\": \"1001\"}\n    outbound: \"sip:192.0.2.1:5060\"\n  - {name: d, outbound_prefix: \"0\"}\n  - {name: e, outbound: \"udp:192.0.2.1:5060\", outbound_prefix: \"1\"}\n",
			[]string{
				`trunks[0].dids.5552: unknown extension "799"`,
				`trunks[0].dids.55x: want a number`,
				`trunks[0].outbound: transport "sip"`,
				`trunks[1].outbound_prefix: needs outbound`,
				`trunks[2].outbound_prefix: prefix "1" makes extension "1001" (users[0].ext) ambiguous`,
				`trunks[2].outbound_prefix: prefix "1" makes extension "1002" (users[1].ext) ambiguous`,
				`trunks[2].outbound_prefix: prefix "1" makes extension "1003" (users[2].ext) ambiguous`,
			},
		},
		"missing greeting file": {
			minimal + "    greetings: {busy: busy.wav, no_answer: missing.wav, dnd: sounds}\n",
			[]string{
				`users[2].greetings.dnd: ` + filepath.Join(dir, "sounds") + ` is a directory`,
				`users[2].greetings.no_answer: file ` + filepath.Join(dir, "missing.wav") + ` does not exist`,
			},
		},
		"missing music on hold": {
			minimal + "queues: [{ext: \"700\", members: [\"1001\"], music_on_hold: moh/jazz.wav}]\n",
			[]string{`queues[0].music_on_hold: file ` + filepath.Join(dir, "moh", "jazz.wav") + ` does not exist`},
		},
		"fallbacks": {
			minimal + "    voicemail: false\ngroups:\n" +
				"  - {ext: \"600\", members: [\"1001\"], fallback: \"voicemail:1003\"}\n" +
				"  - {ext: \"601\", members: [\"1001\"], fallback: \"voicemail:1009\"}\n" +
				"  - {ext: \"602\", members: [\"1001\"], fallback: \"602\"}\n" +
				"  - {ext: \"603\", members: [\"1001\"], fallback: \"999\"}\n" +
				"  - {ext: \"604\", members: [\"1001\"], fallback: \"busy\"}\n" +
				"  - {ext: \"605\", members: [\"1001\"], fallback: \"1001\"}\n",
			[]string{
				`groups[0].fallback: user "1003" has voicemail turned off`,
				`groups[1].fallback: unknown user "1009" in "voicemail:1009"`,
				`groups[2].fallback: falls back to itself`,
				`groups[3].fallback: unknown extension "999"`,
				`groups[4].fallback: want hangup, voicemail:EXT or EXT, got "busy"`,
			},
		},
		"fallback loop": {
			minimal + "groups: [{ext: \"600\", members: [\"1001\"], fallback: \"700\"}]\n" +
				"queues: [{ext: \"700\", members: [\"1001\"], fallback: \"600\"}]\n",
			[]string{`groups[0].fallback: fallback loop 600 -> 700 -> 600`},
		},
		"several problems together": {
			"sip:\n  listen: [\"udp:127.0.0.1:5060\"]\n  realm: \"\"\n" +
				"media: {rtp_ports: \"20001-29999\"}\n" +
				"users:\n  - {ext: \"1001\", password: a, admin: yes}\n  - {ext: \"1001\", password: b}\n" +
				"queues: [{ext: \"700\", members: [\"1001\", \"1002\", \"1009\"]}]\n",
			[]string{
				`sip.realm: must not be empty`,
				`media.rtp_ports: first port 20001 must be even`,
				`users[0].admin: want a boolean (true or false), got "yes" (line 6)`,
				`users[1].ext: duplicate extension "1001", also users[0].ext`,
				`queues[0].members[1]: unknown user "1002"`,
				`queues[0].members[2]: unknown user "1009"`,
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c, err := Parse([]byte(tc.yaml), dir)
			if err == nil {
				t.Fatalf("Parse succeeded (%d users), want problems %q", len(c.Users), tc.want)
			}
			var probs Problems
			if !errors.As(err, &probs) {
				t.Fatalf("error %v (%T) is not Problems", err, err)
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(probs) || len(probs) != len(tc.want) {
				t.Fatalf("got %d problems:\n%s\nwant %d:\n%s", len(probs), err, len(tc.want), strings.Join(tc.want, "\n"))
			}
			for i, want := range tc.want {
				if !strings.HasPrefix(lines[i], want) {
					t.Errorf("problem %d:\n got %s\nwant %s...", i, lines[i], want)
				}
			}
		})
	}
}

func TestExactProblemLine(t *testing.T) {
	// The spec's -check example must come out byte for byte.
	_, err := Parse([]byte(minimal+"queues: [{ext: \"700\", members: [\"1001\", \"1002\", \"1009\"]}]\n"), "")
	want := Problems{{Path: "queues[0].members[2]", Message: `unknown user "1009"`}}
	var got Problems
	if !errors.As(err, &got) || !reflect.DeepEqual(got, want) {
		t.Fatalf("got %#v, want %#v", err, want)
	}
	if got.Error() != `queues[0].members[2]: unknown user "1009"` {
		t.Errorf("Error() = %q", got.Error())
	}
}

func TestSyntaxError(t *testing.T) {
	tests := map[string]struct {
		load bool
		want []string
	}{
		"parse": {false, []string{"config: yaml: line 2:"}},
		"load":  {true, []string{"bad.yaml: yaml: line 2:"}},
	}
	src := []byte("sip:\n  realm: x\n\tusers: []\n")
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var err error
			if tc.load {
				p := filepath.Join(t.TempDir(), "bad.yaml")
				if werr := os.WriteFile(p, src, 0o600); werr != nil {
					t.Fatal(werr)
				}
				_, err = Load(p)
			} else {
				_, err = Parse(src, "")
			}
			if err == nil {
				t.Fatal("no error")
			}
			var probs Problems
			if errors.As(err, &probs) {
				t.Errorf("syntax error reported as Problems: %v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestRelativePaths(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"greetings/alice-busy.wav", "moh.wav"} {
		p := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("RIFF"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	abs := filepath.Join(dir, "moh.wav")
	src := `
sip: {listen: ["udp:127.0.0.1:5060"]}
data_dir: state
users:
  - {ext: "1001", password: a, greetings: {busy: greetings/alice-busy.wav}}
queues:
  - {ext: "700", members: ["1001"], music_on_hold: moh.wav}
  - {ext: "701", members: ["1001"], music_on_hold: "` + abs + `"}
`
	cfgPath := filepath.Join(dir, "switchboard.yaml")
	if err := os.WriteFile(cfgPath, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(cfgPath)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	tests := map[string]struct{ got, want string }{
		"data dir":       {c.DataDir, filepath.Join(dir, "state")},
		"greeting":       {c.Users[0].Greetings.Busy, filepath.Join(dir, "greetings", "alice-busy.wav")},
		"unset greeting": {c.Users[0].Greetings.DND, ""},
		"music":          {c.Queues[0].MusicOnHold, abs},
		"absolute kept":  {c.Queues[1].MusicOnHold, abs},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("got %q, want %q", tc.got, tc.want)
			}
		})
	}

	// The same bytes parsed against another directory must not find the files.
	if _, err := Parse([]byte(src), t.TempDir()); err == nil {
		t.Error("Parse against an empty directory found the greeting files")
	}
}

func TestLoadMissingFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "nope.yaml")
	_, err := Load(p)
	if err == nil {
		t.Fatal("Load of a missing file succeeded")
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("error %v is not fs.ErrNotExist", err)
	}
	if !strings.Contains(err.Error(), p) {
		t.Errorf("error %q does not name %s", err, p)
	}
}

func TestLookups(t *testing.T) {
	c, err := Parse([]byte(minimal+`
groups: [{ext: "600", members: ["1001"]}]
queues: [{ext: "700", members: ["1001"]}]
trunks:
  - {name: carrier, allow: ["192.0.2.0/24"]}
  - {name: pbx, allow: ["2001:db8::1"]}
`), "")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	handMade := &Config{Users: []User{{Ext: "42", Name: "Zed"}}}
	tests := map[string]struct {
		found bool
		want  string
		get   func() (string, bool)
	}{
		"user":             {true, "1002", func() (string, bool) { u, ok := c.User("1002"); return ext(u, ok) }},
		"missing user":     {false, "", func() (string, bool) { u, ok := c.User("600"); return ext(u, ok) }},
		"group":            {true, "600", func() (string, bool) { g, ok := c.Group("600"); return pick(ok, func() string { return g.Ext }) }},
		"queue":            {true, "700", func() (string, bool) { q, ok := c.Queue("700"); return pick(ok, func() string { return q.Ext }) }},
		"missing queue":    {false, "", func() (string, bool) { q, ok := c.Queue("1001"); return pick(ok, func() string { return q.Ext }) }},
		"trunk v4":         {true, "carrier", trunk(c, "192.0.2.77")},
		"trunk v4 mapped":  {true, "carrier", trunk(c, "::ffff:192.0.2.77")},
		"trunk v6":         {true, "pbx", trunk(c, "2001:db8::1")},
		"no trunk":         {false, "", trunk(c, "198.51.100.1")},
		"hand-made config": {true, "42", func() (string, bool) { u, ok := handMade.User("42"); return ext(u, ok) }},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, ok := tc.get()
			if ok != tc.found || got != tc.want {
				t.Errorf("got %q, %v; want %q, %v", got, ok, tc.want, tc.found)
			}
		})
	}

	// Lookups return pointers into the config, not copies.
	u, _ := c.User("1001")
	if u != &c.Users[0] {
		t.Error("User returned a copy")
	}
}

func ext(u *User, ok bool) (string, bool) {
	return pick(ok, func() string { return u.Ext })
}

func pick(ok bool, f func() string) (string, bool) {
	if !ok {
		return "", false
	}
	return f(), true
}

func trunk(c *Config, addr string) func() (string, bool) {
	return func() (string, bool) {
		tr, ok := c.TrunkFor(netip.MustParseAddr(addr))
		return pick(ok, func() string { return tr.Name })
	}
}

func TestProblemsError(t *testing.T) {
	ps := Problems{
		{Path: "sip.listen[1]", Message: "bad"},
		{Path: "", Message: "whole file"},
	}
	if got, want := ps.Error(), "sip.listen[1]: bad\nwhole file"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestAnchorsAndMerge(t *testing.T) {
	c, err := Parse([]byte(`
x-staff: &staff {password: shared, no_answer_timeout: 30s, admin: true}
sip: {listen: ["udp:127.0.0.1:5060"]}
users:
  - {<<: *staff, ext: "1001"}
  - <<: *staff
    ext: "1002"
    admin: false
`), "")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	tests := map[string]struct{ got, want any }{
		"merged password":    {c.Users[1].Password, "shared"},
		"merged duration":    {c.Users[0].NoAnswerTimeout, 30 * time.Second},
		"merged bool":        {c.Users[0].Admin, true},
		"own key wins":       {c.Users[1].Admin, false},
		"merged ext differs": {c.Users[1].Ext, "1002"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if !reflect.DeepEqual(tc.got, tc.want) {
				t.Errorf("got %#v, want %#v", tc.got, tc.want)
			}
		})
	}
}

// The RFC 2617 §3.5 and RFC 7616 §3.9.1 users' HA1s, as a user's entry gives them.
const (
	md5HA1    = "939e7578ed9e3c518a452acee763bce9"
	sha256HA1 = "7987c64c30e25f1b74be53f966b49b90f2808aa92faf9a00262392d7b4794232"
)

// TestPasswordHashesLoad: a user stored as hashes alone loads with no password, the hashes
// lowercased as digests compare them; with both algorithms offered both hashes are taken.
func TestPasswordHashesLoad(t *testing.T) {
	c, err := Parse([]byte("sip: {listen: [\"udp:127.0.0.1:5060\"], digest_algorithms: [\"SHA-256\", \"MD5\"]}\n"+
		"users: [{ext: \"1001\", ha1_md5: \""+strings.ToUpper(md5HA1)+"\", ha1_sha256: \""+sha256HA1+"\"}]\n"), "")
	if err != nil {
		t.Fatal(err)
	}
	if u := c.Users[0]; u.Password != "" || u.HA1MD5 != md5HA1 || u.HA1SHA256 != sha256HA1 {
		t.Fatalf("user = %+v", u)
	}
}
