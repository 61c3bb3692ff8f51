package main

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/switchboard-voip/switchboard/flow"
	"github.com/switchboard-voip/switchboard/history"
	"github.com/switchboard-voip/switchboard/media"
	sbsip "github.com/switchboard-voip/switchboard/sip"
)

// switchMetrics are the switch's Prometheus metrics beyond the API's own (api/metrics.go):
// what the SIP layer and the queues report as it happens (it is their sip.Observer and
// flow.Options.OnQueueLeft) and what is read at scrape time (media, legs, callers waiting).
// The lower packages import no metrics library; this file is the one place that knows both.
//
// No label names a user or a call: outcome, reason, result and protocol each have a small
// fixed set of values, all present from the start at 0.
type switchMetrics struct {
	calls     map[history.Outcome]prometheus.Counter // switchboard_calls_total{outcome}
	setup     prometheus.Histogram                   // switchboard_call_setup_seconds
	pdd       prometheus.Histogram                   // switchboard_post_dial_delay_seconds
	auth      map[string]prometheus.Counter          // switchboard_auth_failures_total{reason}
	registers prometheus.Counter                     // switchboard_registers_accepted_total
	fanout    prometheus.Histogram                   // switchboard_presence_fanout_seconds
	queueWait map[flow.QueueResult]prometheus.Observer
}

// The histograms' buckets, in seconds.
var (
	// Set-up runs from the INVITE to the answer, so it includes ringing: a few ms when the
	// switch or an auto-answering phone answers, tens of seconds when a person does.
	setupBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 20, 30, 60}
	// Post-dial delay, to the first ringing: milliseconds on a LAN, seconds through a carrier.
	pddBuckets = []float64{.002, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}
	// Presence fan-out: one NOTIFY is microseconds, a thousand watchers milliseconds.
	fanoutBuckets = prometheus.ExponentialBuckets(10e-6, 4, 11) // 10 µs … 10.5 s
	// Queue waits: seconds to an hour.
	queueBuckets = []float64{1, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600}
)

// newSwitchMetrics makes the metrics and registers them, with Go's runtime and the process's
// collectors, in reg.
func newSwitchMetrics(reg prometheus.Registerer) *switchMetrics {
	calls := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "switchboard_calls_total",
		Help: "Calls ended, by outcome as the call history records it (this node's callers)."}, []string{"outcome"})
	auth := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "switchboard_auth_failures_total",
		Help: "SIP requests whose digest credentials failed, by reason."}, []string{"reason"})
	queueWait := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "switchboard_queue_wait_seconds",
		Help:    "Time callers waited in a queue, by how the wait ended (abandoned: the caller hung up).",
		Buckets: queueBuckets}, []string{"result"})
	m := &switchMetrics{
		calls: make(map[history.Outcome]prometheus.Counter),
		setup: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "switchboard_call_setup_seconds",
			Help: "From a call's INVITE to the caller's 2xx (answered calls).", Buckets: setupBuckets}),
		pdd: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "switchboard_post_dial_delay_seconds",
			Help: "From a call's INVITE to the first ringing (180/183) or final response the caller got.", Buckets: pddBuckets}),
		auth: make(map[string]prometheus.Counter),
		registers: prometheus.NewCounter(prometheus.CounterOpts{Name: "switchboard_registers_accepted_total",
			Help: "REGISTER requests answered 200 (new, refreshed, removed or queried bindings)."}),
		fanout: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "switchboard_presence_fanout_seconds",
			Help: "Time to hand one status change of a watched user to every SIP watcher (NOTIFYs).", Buckets: fanoutBuckets}),
		queueWait: make(map[flow.QueueResult]prometheus.Observer),
	}
	// The children are made once: an observation is then a map read and an atomic add.
	for _, o := range history.Outcomes() {
		m.calls[o] = calls.WithLabelValues(string(o))
	}
	for _, r := range sbsip.AuthFailureReasons {
		m.auth[r] = auth.WithLabelValues(r)
	}
	for _, r := range flow.QueueResults {
		m.queueWait[r] = queueWait.WithLabelValues(string(r))
	}
	reg.MustRegister(calls, m.setup, m.pdd, auth, m.registers, m.fanout, queueWait,
		// The scheduler's latencies (go_sched_latencies_seconds: how long goroutines waited,
		// runnable, for a CPU) tell SIP work starved by media work from a slow network.
		collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(collectors.MetricsScheduler)),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// CallEnded implements sip.Observer.
