package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard-voip/switchboard/internal/poll"
	"github.com/switchboard-voip/switchboard/internal/sipphone"
	"github.com/switchboard-voip/switchboard/internal/testcert"
	"github.com/switchboard-voip/switchboard/media"
)

// Whole-binary voicemail tests: the real switchboard binary, a caller written with sipgo that
// streams a tone, and the HTTP API to see what was stored.

// vmConfig is what a voicemail test varies in the switch's config.
type vmConfig struct {
	md5Only   bool              // sip.digest_algorithms: ["MD5"]
	wsPort    int               // a ws:127.0.0.1:PORT listener for browsers, when not 0
	extra     string            // YAML appended verbatim (trunks:)
	tlsPort   int               // a tls:127.0.0.1:PORT listener with testcert's sip.crt/sip.key in dir
	userExtra map[string]string // YAML lines added to a user's entry, by ext
}

// writeVMConfig writes a config like newSwitchConfig's, plus vc, into dir and returns it with
// the config's path. Data lives in dir/data.
func writeVMConfig(t testing.TB, dir string, vc vmConfig) (switchConfig, string) {
	t.Helper()
	lo, hi := rtpRange(t, 200)
	c := switchConfig{SIPPort: freePort(t), HTTPPort: freePort(t), RTPMin: lo, RTPMax: hi}
	var b strings.Builder
	ws := ""
	if vc.wsPort != 0 {
		ws = fmt.Sprintf(", \"ws:127.0.0.1:%d\"", vc.wsPort)
	}
	if vc.tlsPort != 0 {
		ws += fmt.Sprintf(", \"tls:127.0.0.1:%d\"", vc.tlsPort)
	}
	fmt.Fprintf(&b, "sip:\n  listen: [\"udp:127.0.0.1:%d\", \"tcp:127.0.0.1:%d\"%s]\n  realm: switchboard\n", c.SIPPort, c.SIPPort, ws)
	if vc.tlsPort != 0 {
		testcert.Write(t, dir, "sip")
		b.WriteString("  tls_cert: sip.crt\n  tls_key: sip.key\n")
	}
	if vc.md5Only {
		b.WriteString("  digest_algorithms: [\"MD5\"]\n")
	}
	fmt.Fprintf(&b, "media:\n  address: 127.0.0.1\n  rtp_ports: \"%d-%d\"\n", c.RTPMin, c.RTPMax)
	fmt.Fprintf(&b, "http:\n  listen: \"127.0.0.1:%d\"\n", c.HTTPPort)
	b.WriteString("data_dir: ./data\nusers:\n")
	for _, u := range testUsers {
		fmt.Fprintf(&b, "  - ext: %q\n    name: %s\n    password: %s\n", u.ext, u.name, u.password)
		b.WriteString(vc.userExtra[u.ext])
	}
	b.WriteString(vc.extra)
	path := filepath.Join(dir, "switchboard.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return c, path
}

// waitHTTP waits until the switch's /healthz answers 200.
func waitHTTP(t testing.TB, port int) {
	t.Helper()
	url := fmt.Sprintf("http://127.0.0.1:%d/healthz", port)
	poll.Require(t, 10*time.Second, "GET "+url+" answering 200", func() bool {
		res, err := http.Get(url)
		if err != nil {
			return false
		}
		_ = res.Body.Close()
		return res.StatusCode == http.StatusOK
	})
}

// vmMessage is one entry of GET /api/v1/voicemail/{ext}.
type vmMessage struct {
	ID         string    `json:"id"`
	From       string    `json:"from"`
	FromName   string    `json:"from_name"`
	Received   time.Time `json:"received"`
	DurationMS int64     `json:"duration_ms"`
	Heard      bool      `json:"heard"`
	CutShort   bool      `json:"cut_short"`
}

// apiDo sends an authenticated API request and returns the status and body.
func apiDo(t testing.TB, method string, httpPort int, path, user, pass string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, fmt.Sprintf("http://127.0.0.1:%d%s", httpPort, path), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(user, pass)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return res.StatusCode, body
}

// listVoicemail returns ext's messages from the API.
func listVoicemail(t testing.TB, httpPort int, ext, pass string) []vmMessage {
	t.Helper()
	code, body := apiDo(t, http.MethodGet, httpPort, "/api/v1/voicemail/"+ext, ext, pass)
	if code != http.StatusOK {
		t.Fatalf("GET /api/v1/voicemail/%s: %d %s", ext, code, body)
	}
	var msgs []vmMessage
	if err := json.Unmarshal(body, &msgs); err != nil {
		t.Fatalf("GET /api/v1/voicemail/%s: %v in %s", ext, err, body)
	}
	return msgs
}

// waitVoicemail polls ext's box until it lists n messages.
func waitVoicemail(t testing.TB, httpPort int, ext, pass string, n int, timeout time.Duration) []vmMessage {
	t.Helper()
	var msgs []vmMessage
	if !poll.Until(timeout, func() bool {
		msgs = listVoicemail(t, httpPort, ext, pass)
		return len(msgs) >= n
	}) {
		t.Fatalf("box %s lists %d messages after %s, want %d: %+v", ext, len(msgs), timeout, n, msgs)
	}
	return msgs
}

// fetchVoicemailWAV downloads a message's WAV into dir and decodes it with media.LoadWAV.
func fetchVoicemailWAV(t testing.TB, httpPort int, ext, pass, id, dir string) []int16 {
	t.Helper()
	code, body := apiDo(t, http.MethodGet, httpPort, "/api/v1/voicemail/"+ext+"/"+id, ext, pass)
	if code != http.StatusOK {
		t.Fatalf("GET /api/v1/voicemail/%s/%s: %d %s", ext, id, code, body)
	}
	path := filepath.Join(dir, "fetched-"+id+".wav")
	if err := os.WriteFile(path, body, 0o600); err != nil {
		t.Fatal(err)
	}
	samples, err := media.LoadWAV(path)
	if err != nil {
		t.Fatalf("message %s does not parse as WAV (%d bytes): %v", id, len(body), err)
	}
	return samples
}

// checkTone fails the test unless samples are dominated by a tone at f Hz: its level must
// clearly exceed the level at other speech-band frequencies. It returns the level at f.
func checkTone(t testing.TB, what string, samples []int16, f float64) float64 {
	t.Helper()
	level := media.ToneLevel(samples, f, media.SampleRate)
	for _, other := range []float64{300, 500, 700, 1400, 2000, 3000} {
		if o := media.ToneLevel(samples, other, media.SampleRate); level < 20*o || level < 0.01 {
			t.Errorf("%s: level at %.0f Hz is %.4f, at %.0f Hz %.4f: want the %.0f Hz tone clearly dominant",
				what, f, level, other, o, f)
		}
	}
	return level
}

// writeToneWAV writes an 8 kHz mono WAV of a sine at f Hz (amplitude amp of full scale).
func writeToneWAV(t testing.TB, path string, f, amp float64, d time.Duration) {
	t.Helper()
	var buf bytes.Buffer
	if err := media.WriteWAV(&buf, media.Tone(f, amp, d)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// durationOf is how long samples at media.SampleRate last.
func durationOf(samples []int16) time.Duration {
	return time.Duration(len(samples)) * time.Second / media.SampleRate
}

// partFiles lists the .part files under root.
func partFiles(root string) []string {
	var parts []string
	_ = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".part") {
			parts = append(parts, path)
		}
		return nil
	})
	return parts
}

