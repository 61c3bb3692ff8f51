package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/pion/rtcp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/switchboard-voip/switchboard/internal/poll"
)

// scrapeMetrics fetches /metrics without credentials and parses it with Prometheus's own text
// parser (classic name rules).
func (sw *webSwitch) scrapeMetrics(t testing.TB) map[string]*dto.MetricFamily {
	t.Helper()
	res, err := (&http.Client{Timeout: 5 * time.Second}).Get(sw.base + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d %v", res.StatusCode, err)
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v\n%s", err, body)
	}
	return families
}

// sample is the value of the series of family name with the given label (name, value) pairs
// (a counter's or gauge's value, a histogram's or summary's count); -1 when there is none.
func sample(fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	f := fams[name]
	if f == nil {
		return -1
	}
next:
	for _, m := range f.GetMetric() {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, lp := range m.GetLabel() {
				if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue()
		case m.Gauge != nil:
			return m.GetGauge().GetValue()
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount())
		case m.Summary != nil:
			return float64(m.GetSummary().GetSampleCount())
		}
	}
	return -1
}

// metricsQueue is a queue whose only agent, Erin, has no phone: its callers wait.
const metricsQueue = `queues:
  - ext: "700"
    name: Support
    members: ["1005"]
    ring_timeout: 15s
    max_wait: 5m
    fallback: "voicemail:1005"
`

// registerWrongPassword sends a REGISTER for ext answering the challenge with a wrong password.
func registerWrongPassword(t *testing.T, sipPort int, ext string) int {
	t.Helper()
	ua, err := sipgo.NewUA()
	if err != nil {
		t.Fatal(err)
	}
	defer ua.Close()
	client, err := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	aor := sip.Uri{Scheme: "sip", User: ext, Host: "127.0.0.1"}
	req := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: "127.0.0.1", Port: sipPort})
	req.AppendHeader(&sip.ToHeader{Address: aor, Params: sip.NewParams()})
	req.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: ext, Host: "127.0.0.1", Port: 5999}})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := client.Do(ctx, req)
	if err == nil && res.StatusCode == 401 {
		res, err = client.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: ext, Password: "not-" + ext})
	}
	if err != nil {
		t.Fatalf("REGISTER %s with a wrong password: %v", ext, err)
	}
	return res.StatusCode
}

