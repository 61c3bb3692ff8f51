package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-voip/switchboard/internal/needs"
	"github.com/switchboard-voip/switchboard/internal/poll"
	"github.com/switchboard-voip/switchboard/internal/sipphone"
	"github.com/switchboard-voip/switchboard/media"
)

// Call transfer with real phones against the real binary: baresip's own transfer command (a
// REFER in the call) and POST /api/v1/calls/{id}/transfer, checked by what the users notice —
// whose phone rings, whose call ends, and which tone each one hears.

// Each phone sends its own tone, so a recording says who is heard: Alice 800 Hz, Bob 600 Hz,
// Carol 1 kHz. None is the switch's 425 Hz ringback or one of checkTone's comparison tones.
var peerTone = map[string]float64{"1001": 800, "1002": 600, "1003": 1000}

// peerSwitch is the real binary for the transfer tests, and where its phones find it.
type peerSwitch struct {
	t   *testing.T
	dir string
	cfg switchConfig
	sw  *switchProcess
}

// startPeerSwitch runs the binary with testUsers (every user has a mailbox) and a debug log.
// baresip 1.0.0 needs the MD5-only digest challenge (see TestBaresipLeavesVoicemailAndGetsMWI).
func startPeerSwitch(t *testing.T) *peerSwitch {
	t.Helper()
	needs.Program(t, "baresip-core", "baresip")
	return startPeerSwitchWith(t, vmConfig{md5Only: true})
}

// startPeerSwitchWith runs the binary on a config written for vc, with a debug log.
func startPeerSwitchWith(t *testing.T, vc vmConfig) *peerSwitch {
	t.Helper()
	dir := t.TempDir()
	cfg, cfgPath := writeVMConfig(t, dir, vc)
	sw := startBinary(t, cfg, cfgPath, "-log-level", "debug")
	waitHTTP(t, cfg.HTTPPort)
	return &peerSwitch{t: t, dir: dir, cfg: cfg, sw: sw}
}

// uri is the SIP URI of ext on the switch, as a phone dials or transfers to it.
func (ps *peerSwitch) uri(ext string) string {
	return fmt.Sprintf("sip:%s@127.0.0.1:%d", ext, ps.cfg.SIPPort)
}

// baresipUser starts a baresip registered as ext of testUsers, sending its peerTone and keeping
// what it hears (baresipOptions.record), and waits for the switch to register it.
func (ps *peerSwitch) baresipUser(ext string) *baresipPhone {
	t := ps.t
	t.Helper()
	pass := testPassword(t, ext)
	tone := filepath.Join(ps.dir, "tone-"+ext+".wav")
	writeToneWAV(t, tone, peerTone[ext], 0.4, 60*time.Second)
	p := startBaresip(t, ps.dir, ext, baresipOptions{source: tone, record: true,
		account: fmt.Sprintf("<sip:%s@127.0.0.1:%d;transport=udp>;auth_pass=%s;regint=60", ext, ps.cfg.SIPPort, pass)})
	// baresip registers while it starts, before ctrl_tcp has a client to tell: watch the switch.
	waitLog(t, ps.sw, 10*time.Second, "contact registered", fmt.Sprintf(`"ext": %q`, ext))
	return p
}

// api sends an API request as ext (Basic auth with the SIP password) with a JSON body.
func (ps *peerSwitch) api(method, path, ext string, body []byte) (int, []byte) {
	ps.t.Helper()
	return apiSend(ps.t, method, ps.cfg.HTTPPort, path, ext, testPassword(ps.t, ext), "application/json", body)
}

