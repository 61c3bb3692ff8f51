package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-voip/switchboard/internal/needs"
	"github.com/switchboard-voip/switchboard/internal/sipphone"
	"github.com/switchboard-voip/switchboard/media"
)

// Whole-binary routing tests: what a caller hears from a DND user (uploaded greeting, then the
// built-in prompt), and a carrier's call to a DID that lands in a call queue and reaches the
// agent's SIPp phone.

// routingConfig is what a routing test puts into the switch's config beyond the harness's.
type routingConfig struct {
	users    []testUser // after testUsers
	admin    string     // this user gets admin: true (the history of every call)
	extra    string     // YAML appended verbatim: queues:, trunks:
	rtpPorts int        // size of the RTP port range (default 400)
}

// writeRoutingConfig writes a config like newSwitchConfigWith's plus rc into dir.
func writeRoutingConfig(t testing.TB, dir string, rc routingConfig) (switchConfig, string) {
	t.Helper()
	if rc.rtpPorts == 0 {
		rc.rtpPorts = 400
	}
	lo, hi := rtpRange(t, rc.rtpPorts)
	c := switchConfig{SIPPort: freePort(t), HTTPPort: freePort(t), RTPMin: lo, RTPMax: hi}
	var b strings.Builder
	fmt.Fprintf(&b, "sip:\n  listen: [\"udp:127.0.0.1:%d\", \"tcp:127.0.0.1:%d\"]\n  realm: switchboard\n", c.SIPPort, c.SIPPort)
	fmt.Fprintf(&b, "media:\n  address: 127.0.0.1\n  rtp_ports: \"%d-%d\"\n", c.RTPMin, c.RTPMax)
	fmt.Fprintf(&b, "http:\n  listen: \"127.0.0.1:%d\"\n", c.HTTPPort)
	b.WriteString("data_dir: ./data\nusers:\n")
	for _, u := range append(append([]testUser(nil), testUsers...), rc.users...) {
		fmt.Fprintf(&b, "  - ext: %q\n    name: %s\n    password: %s\n", u.ext, u.name, u.password)
		if u.ext == rc.admin {
			b.WriteString("    admin: true\n")
		}
	}
	b.WriteString(rc.extra)
	path := filepath.Join(dir, "switchboard.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return c, path
}

// stereoToneWAV returns a 16-bit PCM stereo WAV at rate of a sine at f Hz (amp of full scale)
// lasting d, both channels alike: an upload the switch has to convert (downmix and resample).
func stereoToneWAV(rate int, f, amp float64, d time.Duration) []byte {
	n := int(d * time.Duration(rate) / time.Second)
	data := make([]byte, 0, n*4)
	for i := range n {
		v := int16(math.Round(amp * 32767 * math.Sin(2*math.Pi*f*float64(i)/float64(rate))))
		data = binary.LittleEndian.AppendUint16(data, uint16(v))
		data = binary.LittleEndian.AppendUint16(data, uint16(v))
	}
	var b bytes.Buffer
	b.WriteString("RIFF")
	_ = binary.Write(&b, binary.LittleEndian, uint32(36+len(data)))
	b.WriteString("WAVEfmt ")
	for _, v := range []any{uint32(16), uint16(1), uint16(2), uint32(rate), uint32(rate * 4), uint16(4), uint16(16)} {
		_ = binary.Write(&b, binary.LittleEndian, v) // PCM, stereo, rate, byte rate, block align, bits
	}
	b.WriteString("data")
	_ = binary.Write(&b, binary.LittleEndian, uint32(len(data)))
	b.Write(data)
	return b.Bytes()
}

// apiSend is apiDo with a request body and its content type.
func apiSend(t testing.TB, method string, httpPort int, path, user, pass, ctype string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, fmt.Sprintf("http://127.0.0.1:%d%s", httpPort, path), bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(user, pass)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	out, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return res.StatusCode, out
}

// heard is what a caller received from the switch up to the voicemail beep.
type heard struct {
	beforeBeep []int16 // decoded audio before the beep
	beep       bool    // the 1 kHz beep was heard
	packets    int
}

// listenUntilBeep decodes the G.711 the switch sends to conn until it hears the voicemail
// beep (1 kHz dominant over 40 ms) or ctx ends. Meanwhile it sends 20 ms PCMU frames of
// silence to dst, as a phone would.
func listenUntilBeep(ctx context.Context, conn *net.UDPConn, dst *net.UDPAddr) heard {
	sendCtx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		pkt := make([]byte, 12+160)
		pkt[0], pkt[1] = 0x80, 0
		binary.BigEndian.PutUint32(pkt[8:12], 0x5117e4ce)
		for i := range pkt[12:] {
			pkt[12+i] = 0xff // µ-law silence
		}
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for seq := 0; ; seq++ {
			select {
			case <-sendCtx.Done():
				return
			case <-tick.C:
			}
			binary.BigEndian.PutUint16(pkt[2:4], uint16(seq))
			binary.BigEndian.PutUint32(pkt[4:8], uint32(seq*160))
			if _, err := conn.WriteToUDP(pkt, dst); err != nil {
				return
			}
		}
	}()
	var h heard
	var all []int16
	buf := make([]byte, 2048)
	const window = 320 // 40 ms
	checked := 0
	for ctx.Err() == nil {
		_ = conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		n, err := conn.Read(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			break
		}
		if n <= 12 || buf[0]>>6 != 2 {
			continue
		}
		hdr := 12 + 4*int(buf[0]&0x0f)
		if n <= hdr {
			continue
		}
		payload := buf[hdr:n]
		pcm := make([]int16, len(payload))
		switch buf[1] & 0x7f {
		case 0:
			media.ULawDecodeFrame(pcm, payload)
		case 8:
			media.ALawDecodeFrame(pcm, payload)
		default:
			continue // telephone-event, comfort noise
		}
		h.packets++
		all = append(all, pcm...)
		for ; checked+window <= len(all); checked += window / 2 {
			w := all[checked : checked+window]
			beep := media.ToneLevel(w, 1000, media.SampleRate)
			if beep > 0.02 && beep > 10*media.ToneLevel(w, 600, media.SampleRate) && beep > 10*media.ToneLevel(w, 400, media.SampleRate) {
				h.beep = true
				h.beforeBeep = all[:checked]
				_ = conn.SetReadDeadline(time.Time{})
				return h
			}
		}
	}
	_ = conn.SetReadDeadline(time.Time{})
	h.beforeBeep = all
	return h
}

