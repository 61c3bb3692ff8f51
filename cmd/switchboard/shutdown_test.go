package main

import (
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/switchboard-voip/switchboard/internal/needs"
	"github.com/switchboard-voip/switchboard/internal/poll"
)

// TestSIGTERMHangsUpBothLegsAndExits0 runs the real binary, puts a call up between two SIPp
// phones, sends SIGTERM to the switch, and expects a BYE on each leg (each SIPp scenario
// completes only after answering one) and exit status 0.
func TestSIGTERMHangsUpBothLegsAndExits0(t *testing.T) {
	needs.Program(t, "sip-tester", "sipp")
	dir := t.TempDir()
	cfg, cfgPath := newSwitchConfig(t, dir, 100, 30*time.Second)
	sw := startBinary(t, cfg, cfgPath)
	remote := "127.0.0.1:" + strconv.Itoa(cfg.SIPPort)

	calleePort := freePort(t)
	registerPhone(t, dir, cfg.SIPPort, calleePort, "1002", "bob-secret")
	uas := startSIPp(t, dir, "uas",
		"-sf", scenario(t, "uas.xml"), "-i", "127.0.0.1", "-p", strconv.Itoa(calleePort),
		"-mp", strconv.Itoa(freeMediaPort(t)), "-rtp_echo", "-m", "1", "-trace_msg")
	uac := startSIPp(t, dir, "uac",
		remote, "-sf", scenario(t, "uac_until_bye.xml"), "-i", "127.0.0.1", "-p", strconv.Itoa(freePort(t)),
		"-mp", strconv.Itoa(freeMediaPort(t)),
		"-s", "1002", "-key", "caller", "1001", "-au", "1001", "-ap", "alice-secret",
		"-m", "1", "-trace_msg", "-timeout", "30s", "-timeout_error")

	// The call is up once the callee has the ACK.
	if !poll.Until(10*time.Second, func() bool { return uas.fileContains("*_messages.log", "ACK sip:") }) {
		t.Fatalf("call not established within 10s\n%s\n%s", uac.report(), uas.report())
	}
	// Let the call run with media for a while, so the shutdown meets a call in full flow. This
	// makes timing, it waits for nothing: what is checked is the BYEs and the exit.
	time.Sleep(500 * time.Millisecond)

	if err := sw.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-sw.exited:
	case <-time.After(15 * time.Second):
		t.Fatal("switchboard still running 15s after SIGTERM")
	}
	if sw.err != nil {
		t.Errorf("switchboard exit after SIGTERM: %v, want status 0", sw.err)
	}
	uac.mustSucceed(t, 10*time.Second) // the caller got its BYE and answered it
	uas.mustSucceed(t, 10*time.Second) // so did the callee
	if !strings.Contains(sw.log.String(), "shutting down") {
		t.Errorf("switch log does not mention shutting down:\n%s", tail(sw.log.String(), 20))
	}
}
