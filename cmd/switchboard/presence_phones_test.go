package main

import (
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
)

// Real soft phones for the presence tests: linphonec (Debian linphone-cli) and baresip (Debian
// baresip-core), each run headless in its own temp HOME with a config written here.

// withSIPSetting returns a copy of the config at cfgPath with line (e.g. `digest_algorithms:
// ["MD5"]`) added to its sip section, written beside it as name.
func withSIPSetting(t testing.TB, cfgPath, name, line string) string {
	t.Helper()
	data, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(data), "  realm: switchboard\n", "  realm: switchboard\n  "+line+"\n", 1)
	if s == string(data) {
		t.Fatalf("no sip.realm line in %s to add %q after", cfgPath, line)
	}
	path := filepath.Join(filepath.Dir(cfgPath), name)
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// phoneProc is a soft phone process whose stdout and stderr go to out.
type phoneProc struct {
	name   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	out    *lockedBuffer
	exited chan struct{}
}

// startPhoneProc starts a soft phone in dir with HOME (and the XDG dirs) inside dir, so that it
// reads and writes nothing of the user's. It is killed when the test ends, if still running.
func startPhoneProc(t testing.TB, name, dir string, argv ...string) *phoneProc {
	t.Helper()
	home := filepath.Join(dir, "home")
	for _, d := range []string{".config", ".local/share", ".cache"} {
		if err := os.MkdirAll(filepath.Join(home, d), 0o750); err != nil {
			t.Fatal(err)
		}
	}
	p := &phoneProc{name: name, out: &lockedBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(argv[0], argv[1:]...)
	p.cmd.Dir = dir
	p.cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, ".config"),
		"XDG_DATA_HOME="+filepath.Join(home, ".local/share"), "XDG_CACHE_HOME="+filepath.Join(home, ".cache"))
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	stdin, err := p.cmd.StdinPipe() // held open: both phones end at EOF on stdin
	if err != nil {
		t.Fatal(err)
	}
	p.stdin = stdin
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.stop(2 * time.Second)
		if t.Failed() {
			t.Logf("%s output:\n%s", name, tail(p.out.String(), 60))
		}
	})
	return p
}

