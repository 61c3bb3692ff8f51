package main

import (
	"bufio"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/switchboard-voip/switchboard/internal/needs"
	"github.com/switchboard-voip/switchboard/internal/udpstat"
)

// TestLoad is the SIPp load benchmark; it runs only with SWITCHBOARD_LOAD=1 (make bench):
//
//	SWITCHBOARD_LOAD=1 go test ./cmd/switchboard -run TestLoad -v -timeout 10m
//
// It starts the real binary (SWITCHBOARD_BIN, else a fresh build), registers up to
// loadMaxCallees callee users (2001...) to one SIPp UAS that echoes RTP, then runs a SIPp
// caller (G.711 pcap) that first holds about 1,000 concurrent anchored calls, then places
// calls at increasing rates, always dialling those users in turn so that no call finds its
// callee busy. Per step it prints calls planned, attempted, succeeded and failed, how many
// reached the callee's phone, call-setup time percentiles over every call (first INVITE to
// 200, including the 407 round trip; SIPp measures in whole ms), peak concurrent calls, and
// the switch's CPU and RSS. Knobs: SWITCHBOARD_LOAD_RATES ("100,200"), SWITCHBOARD_LOAD_STEP
// (seconds per rate step, default 10), SWITCHBOARD_LOAD_CONCURRENT (default 1000; 0 skips
// that step), SWITCHBOARD_LOAD_DIR (keep SIPp's files there).
func TestLoad(t *testing.T) {
	if os.Getenv("SWITCHBOARD_LOAD") == "" {
		t.Skip("load benchmark: set SWITCHBOARD_LOAD=1 (make bench)")
	}
	needs.Program(t, "sip-tester", "sipp")
	raiseFileLimit(t)

	rates := envRates(t, "SWITCHBOARD_LOAD_RATES", []int{100, 200, 300, 400, 600})
	stepSeconds := envInt(t, "SWITCHBOARD_LOAD_STEP", 10)
	concurrent := envInt(t, "SWITCHBOARD_LOAD_CONCURRENT", 1000)

	dir := t.TempDir()
	if d := os.Getenv("SWITCHBOARD_LOAD_DIR"); d != "" { // keep SIPp's traces for a look afterwards
		dir = d
		if err := os.MkdirAll(dir, 0o750); err != nil {
			t.Fatal(err)
		}
	}
	type step struct {
		name               string
		rate, calls, holdS int
	}
	var steps []step
	if concurrent > 0 {
		// Calls of 15 s at concurrent/12 per second: the population reaches ~concurrent after
		// 12 s and stays there until the last call starts. It runs first, on a fresh switch:
		// the rising rates end in overload on a small machine, and the calls an overloaded
		// step leaves behind (held until their timers expire, RTP ports and all) would make
		// this step fail for reasons that have nothing to do with concurrency.
		rate := max(concurrent/12, 1)
		steps = append(steps, step{fmt.Sprintf("%d concurrent", concurrent), rate, concurrent + rate*3, 15})
	}
	// Rate steps hold each call 1 s (SWITCHBOARD_LOAD_HOLD): at 600 calls/s that is the
	// ~400-600 concurrent relayed calls of the set-up target, rather than thousands.
	hold := envInt(t, "SWITCHBOARD_LOAD_HOLD", 1)
	for _, r := range rates {
		steps = append(steps, step{fmt.Sprintf("%d cps", r), r, r * stepSeconds, hold})
	}

	// A user on a call is Busy, and the switch answers a new call to them itself (greeting,
	// then hold) instead of putting it through; so the caller dials many users in turn, all
	// registered to the one SIPp UAS. With N users at R calls/s each user is called every N/R
	// seconds; N = R x (hold + 2 s of setup and teardown) x 2 keeps a user's calls apart with
	// room to spare, up to loadMaxCallees (at 600 calls/s and 3 s calls: one call per user
	// every 5 s).
	callees := 1
	for _, s := range steps {
		callees = max(callees, s.rate*(s.holdS+2)*2)
	}
	callees = min(callees, loadMaxCallees)
	users := calleeUsers(callees)

	// 1,000 calls hold 2 endpoints of 2 ports each; leave room for calls still closing.
	cfg, cfgPath := newSwitchConfigWith(t, dir, 12000, 60*time.Second, users)
	sw := startBinary(t, cfg, cfgPath, "-log-level", "warn")
	remote := "127.0.0.1:" + strconv.Itoa(cfg.SIPPort)

	calleePort := freePort(t)
	regStart := time.Now()
	registerUsers(t, dir, "register", cfg.SIPPort, calleePort, users)
	t.Logf("%d callees (%s..%s) registered to the SIPp UAS in %s", len(users), users[0].ext,
		users[len(users)-1].ext, time.Since(regStart).Round(100*time.Millisecond))
	calleesCSV := calleesFile(t, dir, "callees.csv", exts(users)...)
	uas := startSIPp(t, dir, "uas", "-sf", scenario(t, "uas.xml"), "-i", "127.0.0.1",
		"-p", strconv.Itoa(calleePort), "-mp", strconv.Itoa(freeMediaPort(t)), "-rtp_echo",
		"-trace_stat", "-fd", "1", "-trace_counts")
	waitUDPBound(t, calleePort, 5*time.Second)

	var results []loadResult
	callee := &calleeTally{uas: uas}
	for i, s := range steps {
		select {
		case <-sw.exited:
			t.Fatalf("switchboard exited during the load run: %v", sw.err)
		default:
		}
		res := runLoadStep(t, dir, fmt.Sprintf("step%d", i), scenario(t, "uac.xml"), remote, calleesCSV, []int{sw.cmd.Process.Pid}, s.name, s.rate, s.calls, s.holdS)
		// Let BYEs and port releases settle: wait (bounded) until the switch carries no call,
		// or calls left over from an overloaded step would find the next step's callees busy.
		res.leftover = waitCallsDrained(cfg.HTTPPort, 1100*time.Millisecond, 4*time.Second)
		// Calls the UAS took in this step (it dumps its counters every second): the calls put
		// through to a phone rather than answered by the switch for a busy callee.
		var unexpected int
		res.putThrough, res.calleeFailed, res.retxAtCallee, unexpected = callee.step(t)
		res.unexpected += unexpected
		results = append(results, res)
		t.Log(res.line())
		if res.putThrough < res.succeeded {
			t.Logf("%s: only %d of %d successful calls reached the callee's phone: the rest found their callee busy",
				res.name, res.putThrough, res.succeeded)
		}
	}

	t.Logf("\n%s", loadTable(results))
	var bad []string
	for _, r := range results {
		if r.failed > 0 || r.succeeded < r.attempted {
			bad = append(bad, fmt.Sprintf("%s: %d of %d calls failed (%s)", r.name, r.attempted-r.succeeded, r.attempted, r.failures))
		}
		if r.attempted < r.planned {
			bad = append(bad, fmt.Sprintf("%s: only %d of %d calls started before the step's time limit", r.name, r.attempted, r.planned))
		}
	}
	if len(bad) > 0 {
		t.Errorf("calls failed:\n  %s", strings.Join(bad, "\n  "))
	}
}

