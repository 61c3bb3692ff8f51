package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-voip/switchboard/internal/needs"
)

// These tests drive real SIPp phones against a real Switchboard, run in-process with run() so
// that the race detector watches the switch while it carries calls.

// TestSIPpCallWithAudioFlowsBothWays places one authenticated call from 1001 to 1002's
// registered SIPp phone. The caller plays G.711 from a pcap and echoes what it hears; the
// callee's media is an RTP probe. Both directions of media must cross the switch.
func TestSIPpCallWithAudioFlowsBothWays(t *testing.T) {
	needs.Program(t, "sip-tester", "sipp")
	dir := t.TempDir()
	cfg, cfgPath := newSwitchConfig(t, dir, 200, 10*time.Second)
	stop, logs := startInProcess(t, cfg, cfgPath)
	remote := "127.0.0.1:" + strconv.Itoa(cfg.SIPPort)

	calleePort := freePort(t)
	registerPhone(t, dir, cfg.SIPPort, calleePort, "1002", "bob-secret")
	uac, uas, probe := audioCall(t, dir, remote, calleePort)

	// Media is anchored: the SDP each phone receives points at Switchboard's RTP ports.
	for _, c := range []struct {
		p     *sippProc
		first string
	}{{uac, "SIP/2.0 200"}, {uas, "INVITE "}} {
		ports := receivedAudioPorts(t, c.p, c.first)
		if len(ports) == 0 {
			t.Errorf("sipp %s received no %q with SDP\n%s", c.p.name, c.first, c.p.report())
		}
		for _, port := range ports {
			if port < cfg.RTPMin || port > cfg.RTPMax {
				t.Errorf("sipp %s: %q SDP has m=audio %d, outside Switchboard's rtp_ports %d-%d (media not anchored)",
					c.p.name, c.first, port, cfg.RTPMin, cfg.RTPMax)
			}
		}
	}

	from, echoed, sent := probe.fromCaller.Load(), probe.echoed.Load(), probe.sent.Load()
	t.Logf("RTP: callee got %d packets of the caller's audio (PT %d); sent %d, %d came back through the caller's echo",
		from, probe.payload.Load(), sent, echoed)
	if from < 50 {
		t.Errorf("callee got %d RTP packets from the caller in a 3 s call, want >= 50 (caller -> switch -> callee broken)", from)
	}
	if pt := probe.payload.Load(); pt != 8 {
		t.Errorf("callee got payload type %d, want 8 (PCMA as in the pcap)", pt)
	}
	if echoed < sent/3 || echoed == 0 {
		t.Errorf("%d of the callee's %d packets came back via the caller, want most (callee -> switch -> caller broken)", echoed, sent)
	}
	if code := stop(); code != 0 {
		t.Errorf("run returned %d on shutdown, want 0", code)
	}
	if !strings.Contains(logs.String(), "call answered") {
		t.Errorf("switch log has no \"call answered\"")
	}
}

// audioCall places one 3 s call from 1001 (SIPp playing G.711 and echoing what it hears) to
// 1002's SIPp phone at calleePort (registered already; its media is an RTP probe) through the
// switch at remote, and returns once both have finished their scenarios.
func audioCall(t *testing.T, dir, remote string, calleePort int) (uac, uas *sippProc, probe *rtpProbe) {
	t.Helper()
	probe = newRTPProbe(t)
	uas = startSIPp(t, dir, "uas",
		"-sf", scenario(t, "uas_probe.xml"), "-i", "127.0.0.1", "-p", strconv.Itoa(calleePort),
		"-mp", strconv.Itoa(freeMediaPort(t)), "-key", "rtp_ip", "127.0.0.1",
		"-key", "rtp_port", strconv.Itoa(probe.port()), "-m", "1", "-trace_msg")
	uac = startSIPp(t, dir, "uac",
		remote, "-sf", scenario(t, "uac.xml"), "-i", "127.0.0.1", "-p", strconv.Itoa(freePort(t)),
		"-mp", strconv.Itoa(freeMediaPort(t)), "-rtp_echo",
		"-inf", calleesFile(t, dir, "callees.csv", "1002"),
		"-key", "caller", "1001", "-au", "1001", "-ap", "alice-secret",
		"-d", "3000", "-m", "1", "-trace_msg", "-timeout", "30s", "-timeout_error")
	uac.mustSucceed(t, 40*time.Second)
	uas.mustSucceed(t, 15*time.Second)
	return uac, uas, probe
}