// rms is the root mean square of samples, as a fraction of full scale.
func rms(samples []int16) float64 {
	if len(samples) == 0 {
		return 0
	}
	var sum float64
	for _, s := range samples {
		sum += float64(s) * float64(s)
	}
	return math.Sqrt(sum/float64(len(samples))) / 32767
}

// callDNDUser calls ext from caller through the switch and returns what it heard up to the beep;
// then it hangs up.
func callDNDUser(t *testing.T, caller *sipphone.Phone, ext string) heard {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Second)
	defer cancel()
	d, dst := caller.Call(ctx, ext)
	h := listenUntilBeep(ctx, caller.RTP(), dst)
	byeCtx, byeCancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer byeCancel()
	if err := d.Bye(byeCtx); err != nil {
		t.Errorf("BYE: %v", err)
	}
	return h
}

// TestDNDCallerHearsUploadedGreetingThenBuiltin uploads Carol's DND greeting (a 600 Hz tone in a
// 44.1 kHz stereo WAV) through the API, sets her DND, and checks that Bob, calling her, hears
// that tone before the voicemail beep; after the greeting is deleted the next caller hears the
// built-in prompt ("The person you are calling is not available…") instead.
func TestDNDCallerHearsUploadedGreetingThenBuiltin(t *testing.T) {
	dir := t.TempDir()
	cfg, cfgPath := writeRoutingConfig(t, dir, routingConfig{admin: "1001"})
	startBinary(t, cfg, cfgPath, "-log-level", "debug")
	waitHTTP(t, cfg.HTTPPort)
	const greetingPath = "/api/v1/users/1003/greetings/dnd"

	wav := stereoToneWAV(44100, 600, 0.5, time.Second)
	code, body := apiSend(t, http.MethodPut, cfg.HTTPPort, greetingPath, "1003", "carol-secret", "audio/wav", wav)
	if code != http.StatusOK {
		t.Fatalf("PUT %s (44.1 kHz stereo WAV, %d bytes) as 1003: %d %s", greetingPath, len(wav), code, body)
	}
	api := newPresenceAPI(cfg.HTTPPort, "1003", "carol-secret")
	if code, body := api.put(t, "1003", "dnd"); code != http.StatusOK {
		t.Fatalf("PUT /api/v1/presence/1003 dnd: %d %s", code, body)
	}

	caller := sipphone.New(t, cfg.SIPPort, "1002", "bob-secret")
	up := callDNDUser(t, caller, "1003")
	t.Logf("uploaded greeting: %d packets, %v before the beep (beep heard: %v), level at 600 Hz %.4f",
		up.packets, durationOf(up.beforeBeep), up.beep, media.ToneLevel(up.beforeBeep, 600, media.SampleRate))
	if !up.beep {
		t.Fatalf("caller of DND user 1003 never heard the voicemail beep within 12s (%d packets, %v of audio)",
			up.packets, durationOf(up.beforeBeep))
	}
	if d := durationOf(up.beforeBeep); d < 800*time.Millisecond || d > 2500*time.Millisecond {
		t.Errorf("caller heard %v before the beep, want about the 1 s uploaded greeting", d)
	}
	upLevel := checkTone(t, "audio before the beep with the uploaded DND greeting", up.beforeBeep, 600)

	code, body = apiSend(t, http.MethodDelete, cfg.HTTPPort, greetingPath, "1003", "carol-secret", "", nil)
	if code != http.StatusOK {
		t.Fatalf("DELETE %s: %d %s", greetingPath, code, body)
	}

	caller2 := sipphone.New(t, cfg.SIPPort, "1001", "alice-secret")
	bi := callDNDUser(t, caller2, "1003")
	biLevel := media.ToneLevel(bi.beforeBeep, 600, media.SampleRate)
	t.Logf("built-in prompt: %d packets, %v before the beep (beep heard: %v), level at 600 Hz %.5f, RMS %.4f",
		bi.packets, durationOf(bi.beforeBeep), bi.beep, biLevel, rms(bi.beforeBeep))
	if !bi.beep {
		t.Fatalf("after DELETE, the caller never heard the voicemail beep within 12s (%d packets, %v of audio)",
			bi.packets, durationOf(bi.beforeBeep))
	}
	if biLevel > upLevel/20 {
		t.Errorf("after DELETE the caller still hears 600 Hz before the beep (level %.4f, uploaded greeting gave %.4f)",
			biLevel, upLevel)
	}
	// The built-in "The person you are calling is not available. Please leave a message…" is
	// speech of a few seconds, not silence.
	if d := durationOf(bi.beforeBeep); d < 1500*time.Millisecond {
		t.Errorf("after DELETE the caller heard only %v before the beep, want the built-in spoken prompt", d)
	}
	if r := rms(bi.beforeBeep); r < 0.01 {
		t.Errorf("after DELETE the audio before the beep is near silence (RMS %.4f), want the built-in prompt", r)
	}
}

