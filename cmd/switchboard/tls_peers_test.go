package main

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/switchboard-voip/switchboard/internal/needs"
)

// TestBaresipPhonesOverTLS: two baresip phones register over SIP TLS (checking the switch's
// certificate) and call each other: the INVITE reaches Bob over his own connection and each
// hears the other.
func TestBaresipPhonesOverTLS(t *testing.T) {
	needs.Program(t, "baresip-core", "baresip")
	tlsPort := freePort(t)
	ps := startPeerSwitchWith(t, vmConfig{md5Only: true, tlsPort: tlsPort})
	dir, sw := ps.dir, ps.sw
	phone := func(ext string) *baresipPhone {
		tone := filepath.Join(dir, "tone-"+ext+".wav")
		writeToneWAV(t, tone, peerTone[ext], 0.4, 60*time.Second)
		p := startBaresip(t, dir, ext, baresipOptions{source: tone, record: true, caFile: filepath.Join(dir, "sip.crt"),
			account: fmt.Sprintf("<sip:%s@127.0.0.1:%d;transport=tls>;auth_pass=%s;regint=60", ext, tlsPort, testPassword(t, ext))})
		waitLog(t, sw, 10*time.Second, "contact registered", fmt.Sprintf(`"ext": %q`, ext), `"transport": "TLS"`)
		return p
	}
	alice, bob := phone("1001"), phone("1002")
	alice.command("dial", fmt.Sprintf("sip:1002@127.0.0.1:%d;transport=tls", tlsPort))
	bob.answerNext(10 * time.Second)
	alice.waitEvent("CALL_ESTABLISHED", 10*time.Second, isEvent("CALL_ESTABLISHED"), isEvent("CALL_CLOSED"))
	wantHears(t, "Alice hears Bob over TLS signalling", alice.waitHeard(samplesOf(1500*time.Millisecond), 10*time.Second)[samplesOf(500*time.Millisecond):], "1002", "1003")
	wantHears(t, "Bob hears Alice", bob.waitHeard(samplesOf(1500*time.Millisecond), 10*time.Second)[samplesOf(500*time.Millisecond):], "1001", "1003")
	alice.command("hangup", "")
	bob.waitEvent("CALL_CLOSED", 10*time.Second, isEvent("CALL_CLOSED"), nil)
	ps.waitAvailable("1002")
}
