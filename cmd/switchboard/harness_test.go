package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/switchboard-voip/switchboard/internal/needs"
	"github.com/switchboard-voip/switchboard/internal/poll"
	"github.com/switchboard-voip/switchboard/internal/testports"
)

// This file is the harness shared by the whole-switch tests: free ports, a config written to a
// temp dir, Switchboard in-process (run) or as the real binary, SIPp processes and an RTP probe.

// binDir holds the switchboard binary built by switchboardBinary; TestMain removes it.
var (
	binDir      string
	binOnce     sync.Once
	binPath     string
	binBuildErr error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "switchboard-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "temp dir:", err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// switchboardBinary builds ./cmd/switchboard once per test binary and returns its path.
// SWITCHBOARD_BIN names a prebuilt binary instead (make bench passes bin/switchboard).
func switchboardBinary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("SWITCHBOARD_BIN"); p != "" {
		abs, err := filepath.Abs(p)
		if err != nil {
			t.Fatal(err)
		}
		return abs
	}
	binOnce.Do(func() {
		binPath = filepath.Join(binDir, "switchboard")
		cmd := exec.Command("go", "build", "-o", binPath, ".")
		out, err := cmd.CombinedOutput()
		if err != nil {
			binBuildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binBuildErr != nil {
		t.Fatal(binBuildErr)
	}
	return binPath
}

// scenario returns the absolute path of testdata/sipp/name.
func scenario(t testing.TB, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "..", "testdata", "sipp", name))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatal(err)
	}
	return p
}

// freePort returns a loopback port of the plan's signalling block that is free for both UDP
// and TCP right now, for the switch binary to listen on. The block lies below the ephemeral
// range, so no connection anywhere on the machine can take the port before the binary binds
// it, as one could a port found free by binding port 0. Another test process walking the same
// block (two runs of this package at once) is kept off it by a lock file held until the test
// ends: both would find the port free, and one would then talk to the other's switch.
func freePort(t testing.TB) int {
	t.Helper()
	return signalling.TakeFree(t, 1, func(lo, _ int) bool {
		u, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: lo})
		if err != nil {
			return false
		}
		defer u.Close()
		l, err := net.Listen("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(lo)))
		if err != nil {
			return false
		}
		_ = l.Close()
		return claimUntilCleanup(t, lo)
	})
}

// claimUntilCleanup takes port p for t, with the lock file claimAcrossProcesses uses, until t
// ends (after the switch t started on it has stopped: cleanups run last first).
func claimUntilCleanup(t testing.TB, p int) bool {
	f, ok := lockPort(p)
	if !ok {
		return false
	}
	if f != nil {
		t.Cleanup(func() { _ = f.Close() })
	}
	return true
}

// This package's blocks of the test port plan (internal/testports): the switch's rtp_ports and
// listening ports, the phones' media ports, and the opt-in load runs' large ranges.
var (
	switchRTP  = testports.SwitchRTP()
	signalling = testports.Signalling()
	phoneRTP   = testports.PhoneRTP()
	loadRTP    = testports.Load()
)

// freeMediaPort returns an even port p with p..p+3 free on UDP, the next such of the phones'
// block: SIPp binds its audio socket on -mp and a video socket on -mp+2.
func freeMediaPort(t testing.TB) int {
	t.Helper()
	return phoneRTP.TakeFree(t, 4, func(lo, n int) bool { return udpFree(lo, n) && claimAcrossProcesses(lo) })
}

// claimAcrossProcesses takes slot p for this test process until it exits, with a lock file that
// every test process of this repository checks: two runs that walk the same port plan at the
// same time (two make test in one lane) then never hand one slot to two SIPp processes. The
// kernel drops the lock when the process ends, however it ends.
func claimAcrossProcesses(p int) bool {
	f, ok := lockPort(p)
	if f != nil {
		portLocksMu.Lock()
		portLocks = append(portLocks, f) // held open, so locked, until the process exits
		portLocksMu.Unlock()
	}
	return ok
}

// lockPort locks slot p's lock file; false if another holder has it (another process, or
// another lock of this one). A nil file with true: there are no lock files here, and the bind
// check alone decides.
func lockPort(p int) (*os.File, bool) {
	dir := filepath.Join(os.TempDir(), "switchboard-test-ports")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, true
	}
	f, err := os.OpenFile(filepath.Join(dir, strconv.Itoa(p)), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, true
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		return nil, false
	}
	return f, true
}