// waitCall polls GET /api/v1/calls as ext until ok accepts one of the calls, and returns it.
func (ps *peerSwitch) waitCall(ext, what string, ok func(apiCall) bool) apiCall {
	ps.t.Helper()
	var (
		found apiCall
		last  []apiCall
	)
	if !poll.Until(10*time.Second, func() bool {
		code, body := ps.api(http.MethodGet, "/api/v1/calls", ext, nil)
		if code != http.StatusOK {
			ps.t.Fatalf("GET /api/v1/calls as %s: %d %s", ext, code, body)
		}
		last = nil
		if err := json.Unmarshal(body, &last); err != nil {
			ps.t.Fatalf("GET /api/v1/calls: %v in %s", err, body)
		}
		for _, c := range last {
			if ok(c) {
				found = c
				return true
			}
		}
		return false
	}) {
		ps.t.Fatalf("GET /api/v1/calls as %s never showed %s; last: %+v", ext, what, last)
	}
	return found
}

// waitAvailable waits until ext is Available and on no call, as presence shows it.
func (ps *peerSwitch) waitAvailable(ext string) {
	ps.t.Helper()
	var v presenceView
	if !poll.Until(10*time.Second, func() bool {
		code, body := ps.api(http.MethodGet, "/api/v1/presence/"+ext, "1001", nil)
		if code != http.StatusOK || json.Unmarshal(body, &v) != nil {
			return false
		}
		return v.Status == "available" && !v.OnCall
	}) {
		ps.t.Fatalf("%s is not available again: presence %+v", ext, v)
	}
}

// collect waits for a ctrl_tcp message that match accepts, like waitEvent, and also returns
// every message seen on the way (responses, other events), for the test to check or report.
func (p *baresipPhone) collect(what string, timeout time.Duration, match, fail func(baresipEvent) bool) (baresipEvent, []baresipEvent) {
	p.t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var seen []baresipEvent
	raws := func() []string {
		var r []string
		for _, ev := range seen {
			r = append(r, ev.raw)
		}
		return r
	}
	for {
		select {
		case ev, ok := <-p.events:
			if !ok {
				p.t.Fatalf("baresip %s: ctrl_tcp closed while waiting for %s; seen: %v", p.name, what, raws())
			}
			seen = append(seen, ev)
			if match(ev) {
				return ev, seen
			}
			if fail != nil && fail(ev) {
				p.t.Fatalf("baresip %s: got %s while waiting for %s; seen: %v", p.name, ev.raw, what, raws())
			}
		case <-timer.C:
			p.t.Fatalf("baresip %s: no %s within %s; ctrl_tcp messages seen: %v", p.name, what, timeout, raws())
		}
	}
}

// answerNext waits for p's phone to ring and answers it ("accept"); it returns once the call
// is established.
func (p *baresipPhone) answerNext(timeout time.Duration) {
	p.t.Helper()
	p.waitEvent("CALL_INCOMING", timeout, isEvent("CALL_INCOMING"), isEvent("CALL_CLOSED"))
	p.command("accept", "")
	p.waitEvent("CALL_ESTABLISHED", 10*time.Second, isEvent("CALL_ESTABLISHED"), isEvent("CALL_CLOSED"))
}

// connect has caller dial callee's extension and callee answer; both calls are established.
func (ps *peerSwitch) connect(caller, callee *baresipPhone) {
	ps.t.Helper()
	caller.command("dial", ps.uri(callee.name))
	callee.answerNext(10 * time.Second)
	caller.waitEvent("CALL_ESTABLISHED", 10*time.Second, isEvent("CALL_ESTABLISHED"), isEvent("CALL_CLOSED"))
}

// heard reads what p's phone heard in its current (newest) call: the samples of the sndfile
// dump, read while the call goes on (its WAV header is written at the end, so the data runs
// to the end of the file). It is nil before the call's audio starts.
func (p *baresipPhone) heard() []int16 { return p.recorded("dec") }

// recorded reads the newest sndfile dump of one direction: "dec" (heard) or "enc" (sent).
func (p *baresipPhone) recorded(dir string) []int16 {
	p.t.Helper()
	files, _ := filepath.Glob(filepath.Join(p.dir, "rec", "dump-*-"+dir+".wav"))
	if len(files) == 0 {
		return nil
	}
	slices.Sort(files) // dump-YYYY-MM-DD-hh-mm-ss: the newest last
	data, err := os.ReadFile(files[len(files)-1])
	if err != nil {
		p.t.Fatal(err)
	}
	return liveWAVSamples(p.t, files[len(files)-1], data)
}

