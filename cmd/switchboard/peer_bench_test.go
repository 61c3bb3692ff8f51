package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/switchboard-voip/switchboard/backup"
	"github.com/switchboard-voip/switchboard/internal/needs"
	"github.com/switchboard-voip/switchboard/internal/poll"
	"github.com/switchboard-voip/switchboard/media"
)

// peerMaxCallees caps the callee pool of make bench-peer (the 6,000 users).
const peerMaxCallees = 6000

// TestBenchPeer is `make bench-peer`: the same SIPp load through Kamailio + rtpengine (Debian's
// packages, configured by testdata/peer/kamailio.cfg) and through Switchboard, one after the
// other on the same machine, and the ratios of what each carries with no failed call. Both are
// a registrar with digest authentication and a proxy that anchors media: the callee pool
// (2001…) is registered by one SIPp instance on behalf of a SIPp UAS that echoes RTP, and a SIPp
// UAC (user 1001, digest) calls them in turn. Two ladders, each climbing until a step fails (a
// failed call at the caller or the callee, a call not put through to the callee, or for
// streaming steps a datagram dropped at the server's sockets or audio late there (audioBehind
// over maxAudioBehind at the step's worst moment); a failed step is run once more
// before the ladder stops): call rates (SWITCHBOARD_PEER_RATES, default
// "200,400,800,1200,1600,2000"; calls held SWITCHBOARD_PEER_HOLD s, default 1, media ports
// anchored, no audio; each rate for SWITCHBOARD_PEER_STEP s, default 10), then concurrent calls
// with both sides streaming G.711 for 6 s (the caller's tone by SIPp's rtp_stream, the callee's
// echo; SWITCHBOARD_PEER_CONCURRENT, default "200,400,600,800,1000,1200,1600,2000,2400,2800,3200"),
// during which a phone of the test's own times set-up (setupProbe; its four users are left out
// of SIPp's), against its calls at rest before the ladders.
// SWITCHBOARD_PEER_DIR keeps the files. After the ladders each side has SWITCHBOARD_PEER_SETTLE
// s (default 60) to come back within 10 % of the memory it had before them. For profiling and
// tuning: SWITCHBOARD_PEER_ONLY=switchboard (or kamailio) runs one side,
// SWITCHBOARD_PEER_PPROF=127.0.0.1:6060 serves the switch's profiler there, and
// SWITCHBOARD_PEER_SIP adds settings to its sip section ("max_call_rate: 1500; overload_delay:
// 20ms").
func TestBenchPeer(t *testing.T) {
	if os.Getenv("SWITCHBOARD_BENCH_PEER") == "" {
		t.Skip("peer benchmark: set SWITCHBOARD_BENCH_PEER=1 (make bench-peer)")
	}
	needs.Program(t, "sip-tester", "sipp")
	needs.Program(t, "kamailio", "kamailio")
	needs.Program(t, "rtpengine-daemon", "rtpengine")
	raiseFileLimit(t)

	rates := envRates(t, "SWITCHBOARD_PEER_RATES", []int{200, 400, 800, 1200, 1600, 2000})
	concurrents := envRates(t, "SWITCHBOARD_PEER_CONCURRENT", []int{200, 400, 600, 800, 1000, 1200, 1600, 2000, 2400, 2800, 3200})
	stepSeconds := envInt(t, "SWITCHBOARD_PEER_STEP", 10)
	hold := envInt(t, "SWITCHBOARD_PEER_HOLD", 1)
	// A callee is called at most once a step (a streaming step places twice its concurrent
	// calls): one already on a call would be Busy, and the switch would answer for it.
	users := calleeUsers(min(max(rates[len(rates)-1]*(hold+2)*2, 2*concurrents[len(concurrents)-1]), peerMaxCallees))
	dir := t.TempDir()
	if d := os.Getenv("SWITCHBOARD_PEER_DIR"); d != "" { // keep the servers' and SIPp's files
		dir = d
		if err := os.MkdirAll(dir, 0o750); err != nil {
			t.Fatal(err)
		}
	}

	type peer struct {
		name  string
		start func(t *testing.T, dir string) (port int, pids []int, stop func())
	}
	peers := []peer{{"Kamailio + rtpengine", startKamailioPeer}, {"Switchboard", func(t *testing.T, dir string) (int, []int, func()) {
		cfg, cfgPath := newSwitchConfigWith(t, dir, 12000, 60*time.Second, users)
		if extra := os.Getenv("SWITCHBOARD_PEER_SIP"); extra != "" { // e.g. "max_call_rate: 1500; overload_delay: 20ms"
			raw, err := os.ReadFile(cfgPath)
			if err != nil {
				t.Fatal(err)
			}
			lines := "  " + strings.Join(strings.Split(extra, ";"), "\n  ") + "\n"
			raw = []byte(strings.Replace(string(raw), "  realm: switchboard\n", "  realm: switchboard\n"+lines, 1))
			if err := os.WriteFile(cfgPath, raw, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		args := []string{"-log-level", "warn"}
		if addr := os.Getenv("SWITCHBOARD_PEER_PPROF"); addr != "" {
			args = append(args, "-pprof", addr)
		}
		sw := startBinary(t, cfg, cfgPath, args...)
		return cfg.SIPPort, []int{sw.cmd.Process.Pid}, func() { _ = sw.cmd.Process.Kill() }
	}}}
	// The rate steps measure signalling with media ports allocated, as the table does:
	// uac.xml without its pcap playback (SIPp playing G.711 for every call is the generator's
	// own limit long before either server's).
	raw, err := os.ReadFile(scenario(t, "uac.xml"))
	if err != nil {
		t.Fatal(err)
	}
	silent := regexp.MustCompile(`(?s)<nop>\s*<action>\s*<exec play_pcap_audio="[^"]*"/>\s*</action>\s*</nop>`).ReplaceAll(raw, nil)
	if len(silent) == len(raw) {
		t.Fatal("uac.xml: no play_pcap_audio block to take out")
	}
	uac := filepath.Join(dir, "uac_silent.xml")
	if err := os.WriteFile(uac, silent, 0o600); err != nil {
		t.Fatal(err)
	}
	streaming := streamingScenario(t, dir, raw)
	best, bestConc := make([]int, len(peers)), make([]int, len(peers))
	// probedAt holds, per peer, what the probe saw at each passed streaming step by calls, and
	// rests what it saw at rest: the verdicts (set-up within setupSlack of rest) are theirs.
	probedAt, rests := make([]map[int]probeResult, len(peers)), make([]probeResult, len(peers))
	var table []string
	only := strings.ToLower(os.Getenv("SWITCHBOARD_PEER_ONLY"))
	for i, p := range peers {
		if only != "" && !strings.Contains(strings.ToLower(p.name), only) {
			continue
		}
		pdir := filepath.Join(dir, fmt.Sprintf("peer%d", i))
		if err := os.MkdirAll(pdir, 0o750); err != nil {
			t.Fatal(err)
		}
		port, pids, stop := p.start(t, pdir)
		calleePort := freePort(t)
		sippUsers := users[:len(users)-probeUsers] // the probe's phones register for themselves
		registerUsers(t, pdir, "register", port, calleePort, sippUsers)
		calleesCSV := calleesFile(t, pdir, "callees.csv", exts(sippUsers)...)
		probe := newSetupProbe(t, port, users)
		uas := startSIPp(t, pdir, "uas", "-sf", scenario(t, "uas.xml"), "-i", "127.0.0.1",
			"-p", strconv.Itoa(calleePort), "-mp", strconv.Itoa(freeMediaPort(t)), "-rtp_echo",
			"-trace_stat", "-fd", "1", "-trace_counts")
		waitUDPBound(t, calleePort, 5*time.Second)
		idle := probe.idle(100)
		probedAt[i], rests[i] = make(map[int]probeResult), idle
		var probed probeResult // the last streaming step's
		t.Logf("%s: a phone's calls at rest set up in %s", p.name, idle)
		startKB, _ := (&procMonitor{pids: pids}).memory()
		startOwn, startFiles := memorySplit(pids)
		startStore := storePages(pids)
		callee := &calleeTally{uas: uas}
		run := func(step int, scen, label string, rate, calls, holdS int, streaming bool) bool {
			var res loadResult
			load := func() {
				res = runLoadStep(t, pdir, fmt.Sprintf("step%d", step), scen, "127.0.0.1:"+strconv.Itoa(port), calleesCSV, pids,
					label, rate, calls, holdS)
			}
			probed = probeResult{}
			if streaming {
				probed = probe.during(load)
			} else {
				load()
			}
			// The step's calls end before the next one dials the same callees: the UAS says
			// when it holds none (its statistics are written every second).
			for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
				if last, _ := readStats(t, uas); last.int("CurrentCall") == 0 {
					break
				}
			}
			var unexpected int
			res.putThrough, res.calleeFailed, res.retxAtCallee, unexpected = callee.step(t)
			res.unexpected += unexpected
			line := fmt.Sprintf("%-22s %s", p.name, res.line())
			behind := audioBehind(res.queuedPeakKB, rate*holdS)
			if streaming {
				line += fmt.Sprintf("; audio waiting at the server at worst ~%d ms; a phone's calls set up meanwhile in %s, at rest p50 %.1f p99 %.0f",
					behind.Milliseconds(), probed, pct(idle.ms, 50), pct(idle.ms, 99))
				if len(idle.held) > 0 {
					line += fmt.Sprintf(" (the server's share %.1f)", pct(idle.held, 50))
				}
				if probed.within(idle, setupSlack) {
					line += fmt.Sprintf(" (within %.0f %% at p50)", setupSlack*100)
				}
			}
			table = append(table, line)
			t.Log(line)
			// A step passes with 0 failed calls at the caller and at the callee, every call put
			// through to the callee's phone (not answered by the server for a callee it took
			// for busy), and a streaming step with no datagram dropped for a full socket buffer
			// (lost audio) or audio that waited there past maxAudioBehind (lost to the phone).
			return res.failed == 0 && res.succeeded == res.planned && res.calleeFailed == 0 &&
				res.putThrough >= res.succeeded && (!streaming || (res.udpDrops == 0 && behind <= maxAudioBehind))
		}
		// A failed step is run once more before the ladder stops there: one call in thousands
		// that SIPp aborts on a message it did not expect (a 180 SIPp 3.6 took for unexpected
		// while waiting for one; a 180 overtaken by its 200, as Kamailio's parallel workers send
		// them, no longer counts: uac.xml) would otherwise decide the whole ladder. Both peers
		// get the same second chance.
		step := 0
		passes := func(label string, try func() bool) bool {
			step++
			if try() {
				return true
			}
			t.Logf("%s %s: failed; running it once more", p.name, label)
			step++
			return try()
		}
		for _, rate := range rates {
			label := fmt.Sprintf("%d cps", rate)
			if !passes(label, func() bool { return run(step, uac, label, rate, rate*stepSeconds, hold, false) }) {
				break
			}
			best[i] = rate
		}
		// Concurrency with both sides streaming: the caller plays its 6 s G.711 pcap, the
		// callee echoes it; arrivals at N/6 a second for 12 s keep about N calls up.
		for _, n := range concurrents {
			rate, label := max(n/6, 1), fmt.Sprintf("%d streaming", n)
			if !passes(label, func() bool { return run(step, streaming, label, rate, rate*12, 6, true) }) {
				break
			}
			bestConc[i] = n
			probedAt[i][n] = probed
		}
		// The issue asks for memory back within 10 % of its start once the load is over.
		settle := time.Duration(envInt(t, "SWITCHBOARD_PEER_SETTLE", 60)) * time.Second
		began := time.Now()
		endKB, _ := (&procMonitor{pids: pids}).memory()
		for time.Since(began) < settle && float64(endKB) > 1.1*float64(startKB) {
			time.Sleep(time.Second) // sampling a process's memory: nothing to wait on
			endKB, _ = (&procMonitor{pids: pids}).memory()
		}
		endOwn, endFiles := memorySplit(pids)
		endStore := storePages(pids)
		line := fmt.Sprintf("%-22s memory before the load %.1f MB, %.1f MB %s after it (within 10 %%: %v); "+
			"its own memory %.1f → %.1f MB (within 10 %%: %v), pages of its files %.1f → %.1f MB "+
			"(of its data store %.1f → %.1f MB)", p.name,
			float64(startKB)/1024, float64(endKB)/1024, time.Since(began).Round(time.Second), float64(endKB) <= 1.1*float64(startKB),
			float64(startOwn)/1024, float64(endOwn)/1024, float64(endOwn) <= 1.1*float64(startOwn),
			float64(startFiles)/1024, float64(endFiles)/1024, float64(startStore)/1024, float64(endStore)/1024)
		table = append(table, line)
		t.Log(line)
		_ = uas.cmd.Process.Kill()
		stop()
		// Nothing of a server may run on beside the next one under test.
		if !poll.Until(10*time.Second, func() bool { return len(runningPIDs(pids)) == 0 }) {
			t.Errorf("%s: processes %v still running 10 s after it was stopped", p.name, runningPIDs(pids))
		}
	}
	t.Logf("\n%s", strings.Join(table, "\n"))
	ratio := 0.0
	if best[0] > 0 {
		ratio = float64(best[1]) / float64(best[0])
	}
	t.Logf("highest rate with 0 failed calls: %s %d calls/s, %s %d calls/s: ratio %.2f (aim: 1.5)",
		peers[0].name, best[0], peers[1].name, best[1], ratio)
	ratio = 0
	if bestConc[0] > 0 {
		ratio = float64(bestConc[1]) / float64(bestConc[0])
	}
	t.Logf("most concurrent calls streaming both ways with 0 failed: %s %d, %s %d: ratio %.2f (aim: 2)",
		peers[0].name, bestConc[0], peers[1].name, bestConc[1], ratio)
	// The aim holds the switch's set-up under twice the peer's load to within 20 % of
	// rest; the same measure on both shows how far each carries calls before set-up slows.
	twice := 2 * bestConc[0]
	at, ran := probedAt[1][twice]
	quickAtTwice := ran && at.within(rests[1], setupSlack)
	t.Logf("%s's phone set up within %.0f %% of rest (p50) at twice the peer's calls (%d): %v (step run and passed: %v); "+
		"most concurrent streaming calls with 0 failed and set-up within it: %s %d, %s %d",
		peers[1].name, setupSlack*100, twice, quickAtTwice, ran, peers[0].name, mostQuick(probedAt[0], rests[0]), peers[1].name, mostQuick(probedAt[1], rests[1]))
	// The phone's set-up holds its own delays too: its phones share the CPUs with SIPp's audio
	// threads like the server does. The server's share (from the probe's capture) is the
	// switch's own signalling, told apart here.
	if rest := rests[1]; ran && len(at.held) > 0 && len(rest.held) > 0 {
		t.Logf("%s's own share of those set-ups (datagram in to datagram out) at %d: p50 %.1f ms against %.1f at rest: within %.0f %%: %v",
			peers[1].name, twice, pct(at.held, 50), pct(rest.held, 50), setupSlack*100, at.heldWithin(rest, setupSlack))
	}
}

// mostQuick is the most calls of a step whose probe set up within setupSlack of rest; 0 if none.
func mostQuick(probed map[int]probeResult, rest probeResult) int {
	most := 0
	for n, r := range probed {
		if r.within(rest, setupSlack) {
			most = max(most, n)
		}
	}
	return most
}

// setupSlack is how much slower than at rest the issue lets set-up be under load: 20 %.
const setupSlack = 0.2

// A streaming step's audio is on time only if it did not wait long in the server: a phone's
// jitter buffer throws away a packet that comes later than it holds, so audio that waited too
// long at the server is lost audio even if none was dropped. maxAudioBehind is ITU-T G.114's
// whole one-way budget (150 ms, mouth to ear): a server taking all of it alone leaves the call
// unusable. Before this criterion a server passed steps with its sockets a second behind.
const maxAudioBehind = 150 * time.Millisecond

// queuedDatagramBytes is what the kernel counts in a socket's queue (/proc/net/udp's rx_queue)
// for one 172-byte G.711 datagram on loopback.
const queuedDatagramBytes = 832

// audioBehind is how far behind its audio a server was with queuedKB waiting in its sockets
// while carrying calls streaming both ways: each sends it 100 datagrams a second (50 from
// each end).
func audioBehind(queuedKB int64, calls int) time.Duration {
	if calls <= 0 {
		return 0
	}
	datagrams := float64(queuedKB) * 1024 / queuedDatagramBytes
	return time.Duration(datagrams / float64(calls*100) * float64(time.Second))
}

// memorySplit is the processes' memory (PSS) in two parts: their own (anonymous and shared
// memory: heaps, stacks, Kamailio's shared pool) and pages of files they map (above all their
// own binaries: code is paged in as it first runs, and a load runs code an idle server has not:
// clean pages the kernel drops first, not memory the server holds).
func memorySplit(pids []int) (ownKB, filesKB int) {
	for _, pid := range pids {
		kb := smapsRollup(pid)
		ownKB += kb["Pss_Anon"] + kb["Pss_Shmem"]
		filesKB += kb["Pss_File"]
	}
	return ownKB, filesKB
}

// storePages is the part of the processes' file pages (PSS) that maps the switch's data store:
// the call history grows with every call and stays (up to its retention), and a B+tree insert
// reads its pages through the mapping, so after a load they are in the process's memory. They
// are the store's data, not memory the switch holds for calls; a figure of their own tells the
// two apart.
func storePages(pids []int) (kb int) {
	for _, pid := range pids {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", pid))
		if err == nil {
			kb += mappedPss(string(data), string(os.PathSeparator)+backup.DBFile)
		}
	}
	return kb
}

// mappedPss sums the Pss of the mappings in smaps (the text of /proc/PID/smaps) whose file
// path ends in suffix.
func mappedPss(smaps, suffix string) (kb int) {
	in := false
	for line := range strings.SplitSeq(smaps, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 5 && strings.Contains(f[0], "-") && !strings.HasSuffix(f[0], ":"):
			// A mapping's header: range, permissions, offset, device, inode[, path].
			in = len(f) >= 6 && strings.HasSuffix(f[len(f)-1], suffix)
		case in && len(f) >= 2 && f[0] == "Pss:":
			n, _ := strconv.Atoi(f[1])
			kb += n
		}
	}
	return kb
}

