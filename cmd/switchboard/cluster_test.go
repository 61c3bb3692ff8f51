package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-voip/switchboard/internal/natstest"
	"github.com/switchboard-voip/switchboard/internal/needs"
	"github.com/switchboard-voip/switchboard/internal/poll"
)

// startClusterNode runs the switch binary as node name of a cluster whose NATS is nats
// (connecting to server first, first), with its own ports and data_dir under dir/name.
func startClusterNode(t *testing.T, dir string, nats *natstest.Cluster, name string, first int, ttl time.Duration) (switchConfig, *switchProcess) {
	t.Helper()
	nodeDir := filepath.Join(dir, name)
	if err := os.MkdirAll(nodeDir, 0o750); err != nil {
		t.Fatal(err)
	}
	cfg, cfgPath := newSwitchConfig(t, nodeDir, 20, 0)
	cfgPath = withSIPSetting(t, cfgPath, "switchboard-md5.yaml", `digest_algorithms: ["MD5"]`) // baresip
	joinCluster(t, cfgPath, name, nats.URLs(first), ttl)
	return cfg, startBinary(t, cfg, cfgPath)
}

// joinCluster adds a cluster section to the config at cfgPath.
func joinCluster(t *testing.T, cfgPath, name string, urls []string, ttl time.Duration) {
	t.Helper()
	f, err := os.OpenFile(cfgPath, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	quoted := make([]string, len(urls))
	for i, u := range urls {
		quoted[i] = strconv.Quote(u)
	}
	if _, err := fmt.Fprintf(f, "cluster:\n  node: %s\n  nats: [%s]\n  node_ttl: %s\n", name, strings.Join(quoted, ", "), ttl); err != nil {
		t.Fatal(err)
	}
}

// eventStream reads a node's presence events (SSE) as one user, keeping every data line.
type eventStream struct {
	mu    sync.Mutex
	lines []string
}

func openEvents(t *testing.T, httpPort int, user, pass string) *eventStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1:"+strconv.Itoa(httpPort)+"/api/v1/presence/events", nil)
	req.SetBasicAuth(user, pass)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("events: %d", resp.StatusCode)
	}
	s := &eventStream{}
	go func() {
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				s.mu.Lock()
				s.lines = append(s.lines, data)
				s.mu.Unlock()
			}
		}
	}()
	return s
}

// has reports whether an event so far contains every one of parts.
func (s *eventStream) has(parts ...string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.lines {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(l, p)
		}
		if all {
			return true
		}
	}
	return false
}

// TestClusterDNDReachesEveryNode: three Switchboard nodes on a three-server NATS cluster. Bob
// turns DND on through node a's API; node b's API, node c's event stream and a phone
// (baresip) registered at node b and watching Bob's presence there all show it within a
// second. A node's metrics count three nodes.
func TestClusterDNDReachesEveryNode(t *testing.T) {
	baresip := needs.Program(t, "baresip-core", "baresip")
	dir := t.TempDir()
	nats := natstest.Start(t, 3, true)
	cfgA, _ := startClusterNode(t, dir, nats, "a", 0, 5*time.Second)
	cfgB, _ := startClusterNode(t, dir, nats, "b", 1, 5*time.Second)
	cfgC, _ := startClusterNode(t, dir, nats, "c", 2, 5*time.Second)
	bobAtA := newPresenceAPI(cfgA.HTTPPort, "1002", "bob-secret")
	aliceAtB := newPresenceAPI(cfgB.HTTPPort, "1001", "alice-secret")
	bobAtA.ready(t)
	aliceAtB.ready(t)
	events := openEvents(t, cfgC.HTTPPort, "1003", "carol-secret")

	ctrl := freePort(t)
	phone := startPhoneProc(t, "baresip", filepath.Join(dir, "b"), baresip, "-f",
		writeBaresipConfig(t, filepath.Join(dir, "b"), cfgB.SIPPort, ctrl, "1001", "alice-secret", "1002"))
	defer phone.stop(5 * time.Second)
	contact := func() string { return baresipShows(ctrl, "1002") }
	if !poll.Until(15*time.Second, func() bool { return contact() == "Online" }) {
		t.Fatalf("baresip at node b does not show Bob Online within 15s (%q)", contact())
	}
	if v, ok := aliceAtB.waitStatus(t, "1001", "available", 2*time.Second); !ok || !v.Registered {
		t.Fatalf("Alice at node b: %+v, want registered", v)
	}
	// Node a knows Alice's phone registered at b.
	if v, ok := bobAtA.waitStatus(t, "1001", "available", time.Second); !ok || !v.Registered {
		t.Fatalf("node a shows Alice %+v, want registered (at node b)", v)
	}

	changed := time.Now()
	if code, body := bobAtA.put(t, "1002", "dnd"); code != http.StatusOK {
		t.Fatalf("PUT DND at node a: %d %s", code, body)
	}
	if _, ok := aliceAtB.waitStatus(t, "1002", "dnd", time.Second); !ok {
		t.Fatal("node b's API does not show Bob on DND within 1s")
	}
	atB := time.Since(changed)
	if !poll.Until(time.Second-atB, func() bool { return events.has(`"ext":"1002"`, `"status":"dnd"`) }) {
		t.Fatal("node c's event stream has no DND event for Bob within 1s")
	}
	atC := time.Since(changed)
	if !poll.Until(time.Second-atC, func() bool { return contact() == "Busy" }) {
		t.Fatalf("baresip at node b shows Bob %q 1s after DND at node a, want Busy", contact())
	}
	t.Logf("DND at node a: node b's API %s, node c's events %s, baresip at b %s", atB.Round(time.Millisecond),
		atC.Round(time.Millisecond), time.Since(changed).Round(time.Millisecond))
	got := scrapeMetric(t, cfgC.HTTPPort, "switchboard_cluster_nodes")
	if got != 3 {
		t.Errorf("node c counts %v nodes, want 3", got)
	}
}