// historyEntry is one record of GET /api/v1/history.
type historyEntry struct {
	ID         string    `json:"id"`
	Started    time.Time `json:"started"`
	Ended      time.Time `json:"ended"`
	From       string    `json:"from"`
	To         string    `json:"to"`
	Outcome    string    `json:"outcome"`
	AnsweredBy string    `json:"answered_by"`
	Voicemail  string    `json:"voicemail"`
	HeldMS     int64     `json:"held_ms"`
	TalkMS     int64     `json:"talk_ms"`
	Code       int       `json:"code"`
	Via        string    `json:"via"`
	Trace      []string  `json:"trace"`
}

// historyPage reads one page of the call history; next is the X-Next-Before cursor.
func historyPage(t testing.TB, httpPort int, user, pass string, limit int, before string) (recs []historyEntry, next string) {
	t.Helper()
	path := "/api/v1/history?limit=" + strconv.Itoa(limit)
	if before != "" {
		path += "&before=" + before
	}
	req, err := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d%s", httpPort, path), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(user, pass)
	c := http.Client{Timeout: 20 * time.Second}
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, res.StatusCode, body)
	}
	if err := json.Unmarshal(body, &recs); err != nil {
		t.Fatalf("GET %s: %v in %s", path, err, body)
	}
	return recs, res.Header.Get("X-Next-Before")
}

// apiQueue is one entry of GET /api/v1/queues.
type apiQueue struct {
	Ext           string `json:"ext"`
	Waiting       int    `json:"waiting"`
	LongestWaitMS int64  `json:"longest_wait_ms"`
	Members       []struct {
		Ext        string `json:"ext"`
		State      string `json:"state"`
		Registered bool   `json:"registered"`
	} `json:"members"`
}

// getQueues reads GET /api/v1/queues.
func getQueues(t testing.TB, httpPort int, user, pass string) []apiQueue {
	t.Helper()
	code, body := apiDo(t, http.MethodGet, httpPort, "/api/v1/queues", user, pass)
	if code != http.StatusOK {
		t.Fatalf("GET /api/v1/queues: %d %s", code, body)
	}
	var qs []apiQueue
	if err := json.Unmarshal(body, &qs); err != nil {
		t.Fatalf("GET /api/v1/queues: %v in %s", err, body)
	}
	return qs
}

// carrierDID is the trunk number the routing tests dial; it maps to queue 700.
const carrierDID = "15551230000"

