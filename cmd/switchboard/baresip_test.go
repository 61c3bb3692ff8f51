package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-voip/switchboard/internal/needs"
)

// baresip (Debian package baresip-core) as a real phone against the real binary. baresip runs
// headless: audio comes from a WAV file (aufile), and the test drives it over ctrl_tcp
// (netstring-framed JSON commands; it answers with responses and pushes UA events).

// baresipModulePath finds the folder holding baresip's modules.
func baresipModulePath(t testing.TB) string {
	t.Helper()
	for _, d := range []string{"/usr/lib/baresip/modules", "/usr/local/lib/baresip/modules",
		"/usr/lib/x86_64-linux-gnu/baresip/modules", "/usr/lib/aarch64-linux-gnu/baresip/modules"} {
		if _, err := os.Stat(filepath.Join(d, "aufile.so")); err == nil {
			return d
		}
	}
	t.Fatal("baresip is installed but no modules folder with aufile.so was found")
	return ""
}

// baresipEvent is one JSON message from ctrl_tcp: a command's response or a UA event.
type baresipEvent struct {
	Event    bool   `json:"event"`
	Type     string `json:"type"`
	Class    string `json:"class"`
	Param    string `json:"param"`
	Response bool   `json:"response"`
	OK       bool   `json:"ok"`
	Data     string `json:"data"`
	raw      string
}

// baresipPhone is one baresip process with its own config folder.
type baresipPhone struct {
	t      *testing.T
	name   string
	dir    string
	cmd    *exec.Cmd
	out    *lockedBuffer
	exited chan struct{}
	ctrl   net.Conn
	events chan baresipEvent
}

// baresipOptions say what a phone plays, which account it starts with and which extra
// application modules it loads.
type baresipOptions struct {
	source  string   // WAV file sent as the microphone
	account string   // a line for the accounts file; "" for none
	modules []string // extra module_app lines, e.g. "mwi.so"
	// menc are media encryption modules ("srtp.so"), loaded before the accounts that name them.
	menc []string
	// caFile is the CA bundle the phone checks the switch's TLS certificate against.
	caFile string
	// record makes the phone keep what it hears: the sndfile module dumps each call's decoded
	// audio to DIR/rec/dump-TIME-dec.wav (and what it sends to ...-enc.wav); see heard.
	record bool
}