// portLocks are the lock files of the slots this process claimed.
var (
	portLocksMu sync.Mutex
	portLocks   []*os.File
)

// udpFree reports whether ports lo..lo+n-1 can all be bound on loopback UDP right now.
func udpFree(lo, n int) bool {
	var conns []*net.UDPConn
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	for p := lo; p < lo+n; p++ {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: p})
		if err != nil {
			return false
		}
		conns = append(conns, c)
	}
	return true
}

// waitUDPBound waits until some process has UDP port bound (as /proc/net/udp{,6} list it), for
// a program the test started that binds its port on its own time (SIPp's UAS). Reading the
// kernel's table, rather than binding the port to see, cannot take the port from the program.
func waitUDPBound(t testing.TB, port int, within time.Duration) {
	t.Helper()
	suffix := fmt.Sprintf(":%04X", port)
	bound := func() bool {
		for _, f := range []string{"/proc/net/udp", "/proc/net/udp6"} {
			data, err := os.ReadFile(f)
			if err != nil {
				continue
			}
			for _, line := range strings.Split(string(data), "\n")[1:] {
				if fields := strings.Fields(line); len(fields) > 1 && strings.HasSuffix(fields[1], suffix) {
					return true
				}
			}
		}
		return false
	}
	poll.Require(t, within, fmt.Sprintf("UDP port %d bound", port), bound)
}

// rtpRange returns the next RTP port range of size n of the plan: the switch block, or for
// the load runs' thousands of ports the load block. Switchboard skips pairs it cannot bind, so
// a clash with another program costs a pair, not the test.
func rtpRange(t testing.TB, n int) (lo, hi int) {
	t.Helper()
	b := switchRTP
	if n > 3600 { // the switch block's size
		b = loadRTP
	}
	lo = b.Take(t, n)
	return lo, lo + n - 1
}

// switchConfig is what the tests vary in a Switchboard config.
type switchConfig struct {
	SIPPort    int
	HTTPPort   int
	RTPMin     int
	RTPMax     int
	RTPTimeout time.Duration
}

// testUser is one account of a test config.
type testUser struct{ ext, name, password string }

// testUsers are the accounts every test config has.
var testUsers = []testUser{
	{"1001", "Alice", "alice-secret"},
	{"1002", "Bob", "bob-secret"},
	{"1003", "Carol", "carol-secret"},
}

// testPassword is the password of ext of testUsers.
func testPassword(t testing.TB, ext string) string {
	t.Helper()
	for _, u := range testUsers {
		if u.ext == ext {
			return u.password
		}
	}
	t.Fatalf("no test user %s", ext)
	return ""
}

// logOnFailure logs, if the test fails, every line of the switch's log that contains one of
// words: the story of one exchange, which the log's last lines may no longer hold.
func logOnFailure(t *testing.T, sw *switchProcess, words ...string) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, l := range strings.Split(sw.log.String(), "\n") {
			for _, w := range words {
				if strings.Contains(l, w) {
					t.Log(l)
					break
				}
			}
		}
	})
}

// calleeUsers returns n extra accounts 2001..2000+n, passwords "pw-EXT", for tests that place
// many overlapping calls: a user on a call is Busy and the switch answers a second call to
// them itself (greeting, then hold), so such tests spread their calls over many callees.
func calleeUsers(n int) []testUser {
	us := make([]testUser, n)
	for i := range us {
		ext := strconv.Itoa(2001 + i)
		us[i] = testUser{ext, "Callee" + ext, "pw-" + ext}
	}
	return us
}

// newSwitchConfig picks free ports and writes a config into dir; rtpTimeout 0 keeps the default.
func newSwitchConfig(t testing.TB, dir string, rtpPorts int, rtpTimeout time.Duration) (switchConfig, string) {
	t.Helper()
	return newSwitchConfigWith(t, dir, rtpPorts, rtpTimeout, nil)
}