// liveWAVSamples decodes a 16-bit mono 8 kHz WAV whose data chunk may still be growing.
func liveWAVSamples(t testing.TB, name string, data []byte) []int16 {
	t.Helper()
	if len(data) < 12 || string(data[:4]) != "RIFF" || string(data[8:12]) != "WAVE" {
		return nil // not even the header yet
	}
	for off := 12; off+8 <= len(data); {
		id, size := string(data[off:off+4]), int(binary.LittleEndian.Uint32(data[off+4:off+8]))
		body := data[off+8:]
		switch id {
		case "fmt ":
			if len(body) < 16 {
				return nil
			}
			channels, rate, bits := binary.LittleEndian.Uint16(body[2:4]), binary.LittleEndian.Uint32(body[4:8]),
				binary.LittleEndian.Uint16(body[14:16])
			if channels != 1 || rate != media.SampleRate || bits != 16 {
				t.Fatalf("%s: %d channels at %d Hz, %d bits; want 16-bit mono at %d Hz", name, channels, rate, bits,
					media.SampleRate)
			}
		case "data":
			out := make([]int16, len(body)/2)
			_ = binary.Read(bytes.NewReader(body[:2*len(out)]), binary.LittleEndian, out)
			return out
		}
		off += 8 + size + size%2
	}
	return nil
}

// waitHeard waits until p's recording of what it heard in its current call holds at least n
// samples, and returns them.
func (p *baresipPhone) waitHeard(n int, timeout time.Duration) []int16 {
	p.t.Helper()
	return p.waitRecorded("dec", n, timeout)
}

// waitRecorded waits until p's recording of one direction ("dec", "enc") of its current call
// holds at least n samples, and returns them.
func (p *baresipPhone) waitRecorded(dir string, n int, timeout time.Duration) []int16 {
	p.t.Helper()
	var s []int16
	if !poll.Until(timeout, func() bool {
		s = p.recorded(dir)
		return len(s) >= n
	}) {
		p.t.Fatalf("baresip %s: %s recording holds %v of audio after %s, want %v (recordings: %v)", p.name, dir,
			durationOf(s), timeout, durationOf(make([]int16, n)), lsDir(filepath.Join(p.dir, "rec")))
	}
	return s
}

// samplesOf is the number of samples in d at the line's rate.
func samplesOf(d time.Duration) int { return int(d * media.SampleRate / time.Second) }

// wantHears checks that samples (what ext heard) carry the tone of who, and none of the
// tones of notWho.
func wantHears(t *testing.T, what string, samples []int16, who string, notWho ...string) {
	t.Helper()
	level := checkTone(t, what, samples, peerTone[who])
	for _, n := range notWho {
		if l := media.ToneLevel(samples, peerTone[n], media.SampleRate); l > level/20 {
			t.Errorf("%s: %s's %.0f Hz tone at %.4f against %s's %.4f: %s is still heard", what, n, peerTone[n], l,
				who, level, n)
		}
	}
	t.Logf("%s: %s's %.0f Hz at %.3f", what, who, peerTone[who], level)
}

// hasTrace reports whether one line of trace contains s.
func hasTrace(trace []string, s string) bool {
	return slices.ContainsFunc(trace, func(l string) bool { return strings.Contains(l, s) })
}

