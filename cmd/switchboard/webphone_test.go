package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/emiago/sipgo"

	"github.com/switchboard-voip/switchboard/internal/poll"
	"github.com/switchboard-voip/switchboard/internal/sipphone"
)

// Browsers as phones, against the real binary: headless Chromium running JsSIP driven directly
// (testdata/jssip-phone.html, not Switchboard's page, to prove any standard WebRTC SIP client
// works) registers over SIP on a WebSocket and talks WebRTC; baresip phones speak plain RTP.
// Each side's microphone sends its own tone (peerTone), and the tests check who hears whom.

// onCall reports whether presence shows ext on a call (Busy).
func (ps *peerSwitch) onCall(ext string) bool {
	code, body := ps.api(http.MethodGet, "/api/v1/presence/"+ext, "1001", nil)
	var v presenceView
	return code == http.StatusOK && json.Unmarshal(body, &v) == nil && v.OnCall
}

// TestBrowserCallsBaresipPhone: Alice in a browser calls Bob's baresip phone, which rings and
// is answered; Bob hears Alice's tone and Alice hears Bob's; Alice is Busy on the team view
// while they talk; she hangs up, Bob's call ends and both are available again.
func TestBrowserCallsBaresipPhone(t *testing.T) {
	ps, ws := startBrowserSwitch(t)
	bob := ps.baresipUser("1002")
	alice := ps.jsUser(ws, "1001")

	jsEval[bool](alice, `(T.call('sip:1002@127.0.0.1'), true)`)
	bob.answerNext(15 * time.Second)
	alice.waitJS("the call answered", `T.state === 'talking'`, 10*time.Second)

	heard := bob.waitHeard(samplesOf(1500*time.Millisecond), 10*time.Second)
	wantHears(t, "Bob hears the browser", heard[samplesOf(500*time.Millisecond):], "1001", "1003")
	alice.waitHears("the browser hears Bob", "1002", "1001")
	poll.Require(t, 5*time.Second, "Alice Busy while talking", func() bool { return ps.onCall("1001") })

	// Hold and resume from the browser: re-INVITEs through the gateway both times; Bob's voice
	// goes, then comes back.
	jsEval[bool](alice, `(T.hold(), true)`)
	alice.waitJS("the call held", `T.held && T.level(600) < 0.01`, 10*time.Second)
	jsEval[bool](alice, `(T.unhold(), true)`)
	alice.waitJS("the call resumed", `!T.held`, 10*time.Second)
	alice.waitHears("the browser hears Bob again", "1002", "1001")

	jsEval[bool](alice, `(T.hangup(), true)`)
	bob.waitEvent("CALL_CLOSED", 10*time.Second, isEvent("CALL_CLOSED"), nil)
	ps.waitAvailable("1001")
	ps.waitAvailable("1002")
}

// TestBaresipPhoneCallsBrowser: Bob's baresip phone calls Alice, who is in a browser: the page
// rings with Bob's number and name, Alice answers, and each hears the other.
func TestBaresipPhoneCallsBrowser(t *testing.T) {
	ps, ws := startBrowserSwitch(t)
	bob := ps.baresipUser("1002")
	alice := ps.jsUser(ws, "1001")

	bob.command("dial", ps.uri("1001"))
	alice.waitJS("an incoming call from Bob", `T.state === 'ringing' && T.incoming.from === '1002'`, 10*time.Second)
	if name := jsEval[string](alice, `T.incoming.name`); name != "Bob" {
		t.Errorf("the browser shows the caller as %q, want Bob", name)
	}
	jsEval[bool](alice, `(T.answer(), true)`)
	bob.waitEvent("CALL_ESTABLISHED", 10*time.Second, isEvent("CALL_ESTABLISHED"), isEvent("CALL_CLOSED"))
	alice.waitJS("the call up", `T.state === 'talking'`, 10*time.Second)

	alice.waitHears("the browser hears Bob", "1002", "1001")
	heard := bob.waitHeard(samplesOf(1500*time.Millisecond), 10*time.Second)
	wantHears(t, "Bob hears the browser", heard[samplesOf(500*time.Millisecond):], "1001", "1003")

	bob.command("hangup", "")
	alice.waitJS("the call ended by Bob", `T.state === 'ended'`, 10*time.Second)
	ps.waitAvailable("1001")
}