// TestClusterKilledNodeLeavesNoUserBusy: a call between two phones registered at node a makes
// both users Busy and registered on node b too. Node a is killed (SIGKILL): within node_ttl
// node b shows them Available and not registered, and a restarted node a rejoins.
func TestClusterKilledNodeLeavesNoUserBusy(t *testing.T) {
	needs.Program(t, "sip-tester", "sipp")
	const ttl = 2 * time.Second
	dir := t.TempDir()
	nats := natstest.Start(t, 1, true)
	cfgA, swA := startClusterNode(t, dir, nats, "a", 0, ttl)
	cfgB, _ := startClusterNode(t, dir, nats, "b", 0, ttl)
	atB := newPresenceAPI(cfgB.HTTPPort, "1003", "carol-secret")
	atB.ready(t)

	sippDir := filepath.Join(dir, "a")
	calleePort := freePort(t)
	registerPhone(t, sippDir, cfgA.SIPPort, calleePort, "1002", "bob-secret")
	startSIPp(t, sippDir, "uas", "-sf", scenario(t, "uas.xml"), "-i", "127.0.0.1", "-p", strconv.Itoa(calleePort),
		"-mp", strconv.Itoa(freeMediaPort(t)), "-rtp_echo", "-m", "1")
	startSIPp(t, sippDir, "uac", "127.0.0.1:"+strconv.Itoa(cfgA.SIPPort), "-sf", scenario(t, "uac_until_bye.xml"),
		"-i", "127.0.0.1", "-p", strconv.Itoa(freePort(t)), "-mp", strconv.Itoa(freeMediaPort(t)),
		"-s", "1002", "-key", "caller", "1001", "-au", "1001", "-ap", "alice-secret", "-m", "1", "-timeout", "60s")
	for _, ext := range []string{"1001", "1002"} {
		if v, ok := atB.waitStatus(t, ext, "busy", 10*time.Second); !ok {
			t.Fatalf("node b shows %s %+v during a call through node a, want busy", ext, v)
		}
	}
	if v := atB.get(t, "1002"); !v.Registered {
		t.Fatalf("node b shows Bob %+v, want registered (at node a)", v)
	}

	killed := time.Now()
	swA.sigkill(t)
	for _, ext := range []string{"1001", "1002"} {
		if v, ok := atB.waitStatus(t, ext, "available", ttl+time.Second-time.Since(killed)); !ok {
			t.Fatalf("node b shows %s %+v %s after node a was killed (node_ttl %s)", ext, v, time.Since(killed).Round(time.Millisecond), ttl)
		}
	}
	t.Logf("node a killed: its users Available at node b after %s (node_ttl %s)", time.Since(killed).Round(time.Millisecond), ttl)
	if v := atB.get(t, "1002"); v.Registered {
		t.Fatalf("node b still shows Bob registered at the dead node: %+v", v)
	}
	if n := scrapeMetric(t, cfgB.HTTPPort, "switchboard_cluster_nodes"); n != 1 {
		t.Fatalf("node b counts %v nodes after a died, want 1", n)
	}

	// Node a started again on the same config and data rejoins without anyone's help.
	swA2 := startBinary(t, cfgA, filepath.Join(dir, "a", "switchboard-md5.yaml"))
	_ = swA2
	if !poll.Until(5*time.Second, func() bool { return scrapeMetric(t, cfgB.HTTPPort, "switchboard_cluster_nodes") == 2 }) {
		t.Fatal("node b does not count the restarted node a")
	}
}