// The call is counted last, so a scrape that sees it sees its times too.
func (m *switchMetrics) CallEnded(c sbsip.CallSummary) {
	if c.Answered {
		m.setup.Observe(c.Setup.Seconds())
	}
	if c.Progressed {
		m.pdd.Observe(c.PostDialDelay.Seconds())
	}
	if n, ok := m.calls[c.Outcome]; ok {
		n.Inc()
	}
}

// AuthFailed implements sip.Observer.
func (m *switchMetrics) AuthFailed(reason string) {
	n, ok := m.auth[reason]
	if !ok {
		n = m.auth[sbsip.AuthOther]
	}
	n.Inc()
}

// RegisterAccepted implements sip.Observer.
func (m *switchMetrics) RegisterAccepted() { m.registers.Inc() }

// PresenceFannedOut implements sip.Observer.
func (m *switchMetrics) PresenceFannedOut(d time.Duration) { m.fanout.Observe(d.Seconds()) }

// queueLeft is flow.Options.OnQueueLeft.
func (m *switchMetrics) queueLeft(r flow.QueueResult, waited time.Duration) {
	if h, ok := m.queueWait[r]; ok {
		h.Observe(waited.Seconds())
	}
}

// registerSwitchGauges adds what is read at scrape time from the running switch: call legs,
// callers waiting in queues, and the media relays' counters.
func registerSwitchGauges(reg prometheus.Registerer, srv *sbsip.Server, flows *flow.Engine, ports *media.Ports) {
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "switchboard_call_legs_active",
			Help: "SIP call legs (dialogs) in progress: a bridged call has two."},
			func() float64 { return float64(srv.Dialogs()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "switchboard_queue_callers_waiting",
			Help: "Callers waiting in queues at this node, being offered included."},
			func() float64 { return float64(flows.QueueWaiting()) }),
		relayCollector{ports},
	)
}

// relayCollector reads the media relays' counters (media.Ports.RelayTotals) once per scrape.
type relayCollector struct{ ports *media.Ports }

// rtpClockRate turns RTCP's jitter, in RTP timestamp units, into seconds: the switch's calls
// carry only G.711 (PCMU, PCMA; media/sdp.go keeps no other codec), whose clock is 8 kHz.
const rtpClockRate = 8000

var (
	descRTPPackets  = prometheus.NewDesc("switchboard_rtp_packets_total", "RTP packets received by the media relays (both directions of every bridged call).", nil, nil)
	descRTPBytes    = prometheus.NewDesc("switchboard_rtp_bytes_total", "RTP bytes received by the media relays.", nil, nil)
	descRTPKernel   = prometheus.NewDesc("switchboard_rtp_kernel_packets_total", "Of switchboard_rtp_packets_total, the packets the kernel relayed (media.kernel_relay): the rest the switch relayed itself.", nil, nil)
	descRTPDropped  = prometheus.NewDesc("switchboard_rtp_dropped_packets_total", "RTP packets the relays received but did not forward (no remote yet, on hold, a failed write).", nil, nil)
	descRTCPPackets = prometheus.NewDesc("switchboard_rtcp_packets_total", "RTCP packets received by the media relays.", nil, nil)
	descRTCPLoss    = prometheus.NewDesc("switchboard_rtcp_reported_loss_ratio", "Fraction lost (0-1) in the RTCP reception reports phones sent, one observation per report block: rate(_sum)/rate(_count) is the average loss.", nil, nil)
	descRTCPJitter  = prometheus.NewDesc("switchboard_rtcp_reported_jitter_seconds", "Interarrival jitter in the RTCP reception reports phones sent (8 kHz clock), one observation per report block.", nil, nil)
)

// Describe implements prometheus.Collector.
func (relayCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRTPPackets, descRTPBytes, descRTPKernel, descRTPDropped, descRTCPPackets, descRTCPLoss, descRTCPJitter} {
		ch <- d
	}
}

// Collect implements prometheus.Collector. Loss and jitter are summaries without quantiles:
// a sum and a count that Prometheus turns into averages over any range.
func (c relayCollector) Collect(ch chan<- prometheus.Metric) {
	t := c.ports.RelayTotals()
	counter := func(d *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	counter(descRTPPackets, t.RTP.Packets)
	counter(descRTPBytes, t.RTP.Bytes)
	counter(descRTPKernel, t.RTP.InKernel)
	counter(descRTPDropped, t.RTP.Dropped)
	counter(descRTCPPackets, t.RTCP.Packets)
	ch <- prometheus.MustNewConstSummary(descRTCPLoss, t.RTCP.Reports, float64(t.RTCP.FractionLost)/256, nil)
	ch <- prometheus.MustNewConstSummary(descRTCPJitter, t.RTCP.Reports, float64(t.RTCP.Jitter)/rtpClockRate, nil)
}