// TestVoicemailCrashDuringRecordingKeepsCommittedMessage leaves one whole message in 1003's
// box, then SIGKILLs the switch while a second message is being recorded. After a restart on
// the same data_dir the box lists the first message, whose WAV is intact, and the second, cut
// short by the crash but kept with the caller's words that reached the disk; no .part is left.
func TestVoicemailCrashDuringRecordingKeepsCommittedMessage(t *testing.T) {
	dir := t.TempDir()
	const greetingLen = 500 * time.Millisecond
	writeToneWAV(t, filepath.Join(dir, "carol-na.wav"), 440, 0.3, greetingLen)
	cfg, cfgPath := writeVMConfig(t, dir, vmConfig{userExtra: map[string]string{
		"1003": "    voicemail: true\n    greetings:\n      no_answer: carol-na.wav\n",
	}})
	sw := startBinary(t, cfg, cfgPath, "-log-level", "debug")
	waitHTTP(t, cfg.HTTPPort)
	boxDir := filepath.Join(dir, "data", "voicemail", "1003")

	// 1. A complete message: 4 s of 1 kHz from the answer; the greeting (0.5 s) and the beep
	// (0.4 s) play first, so about 3.1 s are recorded.
	const talk = 4 * time.Second
	caller := sipphone.New(t, cfg.SIPPort, "1002", "bob-secret")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, dst := caller.Call(ctx, "1003")
	caller.Stream(ctx, dst, 1000, talk, nil)
	if err := d.Bye(ctx); err != nil {
		t.Fatalf("BYE after the first message: %v", err)
	}
	msgs := waitVoicemail(t, cfg.HTTPPort, "1003", "carol-secret", 1, 10*time.Second)
	first := msgs[0]
	t.Logf("first message: %+v", first)
	wantMin, wantMax := talk-greetingLen-400*time.Millisecond-700*time.Millisecond, talk-greetingLen+300*time.Millisecond
	if got := time.Duration(first.DurationMS) * time.Millisecond; got < wantMin || got > wantMax {
		t.Errorf("first message lasts %v, want %v..%v (%v of talk after a %v greeting and the beep)",
			got, wantMin, wantMax, talk, greetingLen)
	}
	if first.From != "1002" {
		t.Errorf("first message is from %q, want 1002", first.From)
	}

	// 2. A second call that is recording when the switch dies.
	caller2 := sipphone.New(t, cfg.SIPPort, "1001", "alice-secret")
	_, dst2 := caller2.Call(ctx, "1003")
	streamCtx, stopStream := context.WithCancel(ctx)
	var sent atomic.Int64
	streamDone := make(chan struct{})
	go func() {
		defer close(streamDone)
		caller2.Stream(streamCtx, dst2, 1000, 25*time.Second, &sent)
	}()
	defer func() { stopStream(); <-streamDone }()

	// The .part file appears after the beep with its 44-byte header; audio reaches it about
	// every 2 s (the recorder's buffer).
	var part string
	var firstSize int64 = -1
	deadline := time.Now().Add(15 * time.Second)
	for {
		if parts := partFiles(boxDir); len(parts) == 1 {
			if fi, err := os.Stat(parts[0]); err == nil {
				if firstSize < 0 {
					part, firstSize = parts[0], fi.Size()
				} else if fi.Size() > firstSize && fi.Size() > 44 {
					t.Logf("%s grew from %d to %d bytes after %d frames sent; killing the switch",
						filepath.Base(part), firstSize, fi.Size(), sent.Load())
					break
				}
			}
		} else if len(parts) > 1 {
			t.Fatalf("more than one .part file while one call records: %v", parts)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no growing .part file in %s within 15s (first size %d); files: %v", boxDir, firstSize, lsDir(boxDir))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := listVoicemail(t, cfg.HTTPPort, "1003", "carol-secret"); len(got) != 1 {
		t.Errorf("while recording, the box lists %d messages, want 1 (a .part is never listed): %+v", len(got), got)
	}

	if err := sw.cmd.Process.Kill(); err != nil { // SIGKILL: no shutdown code runs
		t.Fatal(err)
	}
	select {
	case <-sw.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("switch did not die within 10s of SIGKILL")
	}
	stopStream()
	<-streamDone
	if _, err := os.Stat(part); err != nil {
		t.Logf("note: %s already gone right after the kill: %v", part, err)
	}

	// 3. Restart on the same data_dir (and ports).
	startBinary(t, cfg, cfgPath, "-log-level", "debug")
	waitHTTP(t, cfg.HTTPPort)
	got := listVoicemail(t, cfg.HTTPPort, "1003", "carol-secret")
	if len(got) != 2 || got[1].ID != first.ID {
		t.Fatalf("after the crash and restart the box lists %+v, want the first message %s and the cut-off one", got, first.ID)
	}
	if got[1].DurationMS != first.DurationMS || got[1].From != first.From || got[1].CutShort {
		t.Errorf("first message changed across the restart: before %+v, after %+v", first, got[1])
	}
	samples := fetchVoicemailWAV(t, cfg.HTTPPort, "1003", "carol-secret", first.ID, dir)
	if d, want := durationOf(samples), time.Duration(first.DurationMS)*time.Millisecond; math.Abs(float64(d-want)) > float64(50*time.Millisecond) {
		t.Errorf("first message's WAV holds %v of audio, its listing says %v", d, want)
	}
	checkTone(t, "first message after restart", samples, 1000)
	cut := got[0]
	if !cut.CutShort || cut.From != "1001" || cut.DurationMS < 1000 {
		t.Errorf("cut-off message %+v: want it marked, from Alice (1001), with over a second", cut)
	}
	cutSamples := fetchVoicemailWAV(t, cfg.HTTPPort, "1003", "carol-secret", cut.ID, dir)
	checkTone(t, "the message the crash cut off", cutSamples[samplesOf(200*time.Millisecond):], 1000)
	if parts := partFiles(filepath.Join(dir, "data")); len(parts) != 0 {
		t.Errorf(".part files left after restart: %v", parts)
	}
	wavs, _ := filepath.Glob(filepath.Join(boxDir, "*.wav"))
	if len(wavs) != 2 {
		t.Errorf("box folder holds %v, want the two messages' WAVs", wavs)
	}
}

// lsDir lists a folder's entries with sizes, for failure messages.
func lsDir(dir string) []string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return []string{err.Error()}
	}
	var out []string
	for _, e := range entries {
		if fi, err := e.Info(); err == nil {
			out = append(out, fmt.Sprintf("%s (%d bytes)", e.Name(), fi.Size()))
		}
	}
	return out
}