// scrapeMetric reads one unlabelled sample from a node's /metrics (-1 if absent).
func scrapeMetric(t *testing.T, httpPort int, name string) float64 {
	t.Helper()
	resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(httpPort) + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			return f
		}
	}
	return -1
}

// TestClusterCallThroughNodeBReachesAPhoneAtNodeA: Bob's SIPp phone is registered at node a;
// Alice's SIPp calls him through node b, with G.711 both ways. The call is answered, audio
// crosses both nodes in both directions (each phone's SDP points at its own node's RTP ports),
// and the call's one history record is listed by both nodes.
func TestClusterCallThroughNodeBReachesAPhoneAtNodeA(t *testing.T) {
	needs.Program(t, "sip-tester", "sipp")
	n := bobAtNodeA(t, 5*time.Second)
	cfgA, cfgB, sippDir, calleePort := n.cfgA, n.cfgB, n.sippDir, n.calleePort

	uac, uas, probe := audioCall(t, sippDir, "127.0.0.1:"+strconv.Itoa(cfgB.SIPPort), calleePort)

	for _, c := range []struct {
		p        *sippProc
		first    string
		node     switchConfig
		nodeName string
	}{{uac, "SIP/2.0 200", cfgB, "b"}, {uas, "INVITE ", cfgA, "a"}} {
		ports := receivedAudioPorts(t, c.p, c.first)
		if len(ports) == 0 {
			t.Errorf("sipp %s received no %q with SDP", c.p.name, c.first)
		}
		for _, port := range ports {
			if port < c.node.RTPMin || port > c.node.RTPMax {
				t.Errorf("sipp %s: SDP has m=audio %d, outside node %s's rtp_ports %d-%d", c.p.name, port, c.nodeName, c.node.RTPMin, c.node.RTPMax)
			}
		}
	}
	from, echoed, sent := probe.fromCaller.Load(), probe.echoed.Load(), probe.sent.Load()
	t.Logf("RTP across two nodes: callee got %d packets of the caller's audio; sent %d, %d came back", from, sent, echoed)
	if from < 50 {
		t.Errorf("callee got %d RTP packets from the caller in a 3 s call, want >= 50", from)
	}
	if echoed < sent/3 || echoed == 0 {
		t.Errorf("%d of the callee's %d packets came back via the caller", echoed, sent)
	}
	// The call's one record (written by node b, where it arrived) is listed by both nodes.
	var ids []string
	for _, cfg := range []switchConfig{cfgB, cfgA} {
		var body []byte
		ok := poll.Until(3*time.Second, func() bool {
			code, b, err := newPresenceAPI(cfg.HTTPPort, "1001", "alice-secret").do(http.MethodGet, "/api/v1/history", nil)
			body = b
			return err == nil && code == http.StatusOK && strings.Count(string(b), `"to":"1002"`) == 1
		})
		if !ok {
			t.Fatalf("node on HTTP port %d lists, for the call, %s; want one record", cfg.HTTPPort, body)
		}
		var recs []struct{ ID string }
		if err := json.Unmarshal(body, &recs); err != nil || len(recs) != 1 {
			t.Fatalf("history %s: %v", body, err)
		}
		ids = append(ids, recs[0].ID)
	}
	if ids[0] != ids[1] {
		t.Errorf("the nodes list the call as %s and %s: one record, one id", ids[0], ids[1])
	}
}