// loadMaxCallees caps the number of callee users of the load run.
const loadMaxCallees = 3000

// loadResult is one step's figures.
type loadResult struct {
	name                         string
	rate, holdS                  int
	planned                      int
	attempted, succeeded, failed int
	leftover                     int // calls still up on the switch after the step (and the wait)
	putThrough                   int // calls that reached the callee's phone (the SIPp UAS)
	calleeFailed                 int // calls the SIPp UAS counted as failed
	// Retransmissions of the switch's messages that arrived at the caller (a 200 sent again:
	// our ACK was late) and at the callee (an INVITE, ACK or BYE sent again), and messages
	// either SIPp did not expect where they came.
	retxAtCaller, retxAtCallee, unexpected int
	// udpDrops is the datagrams the server's UDP sockets dropped for a full receive buffer
	// during the step: with media flowing, packets lost; -1 unknown.
	udpDrops                      int64
	queuedPeakKB                  int64 // the most waiting in the server's UDP sockets at once
	failures                      string
	peakCalls                     int
	setup                         []float64 // ms
	cpuAvg, cpuPeak               float64   // % of one core
	boxIdle                       float64   // % of the machine's CPUs left idle; -1 unknown
	rssPeakKB, rssEndKB, threads  int
	peakSplit                     memoryAtPeak
	wall                          time.Duration
	achievedRate, retransmissions float64
}

