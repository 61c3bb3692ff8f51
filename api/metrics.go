package api

import (
	"bytes"
	"net/http"
	"strconv"
	"sync/atomic"

	"github.com/switchboard-voip/switchboard/presence"
)

// metricsContentType is the Prometheus text exposition format, version
// 0.0.4.
const metricsContentType = "text/plain; version=0.0.4; charset=utf-8"

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

// metrics answers GET /metrics in the Prometheus text format:
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
// Metrics whose source is not configured (Options.Stats, .Presence or .Cluster nil)
// are left out; every label value is always present, 0 or not.
//
// It needs no credentials, like /healthz: Prometheus scrapes it without
// Basic auth from the monitoring network, and it shows only counts, no
// extension, name or status of anyone. Expose the HTTP listener only on a
// private address (as the default 127.0.0.1:8080 is), or filter /metrics
// at the proxy, if the counts themselves are sensitive.
func (s *Server) metrics(w http.ResponseWriter, r *http.Request) {
	var b bytes.Buffer
	if s.stats != nil {
		gauge(&b, "switchboard_calls_active", "Calls in progress.", s.stats.ActiveCalls())
		gauge(&b, "switchboard_registrations", "Registered SIP contacts.", s.stats.Registrations())
		gauge(&b, "switchboard_subscriptions", "Active SIP subscriptions (presence, dialog, message-summary).", s.stats.Subscriptions())
		gauge(&b, "switchboard_media_ports_in_use", "RTP port pairs in use (two per bridged call, one per browser leg).", s.stats.MediaPortsInUse())
		family(&b, "switchboard_calls_refused_total", "New calls refused with 503 for load (overload control).", "counter")
		b.WriteString("switchboard_calls_refused_total " + strconv.FormatUint(s.stats.CallsRefused(), 10) + "\n")
	}
	if s.presence != nil {
		gauge(&b, "switchboard_presence_watchers", "Open presence watchers (SIP subscriptions and event streams).", s.presence.Watchers())
		counts := s.presence.Counts()
		family(&b, "switchboard_users", "Users by presence status.", "gauge")
		for _, st := range []presence.Status{presence.Available, presence.Busy, presence.DND} {
			sample(&b, "switchboard_users", "status", string(st), uint64(max(counts[st], 0)))
		}
	}
	if s.cluster != nil {
		connected := 1
		if s.cluster.Health() != nil {
			connected = 0
		}
		gauge(&b, "switchboard_cluster_connected", "1 while this node reaches the cluster's NATS, else 0.", connected)
		gauge(&b, "switchboard_cluster_nodes", "Cluster nodes counted alive, this one included.", len(s.cluster.Nodes()))
	}
	family(&b, "switchboard_http_requests_total", "HTTP responses by status class.", "counter")
	for i, class := range statusClasses {
		sample(&b, "switchboard_http_requests_total", "code", class, s.requests[i].Load())
	}

	h := w.Header()
	h.Set("Content-Type", metricsContentType)
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b.Bytes())
}

// family writes a metric family's HELP and TYPE lines. Help texts are our
// own constants, free of backslashes and newlines, so need no escaping.
func family(b *bytes.Buffer, name, help, typ string) {
	b.WriteString("# HELP " + name + " " + help + "\n")
	b.WriteString("# TYPE " + name + " " + typ + "\n")
}

// gauge writes a family of one unlabelled gauge.
func gauge(b *bytes.Buffer, name, help string, v int) {
	family(b, name, help, "gauge")
	b.WriteString(name + " " + strconv.Itoa(v) + "\n")
}

// sample writes one sample with one label; values are our own constants,
// free of characters that need escaping.
func sample(b *bytes.Buffer, name, label, value string, v uint64) {
	b.WriteString(name + "{" + label + `="` + value + `"} ` + strconv.FormatUint(v, 10) + "\n")
}
