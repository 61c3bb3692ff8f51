package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// runArgs calls run in-process and returns its exit code and output.
func runArgs(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(t.Context(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestVersionPrintsVersionAndExits0(t *testing.T) {
	code, out, errOut := runArgs(t, "-version")
	if code != 0 {
		t.Fatalf("-version: exit %d, want 0; stderr: %s", code, errOut)
	}
	if want := "switchboard " + version; strings.TrimSpace(out) != want {
		t.Errorf("-version printed %q, want %q", out, want)
	}
}

func TestUnknownFlagExits2WithUsage(t *testing.T) {
	code, _, errOut := runArgs(t, "-no-such-flag")
	if code != 2 {
		t.Errorf("unknown flag: exit %d, want 2", code)
	}
	if !strings.Contains(errOut, "-no-such-flag") || !strings.Contains(errOut, "-config") || !strings.Contains(errOut, "hash-password") {
		t.Errorf("unknown flag: stderr should name the flag and show usage, got:\n%s", errOut)
	}
}

func TestCheckAcceptsGoodConfigs(t *testing.T) {
	dir := t.TempDir()
	_, written := newSwitchConfig(t, dir, 100, 0)
	demo, err := filepath.Abs(filepath.Join("..", "..", "config", "demo.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for name, args := range map[string][]string{
		"test config":     {"-check", "-config", written},
		"demo.yaml":       {"-check", "-config", demo},
		"embedded demo":   {"-check"},
		"flags any order": {"-config", written, "-check"},
	} {
		t.Run(name, func(t *testing.T) {
			code, out, errOut := runArgs(t, args...)
			if code != 0 {
				t.Fatalf("exit %d, want 0; stderr:\n%s", code, errOut)
			}
			if errOut != "" {
				t.Errorf("valid config printed to stderr:\n%s", errOut)
			}
			if !strings.Contains(out, "OK") {
				t.Errorf("stdout %q, want a line saying the config is OK", out)
			}
		})
	}
}

func TestCheckRejectsBadConfigsNamingTheKeyPath(t *testing.T) {
	const listen = "sip:\n  listen: [\"udp:127.0.0.1:5060\"]\n"
	const user = "users:\n  - {ext: \"1001\", name: Alice, password: a}\n"
	for name, c := range map[string]struct {
		yaml string
		want []string // each must start a line of stderr
	}{
		"empty ext": {listen + "users:\n  - {ext: \"\", name: A, password: x}\n",
			[]string{"users[0].ext: "}},
		"duplicate ext": {listen + user + "  - {ext: \"1001\", name: B, password: y}\n",
			[]string{"users[1].ext: "}},
		"no listener": {user, []string{"sip.listen: "}},
		"bad transport": {"sip:\n  listen: [\"sctp:127.0.0.1:5060\"]\n" + user,
			[]string{"sip.listen[0]: "}},
		"odd rtp port": {listen + "media:\n  rtp_ports: \"30001-30100\"\n" + user,
			[]string{"media.rtp_ports: "}},
		"unknown key": {listen + "bogus: 1\n" + user, []string{"bogus: "}},
		"bad kernel relay": {listen + "media:\n  kernel_relay: maybe\n" + user,
			[]string{"media.kernel_relay: "}},
		"bad duration": {listen + "users:\n  - {ext: \"1001\", name: A, password: a, no_answer_timeout: soon}\n",
			[]string{"users[0].no_answer_timeout: "}},
		"unknown group member": {listen + user + "groups:\n  - {ext: \"600\", name: G, members: [\"1009\"]}\n",
			[]string{"groups[0].members[0]: "}},
		"several problems, one line each": {"media:\n  rtp_ports: \"30001-30100\"\nusers:\n  - {ext: \"\", name: A, password: x}\n",
			[]string{"sip.listen: ", "media.rtp_ports: ", "users[0].ext: "}},
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "bad.yaml")
			if err := os.WriteFile(path, []byte(c.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			code, out, errOut := runArgs(t, "-check", "-config", path)
			if code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			if strings.Contains(out, "OK") {
				t.Errorf("stdout says OK for a bad config: %q", out)
			}
			lines := strings.Split(strings.TrimSpace(errOut), "\n")
			for _, w := range c.want {
				found := false
				for _, l := range lines {
					if strings.HasPrefix(l, w) && len(l) > len(w) {
						found = true
					}
				}
				if !found {
					t.Errorf("stderr has no line starting %q (key path: problem); got:\n%s", w, errOut)
				}
			}
			if len(lines) < len(c.want) {
				t.Errorf("stderr has %d lines, want one per problem (>= %d):\n%s", len(lines), len(c.want), errOut)
			}
		})
	}
}

func TestCheckMissingFileExits2(t *testing.T) {
	code, _, errOut := runArgs(t, "-check", "-config", filepath.Join(t.TempDir(), "nope.yaml"))
	if code != 2 {
		t.Errorf("exit %d, want 2", code)
	}
	if !strings.Contains(errOut, "nope.yaml") {
		t.Errorf("stderr should name the missing file, got %q", errOut)
	}
}

func TestRunStopsCleanlyWhenContextEnds(t *testing.T) {
	dir := t.TempDir()
	cfg, path := newSwitchConfig(t, dir, 100, 0)
	stop, logs := startInProcess(t, cfg, path)
	if code := stop(); code != 0 {
		t.Errorf("run returned %d after its context ended, want 0\n%s", code, logs.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); err != nil {
		t.Errorf("data_dir not created next to the config: %v", err)
	}
}

// media.kernel_relay: on is a promise: where the kernel cannot relay (here, the switch run as
// nobody, without CAP_BPF and CAP_NET_ADMIN), the switch does not start, and says which key.
func TestKernelRelayOnStopsTheStartWhereTheKernelCannot(t *testing.T) {
	dir, err := os.MkdirTemp("", "switchboard-kernel-relay-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// Another user runs the binary: everything it needs is open to all.
	bin := filepath.Join(dir, "switchboard")
	b, err := os.ReadFile(switchboardBinary(t))
	if err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	conf := fmt.Sprintf("sip:\n  listen: [\"udp:127.0.0.1:%d\"]\nmedia:\n  kernel_relay: on\n"+
		"http:\n  listen: \"127.0.0.1:%d\"\ndata_dir: ./data\nusers:\n  - {ext: \"1001\", name: A, password: a}\n",
		port, freePort(t))
	path := filepath.Join(dir, "switchboard.yaml")
	for _, err := range []error{os.Chmod(dir, 0o777), os.WriteFile(bin, b, 0o755), os.WriteFile(path, []byte(conf), 0o644)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-config", path)
	if os.Geteuid() == 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	}
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() <= 0 {
		t.Fatalf("the switch ran as nobody with media.kernel_relay: on: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "media.kernel_relay") {
		t.Errorf("its error does not name media.kernel_relay:\n%s", out)
	}
}

// media.kernel_relay: off keeps every packet the switch's even where the kernel could take it
// (this process may load the program: the default, auto, hands plain RTP to the kernel).
func TestKernelRelayOffLeavesRelayingToTheSwitch(t *testing.T) {
	const kernel, itself = "plain RTP relayed by the kernel", "RTP relayed by the switch"
	for _, mode := range []string{"auto", "off"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			cfg, path := newSwitchConfig(t, dir, 100, 0)
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			conf := strings.Replace(string(b), "media:\n", "media:\n  kernel_relay: "+mode+"\n", 1)
			if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
				t.Fatal(err)
			}
			stop, logs := startInProcess(t, cfg, path)
			stop()
			out := logs.String()
			switch {
			case mode == "auto" && !strings.Contains(out, kernel):
				t.Skipf("the kernel cannot relay here:\n%s", out)
			case mode == "off" && (strings.Contains(out, kernel) || strings.Contains(out, itself)):
				t.Errorf("with kernel_relay: off the switch tried the kernel:\n%s", out)
			}
		})
	}
}