func (r loadResult) line() string {
	perCall := 0.0
	if r.peakCalls > 0 {
		perCall = float64(r.rssPeakKB) / float64(r.peakCalls)
	}
	return fmt.Sprintf("%-15s attempted %5d  ok %5d  failed %4d  to phone %5d (failed there %d)  peak calls %5d  setup ms (%d) p50 %6.1f p90 %6.1f p99 %6.1f max %7.1f  switch CPU avg %5.1f%% peak %5.1f%% (machine idle %.0f%%)  RSS peak %6.1f MB (%.0f KB per call; %s)  retransmissions seen: caller %d, callee %d; unexpected %d; UDP drops at the server %d, peak queued %d KB  (%.0f cps achieved, %s; %d calls still up after it; failures: %s)",
		r.name, r.attempted, r.succeeded, r.failed, r.putThrough, r.calleeFailed, r.peakCalls, len(r.setup),
		pct(r.setup, 50), pct(r.setup, 90), pct(r.setup, 99), pct(r.setup, 100),
		r.cpuAvg, r.cpuPeak, r.boxIdle, float64(r.rssPeakKB)/1024, perCall, r.peakSplit, r.retxAtCaller, r.retxAtCallee, r.unexpected, r.udpDrops, r.queuedPeakKB,
		r.achievedRate, r.wall.Round(100*time.Millisecond), r.leftover, r.failures)
}

func loadTable(rs []loadResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-15s %6s %6s %6s %6s %8s %5s %6s %5s %8s %8s %8s %8s %8s %8s %9s\n", "step", "plan", "calls", "ok",
		"failed", "to phone", "left", "retx", "peak", "p50 ms", "p90 ms", "p99 ms", "max ms", "CPU avg", "CPU peak", "RSS peak")
	for _, r := range rs {
		fmt.Fprintf(&b, "%-15s %6d %6d %6d %6d %8d %5d %6.0f %5d %8.1f %8.1f %8.1f %8.1f %7.1f%% %7.1f%% %6.1f MB\n",
			r.name, r.planned, r.attempted, r.succeeded, r.failed, r.putThrough, r.leftover, r.retransmissions, r.peakCalls,
			pct(r.setup, 50), pct(r.setup, 90), pct(r.setup, 99), pct(r.setup, 100),
			r.cpuAvg, r.cpuPeak, float64(r.rssPeakKB)/1024)
	}
	return b.String()
}