// TestClusterNodeWithoutNATSDoesNotStart: a node whose NATS cannot be reached, or has no
// JetStream, exits 1 at start saying so, before it takes any phone.
func TestClusterNodeWithoutNATSDoesNotStart(t *testing.T) {
	plain := natstest.Start(t, 1, false)
	for _, c := range []struct {
		urls []string
		want string
	}{
		{[]string{"nats://127.0.0.1:" + strconv.Itoa(natstest.FreePorts(t, 1)[0])}, "cluster: connect to NATS nats://127.0.0.1:"},
		{plain.URLs(0), "has no JetStream"},
	} {
		dir := t.TempDir()
		_, path := newSwitchConfig(t, dir, 20, 0)
		joinCluster(t, path, "n1", c.urls, 5*time.Second)
		code, _, errOut := runArgs(t, "-config", path)
		if code != 1 || !strings.Contains(errOut, c.want) {
			t.Errorf("NATS %v: exit %d, stderr %q; want 1 and %q", c.urls, code, errOut, c.want)
		}
	}
}

// TestClusterKilledNodeEndsTheCallsThroughIt: Alice, through node b, talks to Bob's phone at
// node a. Node a is killed: node b hangs Alice up (a BYE she answers) within node_ttl, instead
// of leaving her in silence until the media timeout, and has no call left.
func TestClusterKilledNodeEndsTheCallsThroughIt(t *testing.T) {
	needs.Program(t, "sip-tester", "sipp")
	const ttl = 2 * time.Second
	n := bobAtNodeA(t, ttl)
	cfgB, swA, swB, sippDir, calleePort := n.cfgB, n.swA, n.swB, n.sippDir, n.calleePort
	uas := startSIPp(t, sippDir, "uas", "-sf", scenario(t, "uas.xml"), "-i", "127.0.0.1", "-p", strconv.Itoa(calleePort),
		"-mp", strconv.Itoa(freeMediaPort(t)), "-rtp_echo", "-m", "1", "-trace_msg")
	uac := startSIPp(t, sippDir, "uac", "127.0.0.1:"+strconv.Itoa(cfgB.SIPPort), "-sf", scenario(t, "uac_until_bye.xml"),
		"-i", "127.0.0.1", "-p", strconv.Itoa(freePort(t)), "-mp", strconv.Itoa(freeMediaPort(t)),
		"-s", "1002", "-key", "caller", "1001", "-au", "1001", "-ap", "alice-secret", "-m", "1", "-timeout", "60s", "-trace_msg")
	// Up at both ends: node a ACKs Bob's 200 before node b has the 200 node a sends it, and a
	// node killed in between leaves node b with a call still ringing there (CI saw it once).
	if !poll.Until(10*time.Second, func() bool {
		return uas.fileContains("*_messages.log", "ACK sip:") && uac.fileContains("*_messages.log", "SIP/2.0 200")
	}) {
		t.Fatalf("call through node b to node a not up within 10s\n%s", uac.report())
	}
	killed := time.Now()
	swA.sigkill(t)
	uac.mustSucceed(t, ttl+5*time.Second) // Alice got her BYE and answered it
	t.Logf("node a killed mid-call: node b hung Alice up after %s (node_ttl %s)", time.Since(killed).Round(time.Millisecond), ttl)
	if !poll.Until(2*time.Second, func() bool { return activeCalls(cfgB.HTTPPort) == 0 }) {
		t.Fatalf("node b still has %d calls", activeCalls(cfgB.HTTPPort))
	}
	logOnFailure(t, swB, "gone")
}

// waitRegistered waits until a node's API shows ext with a phone registered (at any node).
func waitRegistered(t *testing.T, api *presenceAPI, ext string, within time.Duration) {
	t.Helper()
	var v presenceView
	if !poll.Until(within, func() bool { v = api.get(t, ext); return v.Registered }) {
		t.Fatalf("%s shows %s %+v, want a phone registered", api.base, ext, v)
	}
}

// twoNodes is nodes a and b of a cluster on one NATS server, with Bob's SIPp phone (at
// calleePort, not started yet) registered at node a and known to node b.
type twoNodes struct {
	cfgA, cfgB switchConfig
	swA, swB   *switchProcess
	nats       *natstest.Cluster
	sippDir    string
	calleePort int
}

func bobAtNodeA(t *testing.T, ttl time.Duration) twoNodes {
	t.Helper()
	dir := t.TempDir()
	nats := natstest.Start(t, 1, true)
	n := twoNodes{nats: nats}
	n.cfgA, n.swA = startClusterNode(t, dir, nats, "a", 0, ttl)
	n.cfgB, n.swB = startClusterNode(t, dir, nats, "b", 0, ttl)
	n.sippDir = filepath.Join(dir, "sipp")
	if err := os.MkdirAll(n.sippDir, 0o750); err != nil {
		t.Fatal(err)
	}
	n.calleePort = freePort(t)
	registerPhone(t, n.sippDir, n.cfgA.SIPPort, n.calleePort, "1002", "bob-secret")
	waitRegistered(t, newPresenceAPI(n.cfgB.HTTPPort, "1001", "alice-secret"), "1002", 2*time.Second)
	return n
}

