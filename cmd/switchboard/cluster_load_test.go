package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-voip/switchboard/internal/natstest"
	"github.com/switchboard-voip/switchboard/internal/needs"
)

// TestLoadCluster measures calls a second through two nodes against one (make bench): the
// callees are registered at node a; each rate is placed once straight to node a (one node does
// everything) and once to node b (which routes and forwards every call to node a: two
// back-to-back legs, two relays, statuses through NATS). Both nodes, a NATS server with
// JetStream (inside the test process) and SIPp share this machine, so the figure is the cost of
// the second hop, not the gain of a second machine. Rates: SWITCHBOARD_LOAD_CLUSTER_RATES
// (default "100,200,400"), SWITCHBOARD_LOAD_STEP seconds each (default 10), calls held 1 s;
// SWITCHBOARD_LOAD_CLUSTER_PPROF=127.0.0.1:6061 serves node a's profiler there.
func TestLoadCluster(t *testing.T) {
	if os.Getenv("SWITCHBOARD_LOAD_CLUSTER") == "" {
		t.Skip("cluster load benchmark: set SWITCHBOARD_LOAD_CLUSTER=1 (make bench)")
	}
	needs.Program(t, "sip-tester", "sipp")
	raiseFileLimit(t)
	rates := envRates(t, "SWITCHBOARD_LOAD_CLUSTER_RATES", []int{100, 200, 400})
	stepSeconds := envInt(t, "SWITCHBOARD_LOAD_STEP", 10)
	const hold = 1
	dir := t.TempDir()
	nats := natstest.Start(t, 1, true)

	callees := 1
	for _, r := range rates {
		callees = max(callees, r*(hold+2)*2)
	}
	users := calleeUsers(min(callees, loadMaxCallees))
	start := func(name string) (switchConfig, *switchProcess) {
		nodeDir := filepath.Join(dir, name)
		if err := os.MkdirAll(nodeDir, 0o750); err != nil {
			t.Fatal(err)
		}
		cfg, cfgPath := newSwitchConfigWith(t, nodeDir, 6000, 60*time.Second, users)
		joinCluster(t, cfgPath, name, nats.URLs(0), 15*time.Second)
		args := []string{"-log-level", "warn"}
		if addr := os.Getenv("SWITCHBOARD_LOAD_CLUSTER_PPROF"); addr != "" && name == "a" { // profile node a
			args = append(args, "-pprof", addr)
		}
		return cfg, startBinary(t, cfg, cfgPath, args...)
	}
	cfgA, swA := start("a")
	cfgB, swB := start("b")
	calleePort := freePort(t)
	registerUsers(t, dir, "register", cfgA.SIPPort, calleePort, users)
	atB := newPresenceAPI(cfgB.HTTPPort, "1001", "alice-secret")
	waitRegistered(t, atB, users[len(users)-1].ext, 10*time.Second)
	calleesCSV := calleesFile(t, dir, "callees.csv", exts(users)...)
	uas := startSIPp(t, dir, "uas", "-sf", scenario(t, "uas.xml"), "-i", "127.0.0.1",
		"-p", strconv.Itoa(calleePort), "-mp", strconv.Itoa(freeMediaPort(t)), "-rtp_echo",
		"-trace_stat", "-fd", "1", "-trace_counts")
	waitUDPBound(t, calleePort, 5*time.Second)
	callee := &calleeTally{uas: uas}

	pids := []int{swA.cmd.Process.Pid, swB.cmd.Process.Pid}
	var results []loadResult
	for i, r := range rates {
		for _, via := range []struct {
			name string
			cfg  switchConfig
		}{{"one node", cfgA}, {"two nodes", cfgB}} {
			label := fmt.Sprintf("%d cps %s", r, via.name)
			res := runLoadStep(t, dir, fmt.Sprintf("step%d-%s", i, strings.ReplaceAll(via.name, " ", "")), scenario(t, "uac.xml"),
				"127.0.0.1:"+strconv.Itoa(via.cfg.SIPPort), calleesCSV, pids, label, r, r*stepSeconds, hold)
			res.leftover = waitCallsDrained(via.cfg.HTTPPort, 1100*time.Millisecond, 4*time.Second)
			var unexpected int
			res.putThrough, res.calleeFailed, res.retxAtCallee, unexpected = callee.step(t)
			res.unexpected += unexpected
			results = append(results, res)
			t.Log(res.line())
		}
	}
	t.Logf("calls through one node (callees registered there) and through two (caller at b, callees at a); "+
		"CPU and RSS are both nodes' together:\n%s", loadTable(results))
}