// TestBrowserCallsBrowser: Alice and Carol, each in a browser of her own, talk to each other
// through the switch (WebRTC on both legs, G.711 passed through).
func TestBrowserCallsBrowser(t *testing.T) {
	ps, ws := startBrowserSwitch(t)
	alice, carol := ps.jsUser(ws, "1001"), ps.jsUser(ws, "1003")

	jsEval[bool](alice, `(T.call('sip:1003@127.0.0.1'), true)`)
	carol.waitJS("Alice's call", `T.state === 'ringing' && T.incoming.from === '1001'`, 10*time.Second)
	jsEval[bool](carol, `(T.answer(), true)`)
	alice.waitJS("the call answered", `T.state === 'talking'`, 10*time.Second)
	carol.waitHears("Carol hears Alice", "1001", "1003")
	alice.waitHears("Alice hears Carol", "1003", "1001")
	jsEval[bool](carol, `(T.hangup(), true)`)
	alice.waitJS("the call ended by Carol", `T.state === 'ended'`, 10*time.Second)
}

// TestBrowserReachesDNDVoicemail: Carol is on DND; Alice calls her from a browser, hears the
// greeting, talks, hangs up: Carol's mailbox holds a message from Alice with Alice's tone.
func TestBrowserReachesDNDVoicemail(t *testing.T) {
	ps, ws := startBrowserSwitch(t)
	alice := ps.jsUser(ws, "1001")
	if code, body := ps.api(http.MethodPut, "/api/v1/presence/1003", "1003", []byte(`{"status":"dnd"}`)); code != http.StatusOK {
		t.Fatalf("Carol's DND: %d %s", code, body)
	}
	jsEval[bool](alice, `(T.call('sip:1003@127.0.0.1'), true)`)
	alice.waitJS("the switch answering", `T.state === 'talking'`, 10*time.Second)
	waitLog(t, ps.sw, 20*time.Second, "recording the message", `"box": "1003"`)
	// Three seconds of Alice into the mailbox, as her browser counts the packets it sent.
	sent := jsEval[float64](alice, `T.sent`)
	alice.waitJS("3 s of Alice's audio sent", fmt.Sprintf(`T.sent >= %v`, sent+150), 10*time.Second)
	jsEval[bool](alice, `(T.hangup(), true)`)
	msgs := waitVoicemail(t, ps.cfg.HTTPPort, "1003", "carol-secret", 1, 10*time.Second)
	if d := time.Duration(msgs[0].DurationMS) * time.Millisecond; msgs[0].From != "1001" || d < 2*time.Second {
		t.Errorf("message %+v: want one from Alice of about 3 s", msgs[0])
	}
	samples := fetchVoicemailWAV(t, ps.cfg.HTTPPort, "1003", "carol-secret", msgs[0].ID, ps.dir)
	wantHears(t, "Carol's message", samples, "1001", "1002")
}

// TestBrowserClosedMidCallEndsTheCall: Alice talks to Bob from a browser, and the browser dies
// (no BYE, no goodbye of any kind). Her media stops, the switch ends the call within the ICE
// timeout: Bob's phone hangs up, Alice is no longer Busy and every media port is back.
func TestBrowserClosedMidCallEndsTheCall(t *testing.T) {
	ps, ws := startBrowserSwitch(t)
	bob := ps.baresipUser("1002")
	alice := ps.jsUser(ws, "1001")
	jsEval[bool](alice, `(T.call('sip:1002@127.0.0.1'), true)`)
	bob.answerNext(15 * time.Second)
	alice.waitHears("the browser hears Bob", "1002", "1001")
	if n, _ := ps.metric("switchboard_media_ports_in_use"); n < 3 {
		t.Errorf("%v media port pairs in use during a browser call, want the two legs' and the gateway's", n)
	}

	killed := time.Now()
	alice.browser.Kill()
	bob.waitEvent("CALL_CLOSED", 30*time.Second, isEvent("CALL_CLOSED"), nil)
	t.Logf("the call ended %v after the browser died", time.Since(killed).Round(100*time.Millisecond))
	ps.waitAvailable("1001")
	poll.Require(t, 10*time.Second, "every media port back", func() bool {
		n, ok := ps.metric("switchboard_media_ports_in_use")
		return ok && n == 0
	})
}