// newSwitchConfigWith is newSwitchConfig with extra users (e.g. calleeUsers) after testUsers.
func newSwitchConfigWith(t testing.TB, dir string, rtpPorts int, rtpTimeout time.Duration, extra []testUser) (switchConfig, string) {
	t.Helper()
	lo, hi := rtpRange(t, rtpPorts)
	c := switchConfig{SIPPort: freePort(t), HTTPPort: freePort(t), RTPMin: lo, RTPMax: hi, RTPTimeout: rtpTimeout}
	var b strings.Builder
	fmt.Fprintf(&b, "sip:\n  listen: [\"udp:127.0.0.1:%d\", \"tcp:127.0.0.1:%d\"]\n  realm: switchboard\n", c.SIPPort, c.SIPPort)
	fmt.Fprintf(&b, "media:\n  address: 127.0.0.1\n  rtp_ports: \"%d-%d\"\n", c.RTPMin, c.RTPMax)
	if c.RTPTimeout > 0 { // else the default
		fmt.Fprintf(&b, "  rtp_timeout: %s\n", c.RTPTimeout)
	}
	fmt.Fprintf(&b, "http:\n  listen: \"127.0.0.1:%d\"\n", c.HTTPPort)
	b.WriteString("data_dir: ./data\nusers:\n")
	for _, u := range append(slices.Clip(testUsers), extra...) {
		fmt.Fprintf(&b, "  - ext: %q\n    name: %s\n    password: %s\n", u.ext, u.name, u.password)
	}
	path := filepath.Join(dir, "switchboard.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return c, path
}

// lockedBuffer is an io.Writer safe for the switch's logger and the test to share.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// waitListening waits until the switch accepts TCP connections on its SIP port (it binds UDP
// before TCP).
func waitListening(t testing.TB, port int, exited <-chan struct{}) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			t.Fatal("switchboard exited before listening")
		default:
		}
		c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), 200*time.Millisecond)
		if err == nil {
			_ = c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("switchboard not listening on %d after 10s", port)
}

// startInProcess runs Switchboard with run() in this process (so -race sees the switch too)
// until the test ends. The returned stop cancels it and returns run's exit code.
func startInProcess(t testing.TB, cfg switchConfig, cfgPath string) (stop func() int, logs *lockedBuffer) {
	t.Helper()
	logs = &lockedBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	exited := make(chan struct{})
	code := 0
	go func() {
		defer close(exited)
		code = run(ctx, []string{"-config", cfgPath}, logs, logs)
	}()
	var once sync.Once
	stop = func() int {
		once.Do(func() {
			cancel()
			select {
			case <-exited:
			case <-time.After(20 * time.Second):
				t.Error("switchboard did not stop within 20s of its context ending")
			}
		})
		return code
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("switchboard log:\n%s", tail(logs.String(), 80))
		}
	})
	waitListening(t, cfg.SIPPort, exited)
	return stop, logs
}

// switchProcess is the real binary running a config.
type switchProcess struct {
	cmd    *exec.Cmd
	log    *lockedBuffer
	exited chan struct{}
	err    error // Wait's result, valid after exited is closed
}

// startBinary runs the switchboard binary on cfgPath until the test ends.
func startBinary(t *testing.T, cfg switchConfig, cfgPath string, extra ...string) *switchProcess {
	t.Helper()
	p := &switchProcess{log: &lockedBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(switchboardBinary(t), append([]string{"-config", cfgPath}, extra...)...)
	p.cmd.Dir = filepath.Dir(cfgPath)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("switchboard log:\n%s", tail(p.log.String(), 80))
		}
	})
	waitListening(t, cfg.SIPPort, p.exited)
	return p
}

// sippProc is one SIPp instance. Its files (stdout, -trace_* output) are in dir.
type sippProc struct {
	name   string
	dir    string
	cmd    *exec.Cmd
	exited chan struct{}
	err    error
}

// startSIPp starts sipp with args in its own directory under dir. It always adds -nostdin,
// -trace_err and a free control port.
func startSIPp(t testing.TB, dir, name string, args ...string) *sippProc {
	t.Helper()
	sippPath := needs.Program(t, "sip-tester", "sipp")
	d := filepath.Join(dir, name)
	if err := os.MkdirAll(d, 0o750); err != nil {
		t.Fatal(err)
	}
	out, err := os.Create(filepath.Join(d, "stdout.txt"))
	if err != nil {
		t.Fatal(err)
	}
	args = append(args, "-nostdin", "-trace_err", "-cp", strconv.Itoa(freePort(t)))
	p := &sippProc{name: name, dir: d, exited: make(chan struct{})}
	p.cmd = exec.Command(sippPath, args...)
	p.cmd.Dir = d
	p.cmd.Stdout, p.cmd.Stderr = out, out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		_ = out.Close()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	})
	return p
}