// startKamailioPeer starts rtpengine (userspace forwarding, its control protocol on a port of
// its own) and Kamailio with testdata/peer/kamailio.cfg on a free port. It returns the SIP
// port, the processes to measure (Kamailio's main process and workers, and rtpengine) and how
// to stop them.
func startKamailioPeer(t *testing.T, dir string) (int, []int, func()) {
	t.Helper()
	ng, port := freePort(t), freePort(t)
	lo, hi := rtpRange(t, 16000)
	rtpe := exec.Command("rtpengine", "--foreground", "--interface=127.0.0.1", "--listen-ng=127.0.0.1:"+strconv.Itoa(ng),
		"--table=-1", "--port-min="+strconv.Itoa(lo), "--port-max="+strconv.Itoa(hi), "--log-stderr", "--log-level=3",
		"--pidfile="+filepath.Join(dir, "rtpengine.pid"))
	rtpeLog, err := os.Create(filepath.Join(dir, "rtpengine.log"))
	if err != nil {
		t.Fatal(err)
	}
	rtpe.Stdout, rtpe.Stderr = rtpeLog, rtpeLog
	if err := rtpe.Start(); err != nil {
		t.Fatalf("rtpengine: %v", err)
	}
	waitUDPBound(t, ng, 10*time.Second)

	tmpl, err := template.ParseFiles(filepath.Join("..", "..", "testdata", "peer", "kamailio.cfg"))
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "kamailio.cfg")
	f, err := os.Create(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	// Debian's default worker count: the peer runs as packaged, not tuned against us.
	if err := tmpl.Execute(f, map[string]int{"Port": port, "NG": ng, "Children": 8}); err != nil {
		t.Fatal(err)
	}
	_ = f.Close()
	kam := exec.Command("kamailio", "-f", cfgPath, "-DD", "-E", "-m", "512", "-M", "32", "-Y", dir,
		"-P", filepath.Join(dir, "kamailio.pid"))
	kamLog, err := os.Create(filepath.Join(dir, "kamailio.log"))
	if err != nil {
		t.Fatal(err)
	}
	kam.Stdout, kam.Stderr = kamLog, kamLog
	ownGroup(kam)
	if err := kam.Start(); err != nil {
		t.Fatalf("kamailio: %v", err)
	}
	stop := func() {
		// The workers too: killing the main process alone left them running (orphans bound to
		// its port, holding its memory) beside the switch's half of the bench and after it.
		_ = killGroup(kam)
		_ = rtpe.Process.Kill()
		_, _ = kam.Process.Wait()
		_, _ = rtpe.Process.Wait()
	}
	t.Cleanup(stop)
	t.Cleanup(func() {
		if t.Failed() {
			for _, name := range []string{"kamailio.log", "rtpengine.log"} {
				b, _ := os.ReadFile(filepath.Join(dir, name))
				t.Logf("--- %s ---\n%s", name, tail(string(b), 30))
			}
		}
	})
	waitUDPBound(t, port, 10*time.Second)
	// The workers are forked after the socket is bound: wait for Kamailio's to be there (8
	// for the UDP listener, plus its timers and the like).
	var workers []int
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if workers = childPIDs(kam.Process.Pid); len(workers) >= 8 {
			break
		}
	}
	pids := append(workers, kam.Process.Pid, rtpe.Process.Pid)
	t.Logf("Kamailio %d (+%d workers) on 127.0.0.1:%d, rtpengine %d, RTP %d-%d", kam.Process.Pid,
		len(pids)-2, port, rtpe.Process.Pid, lo, hi)
	return port, pids, stop
}

