package main

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-voip/switchboard/internal/needs"
)

// TestQueueLoad is the call-queue benchmark; it runs only with SWITCHBOARD_QUEUE_LOAD=1
// (make bench, make queue-bench):
//
//	SWITCHBOARD_QUEUE_LOAD=1 go test ./cmd/switchboard -run TestQueueLoad -v -timeout 15m
//
// A SIPp carrier (carrier_queue.xml, no credentials, from the trunk's allowed address) dials
// the DID of queue 700 at a steady rate; the switch answers each caller, announces their
// position and plays music on hold, and offers them to the queue's agents. The agents are
// users 3001... whose phones are one SIPp UAS (agent.xml, every agent registered with that
// UAS's contact): it answers each offer, talks for the talk time and hangs up; the switch
// then hangs up the caller. A caller who has had no BYE after 60 s hangs up (abandoned).
//
// It prints calls offered, answered, abandoned and failed, wait in the queue (held_ms of the
// call history: average, p50, p90, max), the queue's peak length, agents offered a second
// caller while on a call, and the switch's CPU and peak RSS.
//
// Throughput arithmetic: N agents with talk T and wrap-up W take at most N / (T + W + setup)
// calls/s; 20 agents keep up with 50 calls/s only if a call occupies an agent less than
// 0.4 s, so the default talk time is 250 ms. Longer calls (SWITCHBOARD_QUEUE_LOAD_TALK_MS=5000)
// overload the queue on purpose: the line grows, and callers abandon after 60 s.
//
// Knobs: SWITCHBOARD_QUEUE_LOAD_RATE (calls/s, default 50), _SECONDS (default 60), _AGENTS
// (default 20), _TALK_MS (default 250), _WRAPUP_MS (default 0), SWITCHBOARD_QUEUE_LOAD_DIR
// (keep SIPp's files there), SWITCHBOARD_QUEUE_LOAD_TRACE=1 (the agents' phone logs every message). SWITCHBOARD_BIN names a prebuilt binary (make passes bin/switchboard).
func TestQueueLoad(t *testing.T) {
	if os.Getenv("SWITCHBOARD_QUEUE_LOAD") == "" {
		t.Skip("queue load benchmark: set SWITCHBOARD_QUEUE_LOAD=1 (make bench)")
	}
	needs.Program(t, "sip-tester", "sipp")
	raiseFileLimit(t)
	rate := envInt(t, "SWITCHBOARD_QUEUE_LOAD_RATE", 50)
	seconds := envInt(t, "SWITCHBOARD_QUEUE_LOAD_SECONDS", 60)
	nAgents := envInt(t, "SWITCHBOARD_QUEUE_LOAD_AGENTS", 20)
	talkMS := envInt(t, "SWITCHBOARD_QUEUE_LOAD_TALK_MS", 250)
	wrapupMS := envInt(t, "SWITCHBOARD_QUEUE_LOAD_WRAPUP_MS", 0)
	if rate == 0 || seconds == 0 || nAgents == 0 {
		t.Fatal("SWITCHBOARD_QUEUE_LOAD_RATE, _SECONDS and _AGENTS must be positive")
	}
	const patience = 60 * time.Second // carrier_queue.xml's BYE timeout
	calls := rate * seconds

	dir := t.TempDir()
	if d := os.Getenv("SWITCHBOARD_QUEUE_LOAD_DIR"); d != "" {
		dir = d
		if err := os.MkdirAll(dir, 0o750); err != nil {
			t.Fatal(err)
		}
	}
	agents := make([]testUser, nAgents)
	for i := range agents {
		ext := strconv.Itoa(3001 + i)
		agents[i] = testUser{ext, "Agent" + ext, "pw-" + ext}
	}
	// Callers waiting hold one local endpoint each; callers talking two. At worst (nobody
	// answered for the whole patience) rate x patience callers wait.
	ports := min(max(4*rate*int(patience/time.Second)+1000, 2000), 30000)
	cfg, cfgPath := writeRoutingConfig(t, dir, routingConfig{users: agents, admin: "1001", rtpPorts: ports,
		extra: queueTrunkYAML(exts(agents), time.Duration(wrapupMS)*time.Millisecond)})
	sw := startBinary(t, cfg, cfgPath, "-log-level", "warn")
	waitHTTP(t, cfg.HTTPPort)
	remote := "127.0.0.1:" + strconv.Itoa(cfg.SIPPort)

	agentPort := freePort(t)
	registerUsers(t, dir, "register-agents", cfg.SIPPort, agentPort, agents)
	agentArgs := []string{"-sf", scenario(t, "agent.xml"), "-i", "127.0.0.1",
		"-p", strconv.Itoa(agentPort), "-mp", strconv.Itoa(freeMediaPort(t)), "-rtp_echo",
		"-d", strconv.Itoa(talkMS), "-trace_stat", "-fd", "1"}
	if os.Getenv("SWITCHBOARD_QUEUE_LOAD_TRACE") != "" { // every SIP message the agents' phone sees
		agentArgs = append(agentArgs, "-trace_msg")
	}
	uas := startSIPp(t, dir, "agents", agentArgs...)
	waitUDPBound(t, agentPort, 5*time.Second)
	for _, q := range getQueues(t, cfg.HTTPPort, "1001", "alice-secret") {
		if q.Ext != "700" {
			continue
		}
		reg := 0
		for _, m := range q.Members {
			if m.Registered && m.State == "available" {
				reg++
			}
		}
		if reg != nAgents {
			t.Fatalf("queue 700 has %d available registered agents of %d before the run: %+v", reg, nAgents, q.Members)
		}
	}

	loadBefore := loadAvg()
	mon := startProcMonitor(sw.cmd.Process.Pid)
	qmon := startQueueMonitor(cfg.HTTPPort)
	start := time.Now()
	limit := int(float64(rate)*(patience.Seconds()+5)) + 100
	uac := startSIPp(t, dir, "carrier", remote, "-sf", scenario(t, "carrier_queue.xml"),
		"-i", "127.0.0.1", "-p", strconv.Itoa(freePort(t)), "-mp", strconv.Itoa(freeMediaPort(t)),
		"-s", carrierDID, "-key", "caller", "15557654321",
		"-r", strconv.Itoa(rate), "-m", strconv.Itoa(calls), "-l", strconv.Itoa(limit),
		"-trace_stat", "-fd", "1", "-trace_rtt", "-rtt_freq", "1",
		"-timeout", strconv.Itoa(seconds+int(patience.Seconds())+30)+"s")
	code := uac.wait(time.Duration(seconds+int(patience.Seconds())+45) * time.Second)
	wall := time.Since(start)
	drained := waitCallsDrained(cfg.HTTPPort, 1500*time.Millisecond, 15*time.Second)
	figs := mon.stop()
	peakWaiting, peakLongest := qmon.stop()
	loadAfter := loadAvg()

	last, _ := readStats(t, uac)
	agentLast, _ := readStats(t, uas)
	setup := readRTT(t, uac, "setup")

	// The queue's record of each call: outcome and time in the queue.
	recs := allHistory(t, cfg.HTTPPort, "1001", "alice-secret")
	var answered, abandoned, other int
	var waits, abandonWaits []float64
	outcomes := map[string]int{}
	type span struct{ from, to time.Time }
	talks := map[string][]span{}
	for _, r := range recs {
		if r.Via != "700" && r.To != carrierDID {
			continue
		}
		outcomes[r.Outcome]++
		switch r.Outcome {
		case "answered":
			answered++
			waits = append(waits, float64(r.HeldMS))
			talks[r.AnsweredBy] = append(talks[r.AnsweredBy],
				span{r.Ended.Add(-time.Duration(r.TalkMS) * time.Millisecond), r.Ended})
		case "abandoned":
			abandoned++
			abandonWaits = append(abandonWaits, float64(r.HeldMS))
		default:
			other++
		}
	}
	slices.Sort(waits)
	slices.Sort(abandonWaits)
	// An agent offered a caller while still talking to another: overlapping talk spans.
	doubleBooked := 0
	perAgent := make([]int, 0, len(talks))
	for _, ss := range talks {
		perAgent = append(perAgent, len(ss))
		sort.Slice(ss, func(i, j int) bool { return ss[i].from.Before(ss[j].from) })
		for i := 1; i < len(ss); i++ {
			if ss[i].from.Before(ss[i-1].to.Add(-50 * time.Millisecond)) {
				doubleBooked++
			}
		}
	}
	slices.Sort(perAgent)

	var b strings.Builder
	fmt.Fprintf(&b, "queue load: %d calls/s for %d s into queue 700 (%d agents, talk %d ms, wrap-up %d ms, longest_idle), carrier via trunk DID %s\n",
		rate, seconds, nAgents, talkMS, wrapupMS, carrierDID)
	fmt.Fprintf(&b, "  calls offered (SIPp)    %d of %d planned in %s (%s calls/s achieved); SIPp successful %d, failed %d (%s); exit %d\n",
		last.int("TotalCallCreated"), calls, wall.Round(100*time.Millisecond), strings.TrimSpace(last["CallRate(C)"]),
		last.int("SuccessfulCall(C)"), last.int("FailedCall(C)"), last.failures(), code)
	fmt.Fprintf(&b, "  history (via 700)       %d records: answered %d, abandoned %d, other %d %v\n",
		answered+abandoned+other, answered, abandoned, other, outcomes)
	fmt.Fprintf(&b, "  agents' phone (SIPp)    %d calls, %d successful, %d failed (%s); calls per agent min %d max %d; double-booked offers %d\n",
		agentLast.int("TotalCallCreated"), agentLast.int("SuccessfulCall(C)"), agentLast.int("FailedCall(C)"), agentLast.failures(),
		firstOf(perAgent), lastOf(perAgent), doubleBooked)
	fmt.Fprintf(&b, "  wait in queue, answered avg %.0f ms  p50 %.0f  p90 %.0f  p99 %.0f  max %.0f  (abandoned: %d, avg %.0f ms)\n",
		mean(waits), pct(waits, 50), pct(waits, 90), pct(waits, 99), pct(waits, 100), len(abandonWaits), mean(abandonWaits))
	fmt.Fprintf(&b, "  answer by the switch    INVITE->200 ms p50 %.0f  p90 %.0f  max %.0f (%d)\n",
		pct(setup, 50), pct(setup, 90), pct(setup, 100), len(setup))
	fmt.Fprintf(&b, "  queue (GET /api/v1/queues every 500 ms): peak waiting %d, peak longest_wait %d ms\n", peakWaiting, peakLongest)
	fmt.Fprintf(&b, "  switch                  CPU avg %.1f%% peak %.1f%% of one core; RSS peak %.1f MB, end %.1f MB; threads %d; calls still up after: %d\n",
		figs.cpuAvg, figs.cpuPeak, float64(figs.rssPeakKB)/1024, float64(figs.rssEndKB)/1024, figs.threads, drained)
	fmt.Fprintf(&b, "  machine load (1/5/15 min) before: %s  after: %s\n", loadBefore, loadAfter)
	t.Log("\n" + b.String())

	if n := last.int("FailedCall(C)"); n > 0 || code != 0 {
		t.Errorf("carrier: %d failed calls, exit %d (%s)\n%s", n, code, last.failures(), uac.report())
	}
	if got, want := answered+abandoned+other, last.int("TotalCallCreated"); got < want {
		t.Errorf("call history lists %d queue calls, SIPp placed %d", got, want)
	}
	if doubleBooked > 0 {
		t.Errorf("%d offers reached an agent who was still talking to another caller", doubleBooked)
	}
}