// queueTrunkYAML is a queue 700 of members and a trunk from loopback whose DID carrierDID
// maps to it.
func queueTrunkYAML(members []string, wrapup time.Duration) string {
	quoted := make([]string, len(members))
	for i, m := range members {
		quoted[i] = strconv.Quote(m)
	}
	return fmt.Sprintf(`queues:
  - ext: "700"
    name: Support
    strategy: longest_idle
    members: [%s]
    ring_timeout: 10s
    max_wait: 5m
    wrapup: %s
    announce_position: true
    fallback: hangup
trunks:
  - name: carrier
    allow: ["127.0.0.1/32"]
    dids: {%q: "700"}
`, strings.Join(quoted, ", "), wrapup, carrierDID)
}

// TestCarrierCallToDIDLandsInQueue: a SIPp carrier (no credentials) dials the DID of queue 700
// from an allowed address; the switch answers, queues the caller and offers them to the only
// agent, Bob, whose phone is a SIPp UAS; Bob's phone takes the call, and the call history
// shows it answered by 1002 through queue 700.
func TestCarrierCallToDIDLandsInQueue(t *testing.T) {
	needs.Program(t, "sip-tester", "sipp")
	dir := t.TempDir()
	cfg, cfgPath := writeRoutingConfig(t, dir, routingConfig{admin: "1001",
		extra: queueTrunkYAML([]string{"1002"}, 0)})
	startBinary(t, cfg, cfgPath, "-log-level", "debug")
	waitHTTP(t, cfg.HTTPPort)
	remote := "127.0.0.1:" + strconv.Itoa(cfg.SIPPort)

	agentPort := freePort(t)
	registerPhone(t, dir, cfg.SIPPort, agentPort, "1002", "bob-secret")
	uas := startSIPp(t, dir, "agent-uas", "-sf", scenario(t, "uas.xml"), "-i", "127.0.0.1",
		"-p", strconv.Itoa(agentPort), "-mp", strconv.Itoa(freeMediaPort(t)), "-rtp_echo",
		"-m", "1", "-trace_msg", "-trace_stat", "-fd", "1")
	waitUDPBound(t, agentPort, 5*time.Second)

	const carrierNumber = "15557654321"
	uac := startSIPp(t, dir, "carrier", remote, "-sf", scenario(t, "carrier.xml"),
		"-i", "127.0.0.1", "-p", strconv.Itoa(freePort(t)), "-mp", strconv.Itoa(freeMediaPort(t)),
		"-s", carrierDID, "-key", "caller", carrierNumber, "-d", "3000", "-m", "1",
		"-trace_msg", "-trace_stat", "-fd", "1", "-timeout", "20s", "-timeout_error")
	uac.mustSucceed(t, 25*time.Second)
	uas.mustSucceed(t, 10*time.Second)
	if last, _ := readStats(t, uas); last.int("SuccessfulCall(C)") != 1 {
		t.Errorf("agent's SIPp UAS: %d successful calls, want 1 (failures: %s)", last.int("SuccessfulCall(C)"), last.failures())
	}
	if !uas.fileContains("*_messages.log", "INVITE sip:1002@") {
		t.Errorf("agent's phone got no INVITE for 1002\n%s", uas.report())
	}

	// The history record is written when the call ends.
	var rec *historyEntry
	var recs []historyEntry
	deadline := time.Now().Add(5 * time.Second)
	for rec == nil {
		recs, _ = historyPage(t, cfg.HTTPPort, "1001", "alice-secret", 20, "")
		for i := range recs {
			if recs[i].From == carrierNumber {
				rec = &recs[i]
				break
			}
		}
		if rec == nil && time.Now().After(deadline) {
			t.Fatalf("no history record from %s within 5s of the call's end; history: %+v", carrierNumber, recs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("history: %+v", *rec)
	if rec.Via != "700" {
		t.Errorf("history record via = %q, want 700 (the queue the DID maps to): %+v", rec.Via, *rec)
	}
	if rec.Outcome != "answered" || rec.AnsweredBy != "1002" {
		t.Errorf("history record outcome %q answered_by %q, want answered by 1002: %+v", rec.Outcome, rec.AnsweredBy, *rec)
	}
	if rec.TalkMS < 1500 {
		t.Errorf("history record talk_ms = %d, want about 3000 (the carrier's 3 s pause)", rec.TalkMS)
	}
	for _, q := range getQueues(t, cfg.HTTPPort, "1001", "alice-secret") {
		if q.Ext == "700" && q.Waiting != 0 {
			t.Errorf("GET /api/v1/queues after the call: queue 700 has %d waiting, want 0", q.Waiting)
		}
	}
}
