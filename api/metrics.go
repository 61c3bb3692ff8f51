package api

import (
	"net/http"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/switchboard-voip/switchboard/presence"
)

// requestCounts counts responses by status class, 2xx to 5xx.
type requestCounts [4]atomic.Uint64

// statusClasses label requestCounts' entries, in order.
var statusClasses = [4]string{"2xx", "3xx", "4xx", "5xx"}

// count records one response with the given status.
func (c *requestCounts) count(status int) {
	if i := status/100 - 2; i >= 0 && i < len(c) {
		c[i].Add(1)
	}
}

// metricsHandler answers GET /metrics with what registry gathers, in the Prometheus
// exposition format the scraper asks for (text 0.0.4 unless it asks otherwise), through the
// client library's promhttp. The API's own metrics (apiCollector) are in registry; cmd adds the
// switch's (calls, media, queues, presence fan-out, the Go runtime and the process).
//
// It needs no credentials, like /healthz: Prometheus scrapes it without Basic auth from the
// monitoring network, and it shows only counts, no extension, name or status of anyone (no
// label names a user; every label has a small fixed set of values). Expose the HTTP listener
// only on a private address (as the default 127.0.0.1:8080 is), or filter /metrics at the
// proxy, if the counts themselves are sensitive.
func metricsHandler(registry prometheus.Gatherer) http.Handler {
	h := promhttp.HandlerFor(registry, promhttp.HandlerOpts{
		// A collector that fails is left out of one scrape rather than failing it whole.
		ErrorHandling: promhttp.ContinueOnError,
		// Scrapes are cheap, but a stuck one must not pile up goroutines.
		MaxRequestsInFlight: 4,
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
}

// apiCollector reads, at scrape time, the figures the API already has sources for:
//
//	switchboard_calls_active                       gauge  (Stats)
//	switchboard_registrations                      gauge  (Stats)
//	switchboard_subscriptions                      gauge  (Stats)
//	switchboard_media_ports_in_use                 gauge  (Stats)
//	switchboard_calls_refused_total                counter (Stats)
//	switchboard_presence_watchers                  gauge  (Presence)
//	switchboard_users{status="available|busy|dnd"} gauge  (Presence)
//	switchboard_http_requests_total{code="2xx|3xx|4xx|5xx"} counter
//	switchboard_cluster_connected                  gauge  (Cluster: 1 while NATS answers)
//	switchboard_cluster_nodes                      gauge  (Cluster: nodes alive, this one too)
//
// Metrics whose source is not configured (Options.Stats, .Presence or .Cluster nil) are left
// out; every label value is always present, 0 or not. The names are those of the hand-written
// exposition this replaced, so dashboards and alerts keep working.
type apiCollector struct{ s *Server }

var (
	descCallsActive   = prometheus.NewDesc("switchboard_calls_active", "Calls in progress.", nil, nil)
	descRegistrations = prometheus.NewDesc("switchboard_registrations", "Registered SIP contacts.", nil, nil)
	descSubscriptions = prometheus.NewDesc("switchboard_subscriptions", "Active SIP subscriptions (presence, dialog, message-summary).", nil, nil)
	descMediaPorts    = prometheus.NewDesc("switchboard_media_ports_in_use", "RTP port pairs in use (two per bridged call, one per browser leg).", nil, nil)
	descCallsRefused  = prometheus.NewDesc("switchboard_calls_refused_total", "New calls refused with 503 for load (overload control).", nil, nil)
	descWatchers      = prometheus.NewDesc("switchboard_presence_watchers", "Open presence watchers (SIP subscriptions and event streams).", nil, nil)
	descUsers         = prometheus.NewDesc("switchboard_users", "Users by presence status.", []string{"status"}, nil)
	descHTTPRequests  = prometheus.NewDesc("switchboard_http_requests_total", "HTTP responses by status class.", []string{"code"}, nil)
	descClusterUp     = prometheus.NewDesc("switchboard_cluster_connected", "1 while this node reaches the cluster's NATS, else 0.", nil, nil)
	descClusterNodes  = prometheus.NewDesc("switchboard_cluster_nodes", "Cluster nodes counted alive, this one included.", nil, nil)
	userStatuses      = []presence.Status{presence.Available, presence.Busy, presence.DND}
)

// Describe implements prometheus.Collector: every family it may send, configured or not (a
// registry only checks that what is collected was described).
func (c apiCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descCallsActive, descRegistrations, descSubscriptions, descMediaPorts,
		descCallsRefused, descWatchers, descUsers, descHTTPRequests, descClusterUp, descClusterNodes} {
		ch <- d
	}
}

// Collect implements prometheus.Collector; every scrape calls each source once.
func (c apiCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	gauge := func(d *prometheus.Desc, v int, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), labels...)
	}
	if s.stats != nil {
		gauge(descCallsActive, s.stats.ActiveCalls())
		gauge(descRegistrations, s.stats.Registrations())
		gauge(descSubscriptions, s.stats.Subscriptions())
		gauge(descMediaPorts, s.stats.MediaPortsInUse())
		ch <- prometheus.MustNewConstMetric(descCallsRefused, prometheus.CounterValue, float64(s.stats.CallsRefused()))
	}
	if s.presence != nil {
		gauge(descWatchers, s.presence.Watchers())
		counts := s.presence.Counts()
		for _, st := range userStatuses {
			gauge(descUsers, max(counts[st], 0), string(st))
		}
	}
	if s.cluster != nil {
		connected := 1
		if s.cluster.Health() != nil {
			connected = 0
		}
		gauge(descClusterUp, connected)
		gauge(descClusterNodes, len(s.cluster.Nodes()))
	}
	for i, class := range statusClasses {
		ch <- prometheus.MustNewConstMetric(descHTTPRequests, prometheus.CounterValue, float64(s.requests[i].Load()), class)
	}
}