// TestBaresipBlindTransferConnectsCallerWithTarget: three baresip phones. Alice (1001) calls
// Bob (1002), who answers; Bob uses baresip's own transfer command (a REFER in the call) to
// send Alice to Carol (1003). Carol's phone rings and she answers; Bob's call ends (baresip
// reports it closed after the final NOTIFY), and Alice, whose call never dropped, hears Carol's
// tone and not Bob's any more while Carol hears Alice's. The API shows the call between Alice
// and Carol with the hop in its trace, and Bob is available again.
func TestBaresipBlindTransferConnectsCallerWithTarget(t *testing.T) {
	ps := startPeerSwitch(t)
	alice, bob, carol := ps.baresipUser("1001"), ps.baresipUser("1002"), ps.baresipUser("1003")

	ps.connect(alice, bob)
	// Before the transfer Alice hears Bob: a second of his tone after the first half second.
	before := alice.waitHeard(samplesOf(1500*time.Millisecond), 10*time.Second)
	wantHears(t, "Alice before the transfer", before[samplesOf(500*time.Millisecond):], "1002", "1003")

	bob.command("transfer", ps.uri("1003"))
	carol.answerNext(10 * time.Second)
	carolUp := len(alice.heard())

	// Bob's phone is told the transfer went through and closes its call.
	_, seen := bob.collect("CALL_CLOSED after the transfer", 10*time.Second, isEvent("CALL_CLOSED"),
		isEvent("CALL_TRANSFER_FAILED"))
	for _, ev := range seen {
		if ev.Response && !ev.OK {
			t.Errorf("baresip refused its transfer command: %s", ev.raw)
		}
	}
	t.Logf("Bob's ctrl_tcp after the transfer command: %v", rawEvents(seen))
	waitLog(t, ps.sw, 5*time.Second, "blind transfer", `"by": "1002"`, `"to": "1003"`)

	// Alice talks to Carol: in the last 2 of the 3 s after Carol answered (a second for the
	// switch to bridge them, however busy the machine), Alice hears Carol's tone, not Bob's or
	// the ringback; Carol hears Alice's.
	after := alice.waitHeard(carolUp+samplesOf(3*time.Second), 15*time.Second)
	wantHears(t, "Alice after the transfer", after[len(after)-samplesOf(2*time.Second):], "1003", "1002")
	heardByCarol := carol.waitHeard(samplesOf(3*time.Second), 10*time.Second)
	wantHears(t, "Carol", heardByCarol[len(heardByCarol)-samplesOf(2*time.Second):], "1001", "1002")

	call := ps.waitCall("1001", "Alice's call talking with Carol, transferred by Bob", func(c apiCall) bool {
		return c.State == "talking" && slices.Contains(c.Parties, "1001") && slices.Contains(c.Parties, "1003") &&
			!slices.Contains(c.Parties, "1002") && hasTrace(c.Trace, "transferred by 1002 to 1003")
	})
	t.Logf("the call after the transfer: %+v", call)
	ps.waitAvailable("1002")
	alice.noEvent("CALL_CLOSED", "her call must go on with Carol")

	alice.command("hangup", "")
	carol.waitEvent("CALL_CLOSED", 10*time.Second, isEvent("CALL_CLOSED"), nil)
	rec := ps.waitHistory("1001", call.Started)
	t.Logf("history: %+v", rec)
	if !hasTrace(rec.Trace, "transferred by 1002 to 1003") {
		t.Errorf("history of the call has no hop to Carol: %+v", rec)
	}
}

// waitHistory polls ext's call history until the call that started at started is in it (the
// history has ids of its own), and returns its record.
func (ps *peerSwitch) waitHistory(ext string, started time.Time) historyEntry {
	ps.t.Helper()
	var (
		found historyEntry
		last  []historyEntry
	)
	if !poll.Until(10*time.Second, func() bool {
		code, body := ps.api(http.MethodGet, "/api/v1/history", ext, nil)
		if code != http.StatusOK {
			ps.t.Fatalf("GET /api/v1/history as %s: %d %s", ext, code, body)
		}
		last = nil
		if err := json.Unmarshal(body, &last); err != nil {
			ps.t.Fatalf("GET /api/v1/history: %v in %s", err, body)
		}
		i := slices.IndexFunc(last, func(e historyEntry) bool { return e.Started.Equal(started) })
		if i >= 0 {
			found = last[i]
		}
		return i >= 0
	}) {
		ps.t.Fatalf("call started %v not in %s's history; last: %+v", started, ext, last)
	}
	return found
}

// rawEvents lists ctrl_tcp messages as baresip sent them.
func rawEvents(evs []baresipEvent) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.raw
	}
	return out
}