// TestMetricsMoveAsCallsAreMade: the real binary's /metrics parses with Prometheus's text
// parser, needs no credentials, names no user, and its counters and histograms move as phones
// register, fail to authenticate, call, send media and RTCP, and hang up.
func TestMetricsMoveAsCallsAreMade(t *testing.T) {
	sw := startWebSwitch(t, metricsQueue)
	before := sw.scrapeMetrics(t)
	for name, f := range before {
		if !strings.HasPrefix(name, "switchboard_") && !strings.HasPrefix(name, "go_") &&
			!strings.HasPrefix(name, "process_") && !strings.HasPrefix(name, "promhttp_") {
			t.Errorf("family %s is not the switch's, Go's or the process's", name)
		}
		for _, m := range f.GetMetric() {
			for _, lp := range m.GetLabel() {
				switch lp.GetName() {
				case "outcome", "reason", "result", "status", "code", "le", "quantile", "version":
				default:
					if strings.HasPrefix(name, "switchboard_") {
						t.Errorf("%s has label %s: none may name a user or a call", name, lp.GetName())
					}
				}
			}
		}
	}
	for _, name := range []string{"switchboard_calls_total", "switchboard_call_setup_seconds",
		"switchboard_post_dial_delay_seconds", "switchboard_rtp_packets_total", "switchboard_rtp_kernel_packets_total", "switchboard_rtcp_reported_loss_ratio",
		"switchboard_queue_wait_seconds", "switchboard_presence_fanout_seconds", "switchboard_auth_failures_total",
		"switchboard_registers_accepted_total", "switchboard_call_legs_active", "switchboard_calls_active",
		"go_goroutines", "go_sched_latencies_seconds", "process_resident_memory_bytes"} {
		if before[name] == nil {
			t.Errorf("no %s before any call", name)
		}
	}
	if v := sample(before, "switchboard_calls_total", "outcome", "answered"); v != 0 {
		t.Errorf("answered calls %v before any call", v)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bob := newWebPhone(t, sw.cfg.SIPPort, "1002")
	bob.Register(ctx)
	alice := newWebPhone(t, sw.cfg.SIPPort, "1001")
	alice.Register(ctx)
	if code := registerWrongPassword(t, sw.cfg.SIPPort, "1003"); code != 401 && code != 403 {
		t.Fatalf("a wrong password got %d", code)
	}

	d, dst := alice.Call(ctx, "1002")
	select {
	case <-bob.Answered():
	case <-ctx.Done():
		t.Fatal("bob never answered")
	}
	// Half a second of audio, and one RTCP receiver report (5 % lost, 80 samples of jitter) to
	// the switch's RTCP port from where the phone's RTCP would come.
	var sent atomic.Int64
	alice.Stream(ctx, dst, 1000, 500*time.Millisecond, &sent)
	rr, err := rtcp.Marshal([]rtcp.Packet{&rtcp.ReceiverReport{SSRC: 1,
		Reports: []rtcp.ReceptionReport{{SSRC: 2, FractionLost: 13, Jitter: 80}}}})
	if err != nil {
		t.Fatal(err)
	}
	rtcpConn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer rtcpConn.Close()
	if _, err := rtcpConn.WriteToUDP(rr, &net.UDPAddr{IP: dst.IP, Port: dst.Port + 1}); err != nil {
		t.Fatal(err)
	}

	var during map[string]*dto.MetricFamily
	poll.Require(t, 10*time.Second, "the call's media counted", func() bool {
		during = sw.scrapeMetrics(t)
		return sample(during, "switchboard_rtp_packets_total") >= float64(sent.Load()) &&
			sample(during, "switchboard_rtcp_reported_loss_ratio") >= 1
	})
	// Where the kernel relays (the switch runs with CAP_BPF and CAP_NET_ADMIN: as root), it
	// relays all but the first packets of the stream; elsewhere the switch relays them all.
	kernel, rtp := sample(during, "switchboard_rtp_kernel_packets_total"), sample(during, "switchboard_rtp_packets_total")
	if strings.Contains(sw.proc.log.String(), "plain RTP relayed by the kernel") {
		if kernel < rtp/2 || kernel > rtp {
			t.Errorf("the kernel relayed %v of %v RTP packets, want most of them", kernel, rtp)
		}
	} else if kernel != 0 {
		t.Errorf("the kernel relayed %v RTP packets, though the switch relays them itself", kernel)
	}
	if v := sample(during, "switchboard_calls_active"); v != 1 {
		t.Errorf("active calls %v during the call", v)
	}
	if v := sample(during, "switchboard_call_legs_active"); v != 2 {
		t.Errorf("legs %v during a bridged call", v)
	}
	if v := sample(during, "switchboard_auth_failures_total", "reason", "bad_password"); v != 1 {
		t.Errorf("bad_password failures %v, want 1", v)
	}
	if v := sample(during, "switchboard_registers_accepted_total"); v < 2 {
		t.Errorf("REGISTERs accepted %v, want at least 2", v)
	}
	loss := during["switchboard_rtcp_reported_loss_ratio"].GetMetric()[0].GetSummary()
	jitter := during["switchboard_rtcp_reported_jitter_seconds"].GetMetric()[0].GetSummary()
	if loss.GetSampleSum() != 13.0/256 || jitter.GetSampleSum() != 80.0/8000 {
		t.Errorf("reported loss sum %v, jitter sum %v; want %v and %v", loss.GetSampleSum(), jitter.GetSampleSum(), 13.0/256, 80.0/8000)
	}

	if err := d.Bye(ctx); err != nil {
		t.Fatalf("BYE: %v", err)
	}
	// A call to nobody is rejected (404), after the digest challenge.
	if nobody, err := alice.Dial(ctx, "1999"); err != nil {
		t.Fatal(err)
	} else if err := nobody.WaitAnswer(ctx, alice.Auth()); err == nil {
		t.Fatal("a call to 1999 was answered")
	}

	var after map[string]*dto.MetricFamily
	poll.Require(t, 10*time.Second, "both calls counted and over", func() bool {
		after = sw.scrapeMetrics(t)
		return sample(after, "switchboard_calls_total", "outcome", "answered") == 1 &&
			sample(after, "switchboard_calls_total", "outcome", "rejected") == 1 &&
			sample(after, "switchboard_calls_active") == 0 && sample(after, "switchboard_call_legs_active") == 0
	})
	for name, want := range map[string]float64{
		"switchboard_call_setup_seconds":      1, // the answered call only
		"switchboard_post_dial_delay_seconds": 2, // its 180, and the 404
	} {
		if v := sample(after, name); v != want {
			t.Errorf("%s count %v, want %v", name, v, want)
		}
	}
	if v := sample(after, "switchboard_rtp_packets_total"); v < float64(sent.Load()) {
		t.Errorf("RTP packets %v after the call, fewer than the %d sent", v, sent.Load())
	}

	// A caller waits in a queue whose agent has no phone, and hangs up: an abandon.
	carol := newWebPhone(t, sw.cfg.SIPPort, "1003")
	carol.Register(ctx)
	queued, _ := carol.Call(ctx, "700")
	poll.Require(t, 10*time.Second, "a caller waiting", func() bool {
		return sample(sw.scrapeMetrics(t), "switchboard_queue_callers_waiting") == 1
	})
	if err := queued.Bye(ctx); err != nil {
		t.Fatalf("BYE: %v", err)
	}
	poll.Require(t, 10*time.Second, "the abandon counted", func() bool {
		after = sw.scrapeMetrics(t)
		return sample(after, "switchboard_calls_total", "outcome", "abandoned") == 1
	})
	if v := sample(after, "switchboard_queue_wait_seconds", "result", "abandoned"); v != 1 {
		t.Errorf("abandoned queue waits %v, want 1", v)
	}
	if v := sample(after, "switchboard_queue_callers_waiting"); v != 0 {
		t.Errorf("callers waiting %v after the caller left", v)
	}
	if v := sample(after, "switchboard_call_setup_seconds"); v != 2 {
		t.Errorf("set-up times %v, want 2: the queue answers its caller", v)
	}

	// The dashboard shows only what the switch exports.
	checkDashboard(t, after)

	// What a scrape costs, for the record.
	start := time.Now()
	sw.scrapeMetrics(t)
	t.Logf("scrape: %d families in %v", len(after), time.Since(start))
}

// dashboardMetric is a metric name in a PromQL expression.
var dashboardMetric = regexp.MustCompile(`\b(?:switchboard|go|process)_[a-zA-Z0-9_]+`)

// clusterOnly are exported by a node of a cluster only (api's TestClusterHealthAndMetrics
// scrapes them); this test's switch is a single node.
var clusterOnly = map[string]bool{"switchboard_cluster_connected": true, "switchboard_cluster_nodes": true}

// checkDashboard: contrib/grafana/switchboard.json is valid JSON with a Prometheus datasource
// variable, and every metric its panels query is in the scrape (a histogram's or summary's
// _bucket, _sum and _count series by their family).
func checkDashboard(t *testing.T, fams map[string]*dto.MetricFamily) {
	t.Helper()
	raw, err := os.ReadFile("../../contrib/grafana/switchboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Templating struct {
			List []struct {
				Name, Type string
				Query      json.RawMessage // a string, or an object for a query variable
			}
		}
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("dashboard: %v", err)
	}
	hasDatasource := false
	for _, v := range dash.Templating.List {
		hasDatasource = hasDatasource || (v.Name == "datasource" && v.Type == "datasource" && string(v.Query) == `"prometheus"`)
	}
	if !hasDatasource {
		t.Error("dashboard has no ${datasource} Prometheus variable")
	}
	exprs := 0
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			exprs++
			if !strings.Contains(tg.Expr, `instance=~"$instance"`) {
				t.Errorf("panel %q: %s is not filtered by $instance", p.Title, tg.Expr)
			}
			for _, name := range dashboardMetric.FindAllString(tg.Expr, -1) {
				if fams[name] != nil || clusterOnly[name] {
					continue
				}
				base := name
				for _, suffix := range []string{"_bucket", "_sum", "_count"} {
					base = strings.TrimSuffix(base, suffix)
				}
				if f := fams[base]; f == nil || (f.GetType() != dto.MetricType_HISTOGRAM && f.GetType() != dto.MetricType_SUMMARY) {
					t.Errorf("panel %q queries %s, which the switch does not export", p.Title, name)
				}
			}
		}
	}
	if exprs < 20 {
		t.Errorf("dashboard has %d queries", exprs)
	}
	t.Logf("dashboard: %d panels, %d queries", len(dash.Panels), exprs)
}