// queueMonitor polls GET /api/v1/queues for the peak queue length and longest wait.
type queueMonitor struct {
	done          chan struct{}
	wg            sync.WaitGroup
	peakWaiting   int
	peakLongestMS int64
}

func startQueueMonitor(httpPort int) *queueMonitor {
	m := &queueMonitor{done: make(chan struct{})}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		api := newPresenceAPI(httpPort, "1001", "alice-secret")
		for {
			select {
			case <-m.done:
				return
			case <-tick.C:
			}
			code, body, err := api.do("GET", "/api/v1/queues", nil)
			if err != nil || code != 200 {
				continue
			}
			var qs []apiQueue
			if json.Unmarshal(body, &qs) != nil {
				continue
			}
			for _, q := range qs {
				m.peakWaiting = max(m.peakWaiting, q.Waiting)
				m.peakLongestMS = max(m.peakLongestMS, q.LongestWaitMS)
			}
		}
	}()
	return m
}

func (m *queueMonitor) stop() (peakWaiting int, peakLongestMS int64) {
	close(m.done)
	m.wg.Wait()
	return m.peakWaiting, m.peakLongestMS
}

// allHistory reads every page of the call history.
func allHistory(t testing.TB, httpPort int, user, pass string) []historyEntry {
	t.Helper()
	var all []historyEntry
	before := ""
	for {
		recs, next := historyPage(t, httpPort, user, pass, 500, before)
		all = append(all, recs...)
		if next == "" {
			return all
		}
		before = next
	}
}

// loadAvg is /proc/loadavg's three load averages.
func loadAvg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func mean(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

func firstOf(xs []int) int {
	if len(xs) == 0 {
		return 0
	}
	return xs[0]
}

func lastOf(xs []int) int {
	if len(xs) == 0 {
		return 0
	}
	return xs[len(xs)-1]
}