// runLoadStep runs one SIPp caller to completion while sampling the switch's CPU and memory.
func runLoadStep(t *testing.T, dir, name, uacScenario, remote, calleesCSV string, pids []int, label string, rate, calls, holdS int) loadResult {
	t.Helper()
	mon := startProcMonitor(pids...)
	start := time.Now()
	limit := max(rate*(holdS+4), 100)
	uac := startSIPp(t, dir, name,
		remote, "-sf", uacScenario, "-i", "127.0.0.1", "-p", strconv.Itoa(freePort(t)),
		"-mp", strconv.Itoa(freeMediaPort(t)),
		"-inf", calleesCSV, "-key", "caller", "1001", "-au", "1001", "-ap", "alice-secret",
		"-r", strconv.Itoa(rate), "-m", strconv.Itoa(calls), "-l", strconv.Itoa(limit),
		"-d", strconv.Itoa(holdS*1000),
		// -rtt_freq 1: SIPp writes response times in batches of rtt_freq and drops the last,
		// partial batch at exit, so with batches every step would lose up to rtt_freq-1 of
		// its setup times (all of them in a step of fewer calls).
		"-trace_stat", "-fd", "1", "-trace_rtt", "-rtt_freq", "1", "-trace_err", "-trace_counts",
		// Bounded: calls still unfinished at the global timeout count as not succeeded.
		// SIPp stops starting calls at -timeout and is killed 12 s later, which bounds an
		// overloaded step (and keeps the whole run within about 3 minutes).
		"-timeout", strconv.Itoa(calls/rate+holdS+8)+"s")
	uac.wait(time.Duration(calls/rate+holdS+20) * time.Second)
	wall := time.Since(start)
	m := mon.stop()

	last, rows := readStats(t, uac)
	counts := readCounts(t, uac)
	r := loadResult{
		udpDrops: m.udpDrops, queuedPeakKB: m.queuedPeakKB,
		retxAtCaller: counts.retransReceived(), unexpected: counts.unexpected(),
		name: label, rate: rate, holdS: holdS, wall: wall, planned: calls,
		attempted: last.int("TotalCallCreated"), succeeded: last.int("SuccessfulCall(C)"),
		failed: last.int("FailedCall(C)"), failures: last.failures(),
		retransmissions: float64(last.int("Retransmissions(C)")),
		cpuAvg:          m.cpuAvg, cpuPeak: m.cpuPeak, boxIdle: m.boxIdle, rssPeakKB: m.rssPeakKB, rssEndKB: m.rssEndKB, threads: m.threads,
		peakSplit: m.peakSplit,
		setup:     readRTT(t, uac, "setup"),
	}
	if r.attempted == 0 {
		t.Logf("%s: no statistics from sipp\n%s", label, uac.report())
	}
	for _, row := range rows {
		r.peakCalls = max(r.peakCalls, row.int("CurrentCall"))
	}
	if v, err := strconv.ParseFloat(strings.TrimSpace(last["CallRate(C)"]), 64); err == nil {
		r.achievedRate = v
	}
	return r
}

// waitCallsDrained waits at least minWait, then until the switch's /metrics reports no active
// call or maxWait has passed, and returns the calls still active (-1 if /metrics is unreadable).
func waitCallsDrained(httpPort int, minWait, maxWait time.Duration) int {
	start := time.Now()
	// The calls placed last are still being set up and held: none can have ended before minWait.
	time.Sleep(minWait)
	for {
		n := activeCalls(httpPort)
		if n == 0 || time.Since(start) >= maxWait {
			return n
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// activeCalls reads switchboard_calls_active from the switch's /metrics (-1 on failure).
func activeCalls(httpPort int) int {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://127.0.0.1:" + strconv.Itoa(httpPort) + "/metrics")
	if err != nil {
		return -1
	}
	defer func() { _ = resp.Body.Close() }()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "switchboard_calls_active "); ok {
			if n, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
				return int(n)
			}
		}
	}
	return -1
}

// readRTT returns the response times (ms) of one rtd, by name, from SIPp's -trace_rtt file
// ("Date_ms;response_time_ms;rtd_no").
func readRTT(t testing.TB, p *sippProc, rtd string) []float64 {
	t.Helper()
	var out []float64
	files, _ := filepath.Glob(filepath.Join(p.dir, "*_rtt.csv"))
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			fields := strings.Split(strings.TrimSpace(sc.Text()), ";")
			if len(fields) < 3 || fields[2] != rtd {
				continue
			}
			if v, err := strconv.ParseFloat(fields[1], 64); err == nil {
				out = append(out, v)
			}
		}
		_ = fh.Close()
	}
	slices.Sort(out)
	return out
}

// pct returns the p-th percentile of sorted values by nearest rank: the smallest value with at
// least p% of the values at or below it (the maximum for p = 100; 0 when empty).
func pct(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(float64(len(sorted))*p/100)) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// procMonitor samples /proc for the CPU time and memory of a process, or of a server made of
// several (Kamailio's workers and rtpengine, for bench-peer): CPU is summed; memory is the
// process's resident set, or for several their proportional set sizes summed (Kamailio's
// workers share their memory, which RSS would count once per worker).
type procMonitor struct {
	pids []int
	done chan struct{}
	wg   sync.WaitGroup

	res procFigures
	// Drops at the processes' UDP sockets, by inode: at the start, and the last count seen of
	// every socket since (a call's sockets close with it, taking their counts along).
	drops0 map[string]udpstat.Socket
	drops  map[string]int64
}