// noEvent fails the test if an event of type typ is among the ctrl_tcp messages p got and
// nobody read yet (why says why it must not be).
func (p *baresipPhone) noEvent(typ, why string) {
	p.t.Helper()
	for {
		select {
		case ev, ok := <-p.events:
			if !ok {
				return
			}
			if ev.Event && ev.Type == typ {
				p.t.Errorf("baresip %s: %s, but it got %s", p.name, why, ev.raw)
			}
		default:
			return
		}
	}
}

// TestBaresipBlindTransferToDNDUserReachesVoicemail: Carol (1003) is on DND. Alice calls Bob,
// who answers and transfers her to Carol with baresip's transfer command. Carol's phone does
// not ring; Bob's call ends and he is available again; Alice hears Carol's DND greeting and
// the beep and talks into Carol's mailbox: after she hangs up, Carol's box lists a message from
// Alice holding Alice's tone.
func TestBaresipBlindTransferToDNDUserReachesVoicemail(t *testing.T) {
	ps := startPeerSwitch(t)
	alice, bob, carol := ps.baresipUser("1001"), ps.baresipUser("1002"), ps.baresipUser("1003")
	if code, body := ps.api(http.MethodPut, "/api/v1/presence/1003", "1003", []byte(`{"status":"dnd"}`)); code != http.StatusOK {
		t.Fatalf("Carol's DND: %d %s", code, body)
	}

	ps.connect(alice, bob)
	bob.command("transfer", ps.uri("1003"))
	bob.waitEvent("CALL_CLOSED after the transfer", 15*time.Second, isEvent("CALL_CLOSED"), isEvent("CALL_TRANSFER_FAILED"))
	ps.waitAvailable("1002")

	// The DND greeting and the beep play; then Alice talks for 3 s (as her phone's own
	// recording of what it sent counts them) and hangs up.
	waitLog(t, ps.sw, 20*time.Second, "recording the message", `"box": "1003"`)
	call := ps.waitCall("1001", "Alice's call in Carol's voicemail", func(c apiCall) bool {
		return c.State == "voicemail" && hasTrace(c.Trace, "transferred by 1002 to 1003")
	})
	t.Logf("the call after the transfer: %+v", call)
	sent := len(alice.recorded("enc"))
	alice.waitRecorded("enc", sent+samplesOf(3*time.Second), 10*time.Second)
	alice.command("hangup", "")
	alice.waitEvent("CALL_CLOSED", 10*time.Second, isEvent("CALL_CLOSED"), nil)

	msgs := waitVoicemail(t, ps.cfg.HTTPPort, "1003", "carol-secret", 1, 10*time.Second)
	m := msgs[0]
	t.Logf("message: %+v", m)
	if m.From != "1001" {
		t.Errorf("message is from %q, want Alice (1001)", m.From)
	}
	if d := time.Duration(m.DurationMS) * time.Millisecond; d < 2*time.Second || d > 6*time.Second {
		t.Errorf("message lasts %v, want about the 3 s Alice talked", d)
	}
	samples := fetchVoicemailWAV(t, ps.cfg.HTTPPort, "1003", "carol-secret", m.ID, ps.dir)
	wantHears(t, "Carol's message", samples, "1001", "1002")
	carol.noEvent("CALL_INCOMING", "she is on DND")
	// The record keeps the call's first outcome (answered by Bob, talk time including the
	// time in Carol's mailbox); the trace tells the rest.
	rec := ps.waitHistory("1001", call.Started)
	t.Logf("history: %+v", rec)
	if !hasTrace(rec.Trace, "transferred by 1002 to 1003") || !hasTrace(rec.Trace, "voicemail of 1003") {
		t.Errorf("history of the call: %+v, want the hop and 1003's voicemail in its trace", rec)
	}
}

