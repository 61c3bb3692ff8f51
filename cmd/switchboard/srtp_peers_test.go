package main

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/switchboard-voip/switchboard/internal/needs"
)

// TestBaresipSRTPPhones: two baresip phones that insist on SRTP (srtp.so, mediaenc=srtp-mand,
// SDES keys) call each other through the switch, 1002's media.srtp required so that it is
// offered RTP/SAVP: each hears the other's tone, which means the switch decrypted one leg's
// SRTP and encrypted it again with the other leg's keys.
func TestBaresipSRTPPhones(t *testing.T) {
	needs.Program(t, "baresip-core", "baresip")
	ps := startPeerSwitchWith(t, vmConfig{md5Only: true, userExtra: map[string]string{
		"1001": "    srtp: required\n", "1002": "    srtp: required\n"}})
	dir, sw := ps.dir, ps.sw
	phone := func(ext string) *baresipPhone {
		tone := filepath.Join(dir, "tone-"+ext+".wav")
		writeToneWAV(t, tone, peerTone[ext], 0.4, 60*time.Second)
		p := startBaresip(t, dir, ext, baresipOptions{source: tone, record: true, menc: []string{"srtp.so"},
			account: fmt.Sprintf("<sip:%s@127.0.0.1:%d>;auth_pass=%s;regint=60;mediaenc=srtp-mand", ext, ps.cfg.SIPPort, testPassword(t, ext))})
		waitLog(t, sw, 10*time.Second, "contact registered", fmt.Sprintf(`"ext": %q`, ext))
		return p
	}
	alice, bob := phone("1001"), phone("1002")
	alice.command("dial", fmt.Sprintf("sip:1002@127.0.0.1:%d", ps.cfg.SIPPort))
	bob.answerNext(10 * time.Second)
	alice.waitEvent("CALL_ESTABLISHED", 10*time.Second, isEvent("CALL_ESTABLISHED"), isEvent("CALL_CLOSED"))
	wantHears(t, "Alice hears Bob over SRTP", alice.waitHeard(samplesOf(1500*time.Millisecond), 10*time.Second)[samplesOf(500*time.Millisecond):], "1002", "1003")
	wantHears(t, "Bob hears Alice over SRTP", bob.waitHeard(samplesOf(1500*time.Millisecond), 10*time.Second)[samplesOf(500*time.Millisecond):], "1001", "1003")
	alice.command("hangup", "")
	bob.waitEvent("CALL_CLOSED", 10*time.Second, isEvent("CALL_CLOSED"), nil)
	ps.waitAvailable("1002")
}