// startBaresip starts baresip -f DIR with a config written for opts and connects to its
// ctrl_tcp port. The process is killed when the test ends; its output is logged on failure
// (or always with BARESIP_LOG=1).
func startBaresip(t *testing.T, root, name string, opts baresipOptions) *baresipPhone {
	t.Helper()
	bin := needs.Program(t, "baresip-core", "baresip")
	dir := filepath.Join(root, "baresip-"+name)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	// baresip binds sip_listen for UDP and TCP and the port above it for TLS: a port of the
	// phones' block (four free, below the ephemeral range) rather than freePort's one, whose
	// neighbour an outgoing connection may hold ("SIP/TLS transport failed: Address already in
	// use").
	sipPort, ctrlPort := freeMediaPort(t), freePort(t)
	var b strings.Builder
	fmt.Fprintf(&b, "poll_method\t\tepoll\n")
	fmt.Fprintf(&b, "net_interface\t\t127.0.0.1\n") // loopback only
	fmt.Fprintf(&b, "sip_listen\t\t127.0.0.1:%d\n", sipPort)
	rtp := freeMediaPort(t) // the phones' block of the port plan, not baresip's wide default
	fmt.Fprintf(&b, "rtp_ports\t\t%d-%d\n", rtp, rtp+3)
	fmt.Fprintf(&b, "module_path\t\t%s\n", baresipModulePath(t))
	b.WriteString("module\t\t\tg711.so\nmodule\t\t\taufile.so\n")
	for _, m := range opts.menc {
		fmt.Fprintf(&b, "module\t\t\t%s\n", m)
	}
	b.WriteString("module_app\t\taccount.so\nmodule_app\t\tmenu.so\nmodule_app\t\tctrl_tcp.so\n")
	for _, m := range opts.modules {
		fmt.Fprintf(&b, "module_app\t\t%s\n", m)
	}
	if opts.record {
		rec := filepath.Join(dir, "rec")
		if err := os.MkdirAll(rec, 0o750); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "module\t\t\tsndfile.so\nsnd_path\t\t%s\n", rec)
	}
	fmt.Fprintf(&b, "ctrl_tcp_listen\t\t127.0.0.1:%d\n", ctrlPort)
	if opts.caFile != "" {
		fmt.Fprintf(&b, "sip_cafile\t\t%s\n", opts.caFile)
	}
	if opts.source != "" {
		fmt.Fprintf(&b, "audio_source\t\taufile,%s\n", opts.source)
	}
	b.WriteString("audio_player\t\taufile,none\naudio_alert\t\taufile,none\n")
	if err := os.WriteFile(filepath.Join(dir, "config"), []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	acc := ""
	if opts.account != "" {
		acc = opts.account + "\n"
	}
	if err := os.WriteFile(filepath.Join(dir, "accounts"), []byte(acc), 0o600); err != nil {
		t.Fatal(err)
	}

	p := &baresipPhone{t: t, name: name, dir: dir, out: &lockedBuffer{}, exited: make(chan struct{}),
		events: make(chan baresipEvent, 256)}
	p.cmd = exec.Command(bin, "-f", dir, "-v")
	p.cmd.Dir = dir
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	// A pipe that stays open as stdin: baresip's console reads it.
	stdin, err := p.cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		if p.ctrl != nil {
			_ = p.ctrl.Close()
		}
		_ = stdin.Close()
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() || os.Getenv("BARESIP_LOG") != "" {
			t.Logf("--- baresip %s output ---\n%s", name, tail(p.out.String(), 150))
		}
	})

	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(ctrlPort)), 200*time.Millisecond)
		if err == nil {
			p.ctrl = c
			break
		}
		select {
		case <-p.exited:
			t.Fatalf("baresip %s exited at start:\n%s", name, p.out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("baresip %s: ctrl_tcp not listening on %d after 10s:\n%s", name, ctrlPort, p.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	go p.readCtrl()
	return p
}

// readCtrl decodes netstrings ("LEN:JSON,") from ctrl_tcp into p.events.
func (p *baresipPhone) readCtrl() {
	defer close(p.events)
	r := bufio.NewReader(p.ctrl)
	for {
		lenStr, err := r.ReadString(':')
		if err != nil {
			return
		}
		n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(lenStr, ":")))
		if err != nil || n < 0 || n > 1<<20 {
			return
		}
		buf := make([]byte, n+1) // the JSON and the trailing comma
		if _, err := io.ReadFull(r, buf); err != nil {
			return
		}
		ev := baresipEvent{raw: string(buf[:n])}
		_ = json.Unmarshal(buf[:n], &ev)
		select {
		case p.events <- ev:
		default: // nobody is listening; drop
		}
	}
}

// command sends one ctrl_tcp command.
func (p *baresipPhone) command(cmd, params string) {
	p.t.Helper()
	js, err := json.Marshal(map[string]string{"command": cmd, "params": params, "token": cmd})
	if err != nil {
		p.t.Fatal(err)
	}
	if _, err := fmt.Fprintf(p.ctrl, "%d:%s,", len(js), js); err != nil {
		p.t.Fatalf("baresip %s: sending %s: %v", p.name, js, err)
	}
}