type procFigures struct {
	cpuAvg, cpuPeak float64 // % of one core: average over the step, peak over 1 s windows
	// boxIdle is the machine's CPU time left idle over the step, % of all its CPUs (-1
	// unknown): with the load generators on the same machine, a box with none left delays
	// every process on it, the switch's signalling included.
	boxIdle             float64
	rssPeakKB, rssEndKB int
	peakSplit           memoryAtPeak
	threads             int
	udpDrops            int64 // datagrams the processes' sockets dropped (full buffers); -1 unknown
	// queuedPeakKB is the most the processes' UDP sockets held waiting to be read at once
	// (sampled each second, in the kernel's accounting): a server behind its traffic.
	queuedPeakKB int64
}

// clockTicks is USER_HZ, the unit of utime/stime in /proc/PID/stat; 100 on every Linux ABI Go
// supports.
const clockTicks = 100

func startProcMonitor(pids ...int) *procMonitor {
	m := &procMonitor{pids: pids, done: make(chan struct{}), drops: make(map[string]int64)}
	m.drops0, _ = udpstat.Sockets(pids...)
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		t0, c0 := time.Now(), m.cpuTicks()
		idle0, total0, idleErr := machineCPU()
		lastT, lastC := t0, c0
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-m.done:
				now, c := time.Now(), m.cpuTicks()
				if d := now.Sub(t0).Seconds(); d > 0 {
					m.res.cpuAvg = float64(c-c0) / clockTicks / d * 100
				}
				m.res.boxIdle = -1
				if idle, total, err := machineCPU(); err == nil && idleErr == nil && total > total0 {
					m.res.boxIdle = float64(idle-idle0) / float64(total-total0) * 100
				}
				m.res.rssEndKB, m.res.threads = m.memory()
				m.sampleDrops()
				m.res.udpDrops = -1
				if m.drops0 != nil {
					m.res.udpDrops = 0
					for inode, n := range m.drops {
						m.res.udpDrops += n - m.drops0[inode].Drops
					}
				}
				return
			case now := <-tick.C:
				if rss, _ := m.memory(); rss > m.res.rssPeakKB {
					m.res.rssPeakKB = rss
					m.res.peakSplit = splitMemory(m.pids)
				}
				if now.Sub(lastT) >= time.Second {
					c := m.cpuTicks()
					m.res.cpuPeak = max(m.res.cpuPeak, float64(c-lastC)/clockTicks/now.Sub(lastT).Seconds()*100)
					lastT, lastC = now, c
					m.sampleDrops()
				}
			}
		}
	}()
	return m
}

// memoryAtPeak is what a server's memory was made of when it peaked, in KB: its own memory,
// pages of its files, and of those its data store's (memorySplit, storePages).
type memoryAtPeak struct{ own, files, store int }

func splitMemory(pids []int) memoryAtPeak {
	own, files := memorySplit(pids)
	return memoryAtPeak{own: own, files: files, store: storePages(pids)}
}

func (m memoryAtPeak) String() string {
	return fmt.Sprintf("own %.1f MB, files %.1f MB, of them the data store's %.1f MB",
		float64(m.own)/1024, float64(m.files)/1024, float64(m.store)/1024)
}

// sampleDrops records the drop count of every UDP socket the processes hold now, and what
// waits in them all.
func (m *procMonitor) sampleDrops() {
	now, err := udpstat.Sockets(m.pids...)
	if err != nil {
		return
	}
	var queued int64
	for inode, s := range now {
		m.drops[inode] = s.Drops
		queued += s.Queued
	}
	m.res.queuedPeakKB = max(m.res.queuedPeakKB, queued/1024)
}

func (m *procMonitor) cpuTicks() int64 {
	var sum int64
	for _, pid := range m.pids {
		sum += procCPUTicks(pid)
	}
	return sum
}

// memory is the resident KB of one process, or the summed PSS of several, and their threads.
func (m *procMonitor) memory() (kb, threads int) {
	if len(m.pids) == 1 {
		return procStatus(m.pids[0])
	}
	for _, pid := range m.pids {
		_, th := procStatus(pid)
		threads += th
		kb += smapsRollup(pid)["Pss"]
	}
	return kb, threads
}