// wait waits up to timeout for SIPp to exit and returns its exit code (-1 on timeout, after
// killing it).
func (p *sippProc) wait(timeout time.Duration) int {
	select {
	case <-p.exited:
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.exited
		return -1
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	}
	if p.err != nil {
		return -1
	}
	return 0
}

// report returns what SIPp left behind that explains a failure: the end of its screen, its
// error log and the end of its message trace.
func (p *sippProc) report() string {
	var b strings.Builder
	fmt.Fprintf(&b, "--- sipp %s (%s) ---\n", p.name, strings.Join(p.cmd.Args[1:], " "))
	if out, err := os.ReadFile(filepath.Join(p.dir, "stdout.txt")); err == nil {
		b.WriteString(tail(string(out), 40))
	}
	for _, pattern := range []string{"*_errors.log", "*_messages.log"} {
		files, _ := filepath.Glob(filepath.Join(p.dir, pattern))
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				continue
			}
			fmt.Fprintf(&b, "\n--- %s ---\n%s", filepath.Base(f), tail(string(data), 120))
		}
	}
	return b.String()
}

// mustSucceed waits for SIPp and fails the test, with SIPp's report, unless it exited 0
// (SIPp's exit code is 0 only when every call succeeded).
func (p *sippProc) mustSucceed(t testing.TB, timeout time.Duration) {
	t.Helper()
	if code := p.wait(timeout); code != 0 {
		t.Fatalf("sipp %s exited with %d (0 = all calls succeeded, 1 = some failed, -1 = timed out)\n%s",
			p.name, code, p.report())
	}
}

// fileContains reports whether any file matching pattern in p's directory contains s.
func (p *sippProc) fileContains(pattern, s string) bool {
	files, _ := filepath.Glob(filepath.Join(p.dir, pattern))
	for _, f := range files {
		if data, err := os.ReadFile(f); err == nil && bytes.Contains(data, []byte(s)) {
			return true
		}
	}
	return false
}

// registerPhone registers ext's phone whose SIP socket will be 127.0.0.1:phonePort, sending the
// REGISTER from that very port (Switchboard sends calls to where the REGISTER came from).
func registerPhone(t testing.TB, dir string, sipPort, phonePort int, ext, password string) {
	t.Helper()
	registerUsers(t, dir, "register-"+ext, sipPort, phonePort, []testUser{{ext: ext, password: password}})
}

// registerUsers binds every user in users to one phone, 127.0.0.1:phonePort (normally the
// SIPp UAS that takes their calls), with a single SIPp run of register.xml that reads the
// users from an injection file. The REGISTERs are sent from another port, on the phone's
// behalf, as load tests register: calls must reach the Contact, not the registering host.
func registerUsers(t testing.TB, dir, name string, sipPort, phonePort int, users []testUser) {
	t.Helper()
	registerUsersAt(t, dir, name, sipPort, freePort(t), "127.0.0.1", phonePort, users)
}

// registerUsersAt is registerUsers with every choice spelled out: the REGISTERs leave from
// 127.0.0.1:fromPort and bind the Contact contactHost:contactPort.
func registerUsersAt(t testing.TB, dir, name string, sipPort, fromPort int, contactHost string, contactPort int,
	users []testUser) {
	t.Helper()
	lines := make([]string, len(users))
	for i, u := range users {
		// SIPp computes the Authorization from an [authentication ...] injection field (it
		// does not expand [field0] inside the keyword in a scenario).
		lines[i] = fmt.Sprintf("%s;%s;[authentication username=%s password=%s]", u.ext, u.password, u.ext, u.password)
	}
	csv := writeInjectionFile(t, dir, name+"-users.csv", lines)
	const rate = 400 // registrations per second
	timeoutS := len(users)/rate + 10
	args := []string{"127.0.0.1:" + strconv.Itoa(sipPort), "-sf", scenario(t, "register.xml"),
		"-i", "127.0.0.1", "-p", strconv.Itoa(fromPort), "-mp", strconv.Itoa(freeMediaPort(t)),
		"-inf", csv, "-m", strconv.Itoa(len(users)), "-r", strconv.Itoa(rate),
		"-key", "contact_host", contactHost, "-key", "contact_port", strconv.Itoa(contactPort),
		"-key", "expires", "3600", "-timeout", strconv.Itoa(timeoutS) + "s", "-timeout_error"}
	if len(users) <= 10 { // a message trace of thousands of registrations is only noise
		args = append(args, "-trace_msg")
	}
	p := startSIPp(t, dir, name, args...)
	p.mustSucceed(t, time.Duration(timeoutS+5)*time.Second)
}