// stop closes the phone's stdin (after writing quit, which linphonec reads), waits up to grace
// for it to exit, then kills it.
func (p *phoneProc) stop(grace time.Duration) {
	select {
	case <-p.exited:
		return
	default:
	}
	_, _ = io.WriteString(p.stdin, "quit\n")
	_ = p.stdin.Close()
	select {
	case <-p.exited:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// writeLinphonerc writes a linphonec config: one account, ext@127.0.0.1 registering through the
// switch on sipPort over UDP with PUBLISH enabled, listening on phonePort, no TCP/TLS, no video.
func writeLinphonerc(t testing.TB, dir string, sipPort, phonePort int, ext, password string) string {
	t.Helper()
	rtp := freeMediaPort(t)
	rc := fmt.Sprintf(`[sip]
sip_port=%d
sip_tcp_port=0
sip_tls_port=0
default_proxy=0
register_only_when_network_is_up=0

[rtp]
audio_rtp_port=%d
video_rtp_port=%d

[video]
enabled=0
capture=0
display=0

[proxy_0]
reg_proxy=<sip:127.0.0.1:%d;transport=udp>
reg_identity=sip:%s@127.0.0.1
reg_expires=600
reg_sendregister=1
publish=1
publish_expires=600

[auth_info_0]
username=%s
userid=%s
passwd=%s
realm=switchboard
`, phonePort, rtp, rtp+2, sipPort, ext, ext, ext, password)
	path := filepath.Join(dir, "linphonerc")
	if err := os.WriteFile(path, []byte(rc), 0o600); err != nil {
		t.Fatal(err)
	}
	// liblinphone 5.1 does not start its core (no REGISTER, no PUBLISH, nothing logged about
	// it) when it cannot open its database, and it does not create the directory for it.
	if err := os.MkdirAll(filepath.Join(dir, "home", ".local", "share", "linphone"), 0o750); err != nil {
		t.Fatal(err)
	}
	return path
}

// writeBaresipConfig writes a baresip config directory: account ext registering with the switch
// on sipPort, the presence module, one contact per watched extension marked presence=p2p
// (baresip then SUBSCRIBEs to it through the switch), and ctrl_tcp on ctrlPort for commands.
// No sound card: a sine source and file players.
func writeBaresipConfig(t testing.TB, dir string, sipPort, ctrlPort int, ext, password string, watch ...string) string {
	t.Helper()
	cfgDir := filepath.Join(dir, "baresip")
	if err := os.MkdirAll(cfgDir, 0o750); err != nil {
		t.Fatal(err)
	}
	// baresip listens on sip_listen for UDP and TCP, and on the port above it for TLS.
	listen := freeMediaPort(t)
	rtp := freeMediaPort(t)
	config := fmt.Sprintf(`poll_method		poll
sip_listen		127.0.0.1:%d
audio_player		aufile,/dev/null
audio_source		ausine,440
audio_alert		aufile,/dev/null
rtp_ports		%d-%d
module_path		/usr/lib/baresip/modules
module			g711.so
module			ausine.so
module			aufile.so
module_app		account.so
module_app		contact.so
module_app		menu.so
module_app		presence.so
module_app		ctrl_tcp.so
ctrl_tcp_listen		127.0.0.1:%d
`, listen, rtp, rtp+3, ctrlPort)
	account := fmt.Sprintf("<sip:%s@127.0.0.1:%d;transport=udp>;auth_pass=%s;regint=600\n", ext, sipPort, password)
	var contacts strings.Builder
	for _, w := range watch {
		fmt.Fprintf(&contacts, "\"User %s\" <sip:%s@127.0.0.1:%d>;presence=p2p\n", w, w, sipPort)
	}
	for name, body := range map[string]string{"config": config, "accounts": account, "contacts": contacts.String()} {
		if err := os.WriteFile(filepath.Join(cfgDir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return cfgDir
}

// baresipCommand runs one command through baresip's ctrl_tcp (netstring-framed JSON) and returns
// its printed output.
func baresipCommand(ctrlPort int, command string) (string, error) {
	c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(ctrlPort)), time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	msg, _ := json.Marshal(map[string]string{"command": command, "token": "t"})
	if _, err := fmt.Fprintf(c, "%d:%s,", len(msg), msg); err != nil {
		return "", err
	}
	var buf []byte
	chunk := make([]byte, 4096)
	for {
		n, err := c.Read(chunk)
		buf = append(buf, chunk[:n]...)
		if length, rest, ok := strings.Cut(string(buf), ":"); ok {
			if l, convErr := strconv.Atoi(length); convErr == nil && len(rest) >= l+1 {
				var res struct {
					OK   bool   `json:"ok"`
					Data string `json:"data"`
				}
				if err := json.Unmarshal([]byte(rest[:l]), &res); err != nil {
					return "", fmt.Errorf("ctrl_tcp answer %q: %w", rest[:l], err)
				}
				if !res.OK {
					return res.Data, fmt.Errorf("ctrl_tcp: %s failed: %s", command, res.Data)
				}
				return res.Data, nil
			}
		}
		if err != nil {
			return "", fmt.Errorf("ctrl_tcp: %w after %q", err, buf)
		}
	}
}

// baresipColours matches the terminal colour codes baresip puts around presence words.
var baresipColours = strings.NewReplacer("\x1b[32m", "", "\x1b[31m", "", "\x1b[;m", "")

// baresipContactStatus reads what baresip's contact list shows for ext: Online, Busy, Offline or
// Unknown ("" if the contact is not listed).
func baresipContactStatus(ctrlPort int, ext string) (string, error) {
	out, err := baresipCommand(ctrlPort, "contacts")
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(baresipColours.Replace(out), "\n") {
		if strings.Contains(line, "<sip:"+ext+"@") {
			fields := strings.Fields(strings.TrimLeft(line, "> "))
			if len(fields) > 0 {
				return fields[0], nil
			}
		}
	}
	return "", nil
}

// baresipShows is ext's status in baresip's contact list, or the error reading it.
func baresipShows(ctrlPort int, ext string) string {
	st, err := baresipContactStatus(ctrlPort, ext)
	if err != nil {
		return "error: " + err.Error()
	}
	return st
}

// logLineHas reports whether one line of log contains every part.
func logLineHas(log string, parts ...string) bool {
	for _, line := range strings.Split(log, "\n") {
		all := true
		for _, p := range parts {
			if !strings.Contains(line, p) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}