// streamingScenario writes uac.xml with its audio sent by SIPp's rtp_stream (6 s of a 1 kHz
// G.711 A-law tone, from a port of its own per call) instead of play_pcap_audio, and returns its
// path. SIPp plays each pcap in a thread of its own (301 threads counted at 300 calls): at 800
// calls those threads crowded both servers' readers off this box's two cores and audio was
// dropped at both. rtp_stream serves 20 calls a thread (42 threads at 800 calls).
func streamingScenario(t *testing.T, dir string, uac []byte) string {
	t.Helper()
	tone := media.Tone(1000, 0.25, 6*time.Second)
	alaw := make([]byte, len(tone))
	media.ALawEncodeFrame(alaw, tone)
	toneFile := filepath.Join(dir, "tone-1khz-6s.alaw")
	if err := os.WriteFile(toneFile, alaw, 0o600); err != nil {
		t.Fatal(err)
	}
	s := regexp.MustCompile(`<exec play_pcap_audio="[^"]*"/>`).ReplaceAllLiteral(uac, []byte(`<exec rtp_stream="`+toneFile+`,1,8"/>`))
	s = bytes.ReplaceAll(s, []byte("m=audio [media_port] "), []byte("m=audio [rtpstream_audio_port] "))
	if bytes.Contains(s, []byte("play_pcap_audio")) || !bytes.Contains(s, []byte("[rtpstream_audio_port]")) {
		t.Fatal("uac.xml: its pcap playback or its m= line is not where streamingScenario looks")
	}
	path := filepath.Join(dir, "uac_stream.xml")
	if err := os.WriteFile(path, s, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// The audio a server holds is measured in the time its calls take to send it: 10,000 G.711
// datagrams waiting while 1,000 calls stream both ways (100,000 a second) is 100 ms.
func TestMappedPss(t *testing.T) {
	const smaps = `55d4c8a00000-55d4c9a00000 r-xp 00000000 08:01 1234   /usr/bin/switchboard
Size:              16384 kB
Pss:                9000 kB
7f1000000000-7f1002000000 r--s 00000000 08:01 5678   /var/lib/switchboard/switchboard.db
Size:              32768 kB
Rss:               12000 kB
Pss:               11000 kB
Pss_Dirty:             0 kB
7f1002000000-7f1002100000 rw-p 00000000 00:00 0
Pss:                 500 kB
7f2000000000-7f2000100000 r--s 00000000 08:01 9999   /tmp/old/switchboard.db (deleted)
Pss:                 300 kB
`
	if got := mappedPss(smaps, "/switchboard.db"); got != 11000 {
		t.Errorf("data store pages %d kB, want 11000 (the store's mapping alone)", got)
	}
}

func TestAudioBehind(t *testing.T) {
	for _, c := range []struct {
		queuedKB int64
		calls    int
		want     time.Duration
	}{
		{10000 * queuedDatagramBytes / 1024, 1000, 100 * time.Millisecond},
		{0, 2000, 0},
		{1 << 20, 0, 0}, // no calls: nothing to be behind
		{40045 * queuedDatagramBytes / 1024, 2400, 166 * time.Millisecond},
	} {
		got := audioBehind(c.queuedKB, c.calls)
		if d := got - c.want; d < -time.Millisecond || d > time.Millisecond {
			t.Errorf("audioBehind(%d KB, %d calls) = %v, want %v", c.queuedKB, c.calls, got, c.want)
		}
	}
	if audioBehind(40045*queuedDatagramBytes/1024, 2400) <= maxAudioBehind {
		t.Errorf("2,400 calls 166 ms behind pass the %v bound", maxAudioBehind)
	}
}