// writeInjectionFile writes a SIPp -inf file read in SEQUENTIAL order (each new call takes
// the next line, wrapping around) with the given lines ("field0;field1;...") into dir and
// returns its absolute path.
func writeInjectionFile(t testing.TB, dir, name string, lines []string) string {
	t.Helper()
	path, err := filepath.Abs(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	data := "SEQUENTIAL\n" + strings.Join(lines, "\n") + "\n"
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// calleesFile writes the injection file uac.xml dials from: one extension per line, called in
// turn; dir/name.
func calleesFile(t testing.TB, dir, name string, exts ...string) string {
	t.Helper()
	return writeInjectionFile(t, dir, name, exts)
}

// exts returns the extensions of users.
func exts(users []testUser) []string {
	out := make([]string, len(users))
	for i, u := range users {
		out[i] = u.ext
	}
	return out
}

// sippStats is the last line of a SIPp -trace_stat CSV, by column name.
type sippStats map[string]string

// readStats parses the newest -trace_stat file (SIPp writes "name;name;..." then one line per
// dump, the last being cumulative at exit).
func readStats(t testing.TB, p *sippProc) (last sippStats, rows []sippStats) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(p.dir, "*.csv"))
	for _, f := range files {
		if strings.HasSuffix(f, "_rtt.csv") || strings.HasSuffix(f, "_counts.csv") {
			continue
		}
		fh, err := os.Open(f)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var cols []string
		for sc.Scan() {
			fields := strings.Split(strings.TrimRight(sc.Text(), ";"), ";")
			if cols == nil {
				cols = fields
				continue
			}
			row := sippStats{}
			for i, c := range cols {
				if i < len(fields) {
					row[c] = fields[i]
				}
			}
			rows = append(rows, row)
		}
		_ = fh.Close()
	}
	if len(rows) == 0 {
		return sippStats{}, nil
	}
	return rows[len(rows)-1], rows
}

// int returns a counter column, 0 if absent.
func (s sippStats) int(col string) int {
	n, _ := strconv.Atoi(strings.TrimSpace(s[col]))
	return n
}

// readCounts parses the newest -trace_counts file: per scenario message, how many were sent or
// received ("3_ACK_Recv"), retransmitted ("3_ACK_Retrans": for a received message, the
// retransmissions of it that arrived), timed out and unexpected. The last row is cumulative.
func readCounts(t testing.TB, p *sippProc) sippStats {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(p.dir, "*_counts.csv"))
	var last sippStats
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		if len(lines) < 2 {
			continue
		}
		cols := strings.Split(strings.TrimRight(lines[0], ";"), ";")
		fields := strings.Split(strings.TrimRight(lines[len(lines)-1], ";"), ";")
		last = sippStats{}
		for i, c := range cols {
			if i < len(fields) {
				last[c] = fields[i]
			}
		}
	}
	return last
}

// retransReceived sums the retransmissions that arrived of the messages the scenario receives:
// the peer sending a request or response again, because it took an answer of ours for lost.
func (s sippStats) retransReceived() int {
	n := 0
	for c := range s {
		if base, ok := strings.CutSuffix(c, "_Recv"); ok {
			n += s.int(base + "_Retrans")
		}
	}
	return n
}

// unexpected sums the messages that arrived where the scenario expected another.
func (s sippStats) unexpected() int {
	n := 0
	for c := range s {
		if strings.HasSuffix(c, "_Unexp") {
			n += s.int(c)
		}
	}
	return n
}

// calleeTally turns a long-running SIPp UAS's cumulative counters into per-step figures.
type calleeTally struct {
	uas                          *sippProc
	calls, failed, retrans, unex int
}