// sdpAudio is where an SDP body wants audio sent.
func sdpAudio(t *testing.T, body []byte) *net.UDPAddr {
	t.Helper()
	var ip string
	var port int
	for _, line := range strings.Split(string(body), "\n") {
		line = strings.TrimSpace(line)
		if s, ok := strings.CutPrefix(line, "c=IN IP4 "); ok {
			ip = s
		}
		if s, ok := strings.CutPrefix(line, "m=audio "); ok {
			ps, _, _ := strings.Cut(s, " ")
			port, _ = strconv.Atoi(ps)
		}
	}
	if ip == "" || port == 0 {
		t.Fatalf("SDP has no audio address:\n%s", body)
	}
	return &net.UDPAddr{IP: net.ParseIP(ip), Port: port}
}

// TestAPITransferSendsCallerToAnotherPhone: Alice (a sipgo phone that records what it hears)
// calls Bob's baresip, which answers. Bob transfers the call from the API (POST
// /api/v1/calls/{id}/transfer {"to":"1003"} → 202). Bob's phone is hung up, Carol's baresip
// rings and she answers, and Alice, whose call never dropped, hears Carol's tone instead of
// Bob's; Carol's phone gets Alice's RTP.
func TestAPITransferSendsCallerToAnotherPhone(t *testing.T) {
	ps := startPeerSwitch(t)
	bob, carol := ps.baresipUser("1002"), ps.baresipUser("1003")
	alice := sipphone.New(t, ps.cfg.SIPPort, "1001", "alice-secret")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	d, err := alice.Dial(ctx, "1002")
	if err != nil {
		t.Fatal(err)
	}
	answered := make(chan error, 1)
	go func() { answered <- d.WaitAnswer(ctx, alice.Auth()) }()
	bob.answerNext(10 * time.Second)
	if err := <-answered; err != nil {
		t.Fatalf("Alice's call to Bob: %v", err)
	}
	if err := d.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	dst := sdpAudio(t, d.InviteResponse.Body())
	wantHears(t, "Alice before the transfer", alice.Listen(ctx, dst, 1500*time.Millisecond)[samplesOf(500*time.Millisecond):],
		"1002", "1003")

	id := d.InviteRequest.CallID().Value()
	code, body := ps.api(http.MethodPost, "/api/v1/calls/"+id+"/transfer", "1002", []byte(`{"to":"1003"}`))
	if code != http.StatusAccepted {
		t.Fatalf("POST /api/v1/calls/%s/transfer as Bob: %d %s, want 202", id, code, body)
	}
	t.Logf("transfer: %d %s", code, body)
	bob.waitEvent("CALL_CLOSED after the transfer", 10*time.Second, isEvent("CALL_CLOSED"), nil)
	carol.answerNext(10 * time.Second)

	// Listening starts once Carol has answered; what Alice's socket held from before (Bob,
	// the ringback) comes first in sequence order, so the last 2 s are Carol.
	heard := alice.Listen(ctx, dst, 3*time.Second)
	if len(heard) < samplesOf(2*time.Second) {
		t.Fatalf("Alice heard %v after Carol answered, want 3 s", durationOf(heard))
	}
	wantHears(t, "Alice after the transfer", heard[len(heard)-samplesOf(2*time.Second):], "1003", "1002")
	// Alice's Listen sent 3 s of silence: Carol's phone played it.
	carol.waitHeard(samplesOf(2*time.Second), 10*time.Second)

	call := ps.waitCall("1001", "Alice's call talking with Carol", func(c apiCall) bool {
		return c.ID == id && c.State == "talking" && slices.Contains(c.Parties, "1003") &&
			!slices.Contains(c.Parties, "1002") && hasTrace(c.Trace, "transferred by 1002 to 1003")
	})
	t.Logf("the call after the transfer: %+v", call)
	ps.waitAvailable("1002")
	select {
	case <-d.Context().Done():
		t.Fatalf("Alice's dialog ended with the transfer (state %v)", d.LoadState())
	default:
	}
	if err := d.Bye(ctx); err != nil {
		t.Fatalf("Alice's BYE: %v", err)
	}
	carol.waitEvent("CALL_CLOSED", 10*time.Second, isEvent("CALL_CLOSED"), nil)
}