// TestClusterNATSOutageKeepsCallsAndIsReported: a call is up through node b to Bob's phone at
// node a when the NATS server stops. Both nodes report it (/healthz 503 naming NATS,
// switchboard_cluster_connected 0), a DND change is refused with 503, and the call goes on; NATS
// back, both report healthy again, and the call is still there until node b stops.
func TestClusterNATSOutageKeepsCallsAndIsReported(t *testing.T) {
	needs.Program(t, "sip-tester", "sipp")
	n := bobAtNodeA(t, 5*time.Second)
	uas := startSIPp(t, n.sippDir, "uas", "-sf", scenario(t, "uas.xml"), "-i", "127.0.0.1", "-p", strconv.Itoa(n.calleePort),
		"-mp", strconv.Itoa(freeMediaPort(t)), "-rtp_echo", "-m", "1", "-trace_msg")
	uac := startSIPp(t, n.sippDir, "uac", "127.0.0.1:"+strconv.Itoa(n.cfgB.SIPPort), "-sf", scenario(t, "uac_until_bye.xml"),
		"-i", "127.0.0.1", "-p", strconv.Itoa(freePort(t)), "-mp", strconv.Itoa(freeMediaPort(t)),
		"-s", "1002", "-key", "caller", "1001", "-au", "1001", "-ap", "alice-secret", "-m", "1", "-timeout", "60s")
	if !poll.Until(10*time.Second, func() bool { return uas.fileContains("*_messages.log", "ACK sip:") }) {
		t.Fatalf("call through node b to node a not up within 10s\n%s", uac.report())
	}

	n.nats.Stop(0)
	alice := newPresenceAPI(n.cfgB.HTTPPort, "1001", "alice-secret")
	for _, cfg := range []switchConfig{n.cfgA, n.cfgB} {
		api := newPresenceAPI(cfg.HTTPPort, "1001", "alice-secret")
		var body []byte
		if !poll.Until(5*time.Second, func() bool {
			code, b, err := api.do(http.MethodGet, "/healthz", nil)
			body = b
			return err == nil && code == http.StatusServiceUnavailable
		}) {
			t.Fatalf("/healthz on HTTP port %d during the outage: %s, want 503", cfg.HTTPPort, body)
		}
		if !strings.Contains(string(body), "NATS") {
			t.Errorf("/healthz says %s, want NATS named", body)
		}
		if got := scrapeMetric(t, cfg.HTTPPort, "switchboard_cluster_connected"); got != 0 {
			t.Errorf("switchboard_cluster_connected %v during the outage", got)
		}
	}
	if code, body := alice.put(t, "1001", "dnd"); code != http.StatusServiceUnavailable {
		t.Errorf("DND during the outage: %d %s, want 503", code, body)
	}
	if activeCalls(n.cfgB.HTTPPort) != 1 || activeCalls(n.cfgA.HTTPPort) != 1 {
		t.Fatalf("calls during the outage: node b %d, node a %d; want the one call on each", activeCalls(n.cfgB.HTTPPort), activeCalls(n.cfgA.HTTPPort))
	}

	n.nats.Restart(0)
	for _, cfg := range []switchConfig{n.cfgA, n.cfgB} {
		api := newPresenceAPI(cfg.HTTPPort, "1001", "alice-secret")
		if !poll.Until(10*time.Second, func() bool {
			code, _, err := api.do(http.MethodGet, "/healthz", nil)
			return err == nil && code == http.StatusOK
		}) {
			t.Fatalf("/healthz on HTTP port %d not 200 after NATS came back", cfg.HTTPPort)
		}
	}
	code, body, err := alice.do(http.MethodGet, "/api/v1/calls", nil)
	var calls []struct{ ID string }
	if err != nil || code != http.StatusOK || json.Unmarshal(body, &calls) != nil || len(calls) != 1 {
		t.Fatalf("calls at node b after the outage: %d %s %v", code, body, err)
	}
	n.swB.sigterm(t)                   // node b stops: it hangs its call up
	uac.mustSucceed(t, 10*time.Second) // the call lasted until then, and Alice got her BYE
}