// TestSIPp200CallsAt20PerSecond places 200 short calls with audio at 20 calls/s, the callee
// echoing RTP; every call must complete (SIPp exits 0 only then) and reach the callee's phone.
// A user on a call is Busy, and the switch answers a second call to them itself, so the calls
// go to 100 users in turn, all registered to the one SIPp UAS: each is called every 5 s, for
// about 1 s.
func TestSIPp200CallsAt20PerSecond(t *testing.T) {
	needs.Program(t, "sip-tester", "sipp")
	if testing.Short() {
		t.Skip("-short: skipping the 200-call run")
	}
	const calls, rate, holdMS = 200, 20, 1000
	callees := calleeUsers(100)
	dir := t.TempDir()
	cfg, cfgPath := newSwitchConfigWith(t, dir, 400, 10*time.Second, callees)
	stop, _ := startInProcess(t, cfg, cfgPath)
	remote := "127.0.0.1:" + strconv.Itoa(cfg.SIPPort)

	calleePort := freePort(t)
	registerUsers(t, dir, "register", cfg.SIPPort, calleePort, callees)

	uas := startSIPp(t, dir, "uas",
		"-sf", scenario(t, "uas.xml"), "-i", "127.0.0.1", "-p", strconv.Itoa(calleePort),
		"-mp", strconv.Itoa(freeMediaPort(t)), "-rtp_echo", "-m", strconv.Itoa(calls),
		"-trace_stat", "-fd", "1")
	start := time.Now()
	uac := startSIPp(t, dir, "uac",
		remote, "-sf", scenario(t, "uac.xml"), "-i", "127.0.0.1", "-p", strconv.Itoa(freePort(t)),
		"-mp", strconv.Itoa(freeMediaPort(t)),
		"-inf", calleesFile(t, dir, "callees.csv", exts(callees)...),
		"-key", "caller", "1001", "-au", "1001", "-ap", "alice-secret",
		"-r", strconv.Itoa(rate), "-m", strconv.Itoa(calls), "-l", "100", "-d", strconv.Itoa(holdMS),
		"-trace_stat", "-fd", "1", "-timeout", "60s", "-timeout_error")

	code := uac.wait(70 * time.Second)
	last, _ := readStats(t, uac)
	t.Logf("caller: %d calls in %s: %d successful, %d failed; failures: %s; retransmissions %d",
		last.int("TotalCallCreated"), time.Since(start).Round(100*time.Millisecond),
		last.int("SuccessfulCall(C)"), last.int("FailedCall(C)"), last.failures(), last.int("Retransmissions(C)"))
	if code != 0 {
		t.Fatalf("caller sipp exited %d, want 0 (all %d calls successful)\n%s", code, calls, uac.report())
	}
	if got := last.int("SuccessfulCall(C)"); got != calls {
		t.Errorf("caller: %d successful calls, want %d", got, calls)
	}
	if got := last.int("FailedCall(C)"); got != 0 {
		t.Errorf("caller: %d failed calls, want 0 (%s)", got, last.failures())
	}
	// Every call reached the phone: the UAS exits 0 only after -m calls, all completed.
	uasCode := uas.wait(15 * time.Second)
	uasLast, _ := readStats(t, uas)
	t.Logf("callee: %d calls, %d successful, %d failed", uasLast.int("TotalCallCreated"),
		uasLast.int("SuccessfulCall(C)"), uasLast.int("FailedCall(C)"))
	if uasCode != 0 {
		t.Fatalf("callee sipp exited %d, want 0 (all %d calls put through to it and completed)\n%s", uasCode, calls, uas.report())
	}
	if got := uasLast.int("SuccessfulCall(C)"); got != calls {
		t.Errorf("callee: %d successful calls, want %d (the rest were not put through)", got, calls)
	}
	if code := stop(); code != 0 {
		t.Errorf("run returned %d on shutdown, want 0", code)
	}
}

// receivedAudioPorts returns the m=audio ports of the messages p received (its -trace_msg log)
// whose first line starts with first.
func receivedAudioPorts(t testing.TB, p *sippProc, first string) []int {
	t.Helper()
	var ports []int
	files, _ := filepath.Glob(filepath.Join(p.dir, "*_messages.log"))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		// Each message is logged as a dashed separator with a timestamp, "... message received
		// [N] bytes :", a blank line, then the message.
		for _, block := range strings.Split(string(data), "\n-----------------------------------------------") {
			_, msg, ok := strings.Cut(block, "message received")
			if !ok {
				continue
			}
			_, msg, _ = strings.Cut(msg, "\n")
			msg = strings.TrimLeft(msg, "\r\n")
			if !strings.HasPrefix(msg, first) {
				continue
			}
			for _, line := range strings.Split(msg, "\n") {
				if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "m=audio "); ok {
					port, _, _ := strings.Cut(rest, " ")
					if n, err := strconv.Atoi(port); err == nil {
						ports = append(ports, n)
					}
				}
			}
		}
	}
	return ports
}
