package main

import (
	"strconv"
	"testing"
	"time"

	"github.com/switchboard-voip/switchboard/internal/needs"
)

// TestSIPpCallsReachTheContact: one SIPp instance registers 1002 on behalf of another (a
// third-party registration, the usual load-test shape), whose Contact is a SIPp UAS; a call to
// 1002 is answered by that UAS. Then a phone behind NAT — its Contact a private address, its
// REGISTER from the UAS's own port — is reached at that source.
func TestSIPpCallsReachTheContact(t *testing.T) {
	needs.Program(t, "sip-tester", "sipp")
	for _, tc := range []struct {
		name        string
		contactHost string
		fromUAS     bool // the REGISTER leaves from the UAS's port (the NAT case)
	}{
		{"third-party registration", "127.0.0.1", false},
		{"NATed contact", "192.168.1.50", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg, cfgPath := newSwitchConfig(t, dir, 200, 10*time.Second)
			stop, _ := startInProcess(t, cfg, cfgPath)
			remote := "127.0.0.1:" + strconv.Itoa(cfg.SIPPort)

			uasPort, registrarPort := freePort(t), freePort(t)
			if tc.fromUAS {
				registrarPort = uasPort
			}
			registerUsersAt(t, dir, "register", cfg.SIPPort, registrarPort, tc.contactHost, uasPort,
				[]testUser{{ext: "1002", password: "bob-secret"}})
			uas := startSIPp(t, dir, "uas",
				"-sf", scenario(t, "uas.xml"), "-i", "127.0.0.1", "-p", strconv.Itoa(uasPort),
				"-mp", strconv.Itoa(freeMediaPort(t)), "-rtp_echo", "-m", "1", "-trace_msg")
			uac := startSIPp(t, dir, "uac",
				remote, "-sf", scenario(t, "uac.xml"), "-i", "127.0.0.1", "-p", strconv.Itoa(freePort(t)),
				"-mp", strconv.Itoa(freeMediaPort(t)),
				"-inf", calleesFile(t, dir, "callees.csv", "1002"),
				"-key", "caller", "1001", "-au", "1001", "-ap", "alice-secret",
				"-d", "500", "-m", "1", "-trace_msg", "-timeout", "20s", "-timeout_error")
			uac.mustSucceed(t, 30*time.Second)
			uas.mustSucceed(t, 10*time.Second) // it took the call: exit 0 after -m 1 completed call
			if code := stop(); code != 0 {
				t.Errorf("run returned %d on shutdown, want 0", code)
			}
		})
	}
}