// TestBrowserOfferWithoutG711IsRefused: a browser offering Opus alone gets 488 (the switch does
// not transcode), and nothing is left of the attempt.
func TestBrowserOfferWithoutG711IsRefused(t *testing.T) {
	ps, ws := startBrowserSwitch(t)
	ps.baresipUser("1002")
	alice := ps.jsUser(ws, "1001")
	jsEval[bool](alice, `(T.callOpusOnly('sip:1002@127.0.0.1'), true)`)
	alice.waitJS("the call refused", `T.state === 'failed'`, 10*time.Second)
	if cause := jsEval[string](alice, `T.cause`); cause != "Incompatible SDP" {
		t.Errorf("JsSIP says %q, want Incompatible SDP (488)", cause)
	}
	waitLog(t, ps.sw, 5*time.Second, "browser offer refused", `"code": 488`)
	poll.Require(t, 10*time.Second, "no media port in use", func() bool {
		n, ok := ps.metric("switchboard_media_ports_in_use")
		return ok && n == 0
	})
}

// TestBrowserTransfersWithREFER: Alice, in a browser, talks to Bob and transfers him to Carol
// with JsSIP's own transfer (REFER): Carol's phone rings, Alice's call ends, Bob hears Carol.
func TestBrowserTransfersWithREFER(t *testing.T) {
	ps, ws := startBrowserSwitch(t)
	bob, carol := ps.baresipUser("1002"), ps.baresipUser("1003")
	alice := ps.jsUser(ws, "1001")
	jsEval[bool](alice, `(T.call('sip:1002@127.0.0.1'), true)`)
	bob.answerNext(15 * time.Second)
	alice.waitJS("the call answered", `T.state === 'talking'`, 10*time.Second)

	logOnFailure(t, ps.sw, "REFER", "refer", "NOTIFY", "transfer")
	jsEval[bool](alice, `(T.refer('sip:1003@127.0.0.1'), true)`)
	carol.answerNext(15 * time.Second)
	alice.waitJS("the transfer reported and her call ended", `T.referred === 'accepted' && T.state === 'ended'`, 15*time.Second)
	carolUp := len(bob.heard())
	heard := bob.waitHeard(carolUp+samplesOf(1500*time.Millisecond), 10*time.Second)
	wantHears(t, "Bob after the transfer", heard[carolUp+samplesOf(500*time.Millisecond):], "1003", "1001")
	ps.waitAvailable("1001")
}

// TestCarrierCallsBrowser: a call from a carrier (a trunk's DID, no credentials) to a user who
// is in a browser: the page rings with the outside number, Alice answers, and audio flows both
// ways between the carrier's plain RTP and the browser's WebRTC.
func TestCarrierCallsBrowser(t *testing.T) {
	ws := freePort(t)
	ps := startPeerSwitchWith(t, vmConfig{md5Only: true, wsPort: ws,
		extra: "trunks:\n  - name: carrier\n    allow: [\"127.0.0.1/32\"]\n    dids: {\"5551001\": \"1001\"}\n"})
	cfg := ps.cfg
	alice := ps.jsUser(ws, "1001")

	carrier := sipphone.New(t, cfg.SIPPort, "4930555", "")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := carrier.Dial(ctx, "5551001")
	if err != nil {
		t.Fatal(err)
	}
	alice.waitJS("the carrier's call", `T.state === 'ringing' && T.incoming.from.includes('4930555')`, 10*time.Second)
	jsEval[bool](alice, `(T.answer(), true)`)
	if err := d.WaitAnswer(ctx, sipgo.AnswerOptions{}); err != nil {
		t.Fatalf("the carrier's call not answered: %v", err)
	}
	if err := d.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	dst := sdpAudio(t, d.InviteResponse.Body())
	// The browser's audio starts once ICE and DTLS are up: the last second of three is checked.
	heard := carrier.Listen(ctx, dst, 3*time.Second)
	if len(heard) < samplesOf(1500*time.Millisecond) {
		t.Fatalf("the carrier heard %v of audio in 3 s", durationOf(heard))
	}
	checkTone(t, "the carrier hears the browser", heard[len(heard)-samplesOf(time.Second):], peerTone["1001"])
	streamed := make(chan struct{})
	go func() { defer close(streamed); carrier.Stream(ctx, dst, peerTone["1002"], 3*time.Second, nil) }()
	alice.waitHears("the browser hears the carrier", "1002", "1001")
	<-streamed
	if err := d.Bye(ctx); err != nil {
		t.Fatal(err)
	}
	alice.waitJS("the call ended by the carrier", `T.state === 'ended'`, 10*time.Second)
}
