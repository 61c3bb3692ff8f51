package main

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/switchboard-voip/switchboard/internal/needs"
)

// TestBaresipPhonesOverTLSAndSRTP: two baresip phones call each other through the switch and
// each hears the other's tone, (a) registered over SIP TLS (checking the switch's certificate),
// the INVITE reaching Bob over his own connection, and (b) insisting on SRTP (srtp.so,
// mediaenc=srtp-mand, SDES keys) with media.srtp required for both, so that the switch decrypts
// one leg's SRTP and encrypts it again with the other leg's keys, and (c) with SRTP on Alice's
// side only (her policy required, Bob's the default optional), so that one leg is SRTP and the
// other plain RTP.
func TestBaresipPhonesOverTLSAndSRTP(t *testing.T) {
	needs.Program(t, "baresip-core", "baresip")
	for _, secure := range []string{"tls", "srtp", "srtp-to-plain"} {
		t.Run(secure, func(t *testing.T) {
			tlsPort := freePort(t)
			vc := vmConfig{md5Only: true, tlsPort: tlsPort}
			switch secure {
			case "srtp":
				vc = vmConfig{md5Only: true, userExtra: map[string]string{"1001": "    srtp: required\n", "1002": "    srtp: required\n"}}
			case "srtp-to-plain":
				vc = vmConfig{md5Only: true, userExtra: map[string]string{"1001": "    srtp: required\n"}}
			}
			ps := startPeerSwitchWith(t, vc)
			dir, sw := ps.dir, ps.sw
			target := func(ext string) string {
				if secure == "tls" {
					return fmt.Sprintf("sip:%s@127.0.0.1:%d;transport=tls", ext, tlsPort)
				}
				return fmt.Sprintf("sip:%s@127.0.0.1:%d", ext, ps.cfg.SIPPort)
			}
			phone := func(ext string) *baresipPhone {
				tone := filepath.Join(dir, "tone-"+ext+".wav")
				writeToneWAV(t, tone, peerTone[ext], 0.4, 60*time.Second)
				opts := baresipOptions{source: tone, record: true,
					account: fmt.Sprintf("<%s>;auth_pass=%s;regint=60", target(ext), testPassword(t, ext))}
				registered := []string{"contact registered", fmt.Sprintf(`"ext": %q`, ext)}
				if secure == "tls" {
					opts.caFile = filepath.Join(dir, "sip.crt")
					registered = append(registered, `"transport": "TLS"`)
				} else if ext == "1001" || secure == "srtp" {
					opts.menc = []string{"srtp.so"}
					opts.account += ";mediaenc=srtp-mand"
				}
				p := startBaresip(t, dir, ext, opts)
				waitLog(t, sw, 10*time.Second, registered...)
				return p
			}
			alice, bob := phone("1001"), phone("1002")
			alice.command("dial", target("1002"))
			bob.answerNext(10 * time.Second)
			alice.waitEvent("CALL_ESTABLISHED", 10*time.Second, isEvent("CALL_ESTABLISHED"), isEvent("CALL_CLOSED"))
			wantHears(t, "Alice hears Bob", alice.waitHeard(samplesOf(1500*time.Millisecond), 10*time.Second)[samplesOf(500*time.Millisecond):], "1002", "1003")
			wantHears(t, "Bob hears Alice", bob.waitHeard(samplesOf(1500*time.Millisecond), 10*time.Second)[samplesOf(500*time.Millisecond):], "1001", "1003")
			alice.command("hangup", "")
			bob.waitEvent("CALL_CLOSED", 10*time.Second, isEvent("CALL_CLOSED"), nil)
			ps.waitAvailable("1002")
		})
	}
}