// waitEvent waits for a ctrl_tcp message that match accepts, failing on timeout. It fails at
// once on an event that fail accepts (if fail is not nil).
func (p *baresipPhone) waitEvent(what string, timeout time.Duration, match, fail func(baresipEvent) bool) baresipEvent {
	p.t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var seen []string
	for {
		select {
		case ev, ok := <-p.events:
			if !ok {
				p.t.Fatalf("baresip %s: ctrl_tcp closed while waiting for %s; seen: %v", p.name, what, seen)
			}
			seen = append(seen, ev.raw)
			if match(ev) {
				return ev
			}
			if fail != nil && fail(ev) {
				p.t.Fatalf("baresip %s: got %s while waiting for %s", p.name, ev.raw, what)
			}
		case <-timer.C:
			p.t.Fatalf("baresip %s: no %s within %s; ctrl_tcp messages seen: %v", p.name, what, timeout, seen)
		}
	}
}

// waitLog waits until one line of the switch's log holds every part.
func waitLog(t testing.TB, sw *switchProcess, timeout time.Duration, parts ...string) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		for _, line := range strings.Split(sw.log.String(), "\n") {
			ok := true
			for _, p := range parts {
				ok = ok && strings.Contains(line, p)
			}
			if ok {
				return line
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no switch log line with %q within %s", parts, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func isEvent(typ string) func(baresipEvent) bool {
	return func(ev baresipEvent) bool { return ev.Event && ev.Type == typ }
}

// TestBaresipLeavesVoicemailAndGetsMWI uses baresip as a real phone: 1002 dials 1003, who has
// no phone, and talks a 1 kHz tone into the voicemail; the API then lists a message from 1002
// whose WAV holds that tone for about as long as baresip talked after the beep. Then a baresip
// registered as 1003 with the mwi module subscribes to message-summary and is told
// "Messages-Waiting: yes", and "no" once the message is deleted.
func TestBaresipLeavesVoicemailAndGetsMWI(t *testing.T) {
	needs.Program(t, "baresip-core", "baresip")
	dir := t.TempDir()
	// baresip 1.0.0 (libre 1.1.0, Debian bookworm) gives up on a 401 that also offers a
	// SHA-256 challenge ("Register: Function not implemented"): the switch offers MD5 only.
	cfg, cfgPath := writeVMConfig(t, dir, vmConfig{md5Only: true})
	sw := startBinary(t, cfg, cfgPath, "-log-level", "debug")
	waitHTTP(t, cfg.HTTPPort)

	tone := filepath.Join(dir, "tone-1k.wav")
	writeToneWAV(t, tone, 1000, 0.4, 30*time.Second)

	// (a) 1002 leaves a message for 1003.
	bob := startBaresip(t, dir, "1002", baresipOptions{source: tone,
		account: fmt.Sprintf("<sip:1002@127.0.0.1:%d;transport=udp>;auth_pass=bob-secret;regint=60", cfg.SIPPort)})
	// bob registers while baresip starts, before ctrl_tcp has a client to tell: watch the switch.
	waitLog(t, sw, 10*time.Second, "contact registered", `"ext": "1002"`)

	bob.command("dial", fmt.Sprintf("sip:1003@127.0.0.1:%d", cfg.SIPPort))
	bob.waitEvent("CALL_ESTABLISHED", 10*time.Second, isEvent("CALL_ESTABLISHED"), isEvent("CALL_CLOSED"))
	established := time.Now()
	// The built-in greeting (~5.6 s) and the beep (0.4 s) play first; then baresip's tone is
	// recorded. Hang up 4 s into the recording: the switch says when it starts.
	const greetingAndBeep = 6 * time.Second
	const talk = 4 * time.Second
	waitLog(t, sw, 20*time.Second, "recording the message", `"box": "1003"`)
	time.Sleep(talk) // the message's length: timing made, not waited for
	bob.command("hangup", "")
	bob.waitEvent("CALL_CLOSED", 10*time.Second, isEvent("CALL_CLOSED"), nil)
	inCall := time.Since(established)

	msgs := waitVoicemail(t, cfg.HTTPPort, "1003", "carol-secret", 1, 10*time.Second)
	m := msgs[0]
	t.Logf("message: %+v (baresip was in the call %v)", m, inCall.Round(10*time.Millisecond))
	if m.From != "1002" {
		t.Errorf("message is from %q, want 1002", m.From)
	}
	if got := time.Duration(m.DurationMS) * time.Millisecond; got < talk-1500*time.Millisecond || got > talk+1500*time.Millisecond {
		t.Errorf("message lasts %v, want about %v (baresip hung up %v after the answer; greeting and beep ≈ %v)",
			got, talk, inCall.Round(10*time.Millisecond), greetingAndBeep)
	}
	samples := fetchVoicemailWAV(t, cfg.HTTPPort, "1003", "carol-secret", m.ID, dir)
	if d, want := durationOf(samples), time.Duration(m.DurationMS)*time.Millisecond; d < want-100*time.Millisecond || d > want+100*time.Millisecond {
		t.Errorf("WAV holds %v of audio, the listing says %v", d, want)
	}
	// The tone must fill the message, not just part of it: check each half.
	half := len(samples) / 2
	l1 := checkTone(t, "first half of the message", samples[:half], 1000)
	l2 := checkTone(t, "second half of the message", samples[half:], 1000)
	t.Logf("1 kHz level: %.3f, %.3f (0.16 would be the file's 0.4 full scale)", l1, l2)

	// (b) Message waiting: baresip as 1003 with mwi.so. baresip 1.0.0's mwi module loops for
	// ever (flooding SUBSCRIBEs) if the account registers before its 1 ms start-up timer
	// fires, which a local switch easily does; so the account is added over ctrl_tcp
	// ("uanew") once baresip runs.
	carol := startBaresip(t, dir, "1003", baresipOptions{source: tone, modules: []string{"mwi.so"}})
	// baresip shows nothing when that timer has fired; 300 ms is a hundred times its 1 ms.
	time.Sleep(300 * time.Millisecond)
	carol.command("uanew", fmt.Sprintf("<sip:1003@127.0.0.1:%d;transport=udp>;auth_pass=carol-secret;regint=60", cfg.SIPPort))
	carol.waitEvent("REGISTER_OK", 10*time.Second, isEvent("REGISTER_OK"), isEvent("REGISTER_FAIL"))
	// baresip's mwi module answers each NOTIFY 200 and raises MWI_NOTIFY with the body (it
	// also prints "----- MWI for ..." on its console, but stdout to a pipe is buffered).
	ev := carol.waitEvent("MWI_NOTIFY", 10*time.Second, isEvent("MWI_NOTIFY"), nil)
	t.Logf("baresip 1003 MWI_NOTIFY: %q", ev.Param)
	if !strings.Contains(ev.Param, "Messages-Waiting: yes") || !strings.Contains(ev.Param, "Voice-Message: 1/0") {
		t.Errorf("first MWI NOTIFY body %q, want Messages-Waiting: yes and Voice-Message: 1/0", ev.Param)
	}

	// Every change is notified: deleting the message clears the lamp.
	if code, body := apiDo(t, "DELETE", cfg.HTTPPort, "/api/v1/voicemail/1003/"+m.ID, "1003", "carol-secret"); code/100 != 2 {
		t.Fatalf("DELETE message: %d %s", code, body)
	}
	ev = carol.waitEvent("MWI_NOTIFY after delete", 10*time.Second, isEvent("MWI_NOTIFY"), nil)
	t.Logf("baresip 1003 MWI_NOTIFY after delete: %q", ev.Param)
	if !strings.Contains(ev.Param, "Messages-Waiting: no") || !strings.Contains(ev.Param, "Voice-Message: 0/0") {
		t.Errorf("MWI NOTIFY after delete %q, want Messages-Waiting: no and Voice-Message: 0/0", ev.Param)
	}
	if log := sw.log.String(); !strings.Contains(log, "subscription started") {
		t.Errorf("switch log has no \"subscription started\"")
	}
}