// smapsRollup is a process's /proc/pid/smaps_rollup, KB by field ("Pss", "Pss_Anon", ...);
// empty if the process is gone.
func smapsRollup(pid int) map[string]int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return nil
	}
	kb := make(map[string]int)
	for line := range strings.SplitSeq(string(data), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if f := strings.Fields(v); ok && len(f) > 0 {
			kb[k], _ = strconv.Atoi(f[0])
		}
	}
	return kb
}

func (m *procMonitor) stop() procFigures {
	close(m.done)
	m.wg.Wait()
	return m.res
}

// machineCPU returns the machine's idle and total CPU time so far, in ticks of all its CPUs
// (/proc/stat's first line; idle counts time waiting for I/O too).
func machineCPU() (idle, total int64, err error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	return parseMachineCPU(string(data))
}

// parseMachineCPU reads the "cpu" line of /proc/stat: user nice system idle iowait irq softirq
// steal guest guest_nice. Guest time is counted in user and nice already, so it is left out.
func parseMachineCPU(stat string) (idle, total int64, err error) {
	line, _, _ := strings.Cut(stat, "\n")
	f := strings.Fields(line)
	if len(f) < 6 || f[0] != "cpu" {
		return 0, 0, fmt.Errorf("/proc/stat: no cpu line in %q", line)
	}
	for i, v := range f[1:min(len(f), 9)] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc/stat: cpu field %d: %w", i+1, err)
		}
		total += n
		if i == 3 || i == 4 { // idle, iowait
			idle += n
		}
	}
	return idle, total, nil
}

// procStatFields returns the fields of /proc/pid/stat after the command name: f[0] is field 3
// (the state), f[1] field 4 (the parent). None where pid is not there.
func procStatFields(pid int) []string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil
	}
	// The command name (field 2) may hold spaces; fields after its ')' are fixed.
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(s[i+1:])
}

// procCPUTicks returns utime+stime of pid.
func procCPUTicks(pid int) int64 {
	f := procStatFields(pid)
	// utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return u + st
}

// procStatus returns VmRSS (kB) and Threads of pid.
func procStatus(pid int) (rssKB, threads int) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		fields := strings.Fields(v)
		if len(fields) == 0 {
			continue
		}
		switch k {
		case "VmRSS":
			rssKB, _ = strconv.Atoi(fields[0])
		case "Threads":
			threads, _ = strconv.Atoi(fields[0])
		}
	}
	return rssKB, threads
}

// raiseFileLimit lifts this process's open-file soft limit to the hard limit. Setting it
// explicitly also passes it to children (SIPp opens a raw socket per pcap being played).
func raiseFileLimit(t testing.TB) {
	t.Helper()
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		t.Logf("getrlimit: %v", err)
		return
	}
	l.Cur = l.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		t.Logf("setrlimit: %v", err)
	}
}

// envRates reads a comma-separated list of call rates ("100,200") from the environment.
func envRates(t testing.TB, name string, def []int) []int {
	t.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	var rates []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			t.Fatalf("%s: bad rate %q", name, f)
		}
		rates = append(rates, n)
	}
	return rates
}

func envInt(t testing.TB, name string, def int) int {
	t.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		t.Fatalf("%s: want a number, got %q", name, s)
	}
	return n
}

func TestParseMachineCPU(t *testing.T) {
	// Two CPUs' worth: user nice system idle iowait irq softirq steal guest guest_nice.
	idle, total, err := parseMachineCPU("cpu  100 5 50 800 20 3 12 10 40 0\ncpu0 50 2 25 400 10 1 6 5 20 0\n")
	if err != nil || idle != 820 || total != 1000 {
		t.Errorf("parseMachineCPU = %d, %d, %v; want 820 idle of 1000 (guest time is in user already)", idle, total, err)
	}
	for _, bad := range []string{"", "intr 1 2 3", "cpu  1 2 x 4 5 6", "cpu 1 2"} {
		if _, _, err := parseMachineCPU(bad); err == nil {
			t.Errorf("parseMachineCPU(%q): no error", bad)
		}
	}
}