// step returns what the UAS counted since the previous step: calls put through to it, calls
// it failed, retransmissions it received and unexpected messages.
func (c *calleeTally) step(t testing.TB) (calls, failed, retrans, unexpected int) {
	t.Helper()
	last, _ := readStats(t, c.uas)
	counts := readCounts(t, c.uas)
	calls, failed = last.int("TotalCallCreated")-c.calls, last.int("FailedCall(C)")-c.failed
	retrans, unexpected = counts.retransReceived()-c.retrans, counts.unexpected()-c.unex
	c.calls, c.failed, c.retrans, c.unex = c.calls+calls, c.failed+failed, c.retrans+retrans, c.unex+unexpected
	return calls, failed, retrans, unexpected
}

// failures lists the non-zero Failed* counters.
func (s sippStats) failures() string {
	var parts []string
	for _, c := range []string{"FailedCannotSendMessage(C)", "FailedMaxUDPRetrans(C)", "FailedTcpConnect(C)",
		"FailedTcpClosed(C)", "FailedUnexpectedMessage(C)", "FailedCallRejected(C)", "FailedCmdNotSent(C)",
		"FailedRegexpDoesntMatch(C)", "FailedRegexpShouldntMatch(C)", "FailedRegexpHdrNotFound(C)",
		"FailedOutboundCongestion(C)", "FailedTimeoutOnRecv(C)", "FailedTimeoutOnSend(C)",
		"OutOfCallMsgs(C)", "DeadCallMsgs(C)", "FatalErrors(C)"} {
		if n := s.int(c); n > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", c, n))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " ")
}

// rtpProbe is the callee's media when the callee is uas_probe.xml: it counts RTP from the
// caller (relayed by the switch) and, once it knows the switch's port, sends its own packets
// (SSRC probeSSRC) back. The caller runs SIPp with -rtp_echo, so those packets return here
// after crossing the switch twice: proof that media flows through Switchboard both ways.
type rtpProbe struct {
	conn *net.UDPConn

	fromCaller atomic.Int64 // packets with another SSRC: the caller's audio
	echoed     atomic.Int64 // our own packets, back from the caller's echo
	sent       atomic.Int64
	payload    atomic.Int32 // payload type of the caller's first packet
}

const probeSSRC = 0x5b0a4d00

func newRTPProbe(t testing.TB) *rtpProbe {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	p := &rtpProbe{conn: c}
	p.payload.Store(-1)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		p.serve(ctx, &wg)
	}()
	t.Cleanup(func() {
		cancel()
		_ = c.Close()
		wg.Wait()
	})
	return p
}

func (p *rtpProbe) port() int { return p.conn.LocalAddr().(*net.UDPAddr).Port }

func (p *rtpProbe) serve(ctx context.Context, wg *sync.WaitGroup) {
	buf := make([]byte, 2048)
	started := false
	for {
		n, src, err := p.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		if n < 12 || buf[0]>>6 != 2 {
			continue
		}
		if binary.BigEndian.Uint32(buf[8:12]) == probeSSRC {
			p.echoed.Add(1)
			continue
		}
		p.fromCaller.Add(1)
		p.payload.CompareAndSwap(-1, int32(buf[1]&0x7f))
		if !started {
			started = true
			wg.Add(1)
			go func() {
				defer wg.Done()
				p.send(ctx, net.UDPAddrFromAddrPort(src))
			}()
		}
	}
}

// send plays 20 ms PCMA frames of silence to the switch, at most 150 of them.
func (p *rtpProbe) send(ctx context.Context, to *net.UDPAddr) {
	pkt := make([]byte, 12+160)
	pkt[0] = 0x80
	pkt[1] = 8
	binary.BigEndian.PutUint32(pkt[8:12], probeSSRC)
	for i := range pkt[12:] {
		pkt[12+i] = 0xd5 // A-law silence
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for seq := range 150 {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		binary.BigEndian.PutUint16(pkt[2:4], uint16(seq))
		binary.BigEndian.PutUint32(pkt[4:8], uint32(seq*160))
		if _, err := p.conn.WriteToUDP(pkt, to); err != nil {
			return
		}
		p.sent.Add(1)
	}
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("[... %d lines ...]", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}
