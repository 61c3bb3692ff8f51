package api

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

var (
	metricName = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	labelName  = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
	// A sample: name, optional {labels}, value, no timestamp.
	sampleLine = regexp.MustCompile(`^([^{ ]+)(?:\{(.*)\})? (\S+)$`)
	// One label pair: name="value" with \\, \" and \n escapes.
	labelPair = regexp.MustCompile(`^([^=]+)="((?:[^"\\]|\\[\\"n])*)"(?:,|$)`)
)

// parseMetrics parses a Prometheus text exposition (format 0.0.4) strictly:
// lines are "# HELP name text", "# TYPE name type" or samples; every sample
// belongs to a family with a TYPE given before it; a family's HELP and
// TYPE come once; names and labels are valid; no series repeats. It
// returns the samples keyed "name{label="value",...}" as written, and
// "name" alone for unlabelled ones.
func parseMetrics(body string) (map[string]float64, error) {
	if !strings.HasSuffix(body, "\n") {
		return nil, fmt.Errorf("body does not end with a newline")
	}
	types := map[string]string{}
	helps := map[string]bool{}
	samples := map[string]float64{}
	for i, line := range strings.Split(strings.TrimSuffix(body, "\n"), "\n") {
		n := i + 1
		if strings.HasPrefix(line, "#") {
			f := strings.SplitN(line, " ", 4)
			if len(f) < 4 || (f[1] != "HELP" && f[1] != "TYPE") {
				return nil, fmt.Errorf("line %d: comment %q is not HELP or TYPE", n, line)
			}
			name, rest := f[2], f[3]
			if !metricName.MatchString(name) {
				return nil, fmt.Errorf("line %d: bad metric name %q", n, name)
			}
			if f[1] == "HELP" {
				if helps[name] || rest == "" {
					return nil, fmt.Errorf("line %d: second or empty HELP for %s", n, name)
				}
				helps[name] = true
				continue
			}
			switch rest {
			case "counter", "gauge", "histogram", "summary", "untyped":
			default:
				return nil, fmt.Errorf("line %d: bad type %q", n, rest)
			}
			if _, dup := types[name]; dup {
				return nil, fmt.Errorf("line %d: second TYPE for %s", n, name)
			}
			types[name] = rest
			continue
		}
		m := sampleLine.FindStringSubmatch(line)
		if m == nil {
			return nil, fmt.Errorf("line %d: %q is not a sample", n, line)
		}
		name, labels, value := m[1], m[2], m[3]
		if !metricName.MatchString(name) {
			return nil, fmt.Errorf("line %d: bad metric name %q", n, name)
		}
		if _, ok := types[name]; !ok {
			return nil, fmt.Errorf("line %d: sample of %s before (or without) its TYPE", n, name)
		}
		seen := map[string]bool{}
		for rest := labels; rest != ""; {
			lm := labelPair.FindStringSubmatch(rest)
			if lm == nil {
				return nil, fmt.Errorf("line %d: bad labels %q", n, labels)
			}
			if !labelName.MatchString(lm[1]) || strings.HasPrefix(lm[1], "__") || seen[lm[1]] {
				return nil, fmt.Errorf("line %d: bad or repeated label name %q", n, lm[1])
			}
			seen[lm[1]] = true
			rest = rest[len(lm[0]):]
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return nil, fmt.Errorf("line %d: bad value %q", n, value)
		}
		if types[name] == "counter" && (v < 0 || math.IsNaN(v)) {
			return nil, fmt.Errorf("line %d: counter %s is %v", n, name, v)
		}
		key := name
		if labels != "" {
			key += "{" + labels + "}"
		}
		if _, dup := samples[key]; dup {
			return nil, fmt.Errorf("line %d: series %s repeated", n, key)
		}
		samples[key] = v
	}
	for name := range types {
		if !helps[name] {
			return nil, fmt.Errorf("%s has no HELP", name)
		}
	}
	return samples, nil
}

// scrape fetches /metrics, without credentials, and parses it.
func (e *env) scrape(t *testing.T) map[string]float64 {
	t.Helper()
	got := e.call(t, request{path: "/metrics", noAuth: true}, http.StatusOK)
	if ct := got.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("Content-Type %q", ct)
	}
	samples, err := parseMetrics(string(got.body))
	if err != nil {
		t.Fatalf("%v in:\n%s", err, got.body)
	}
	// Prometheus's own parser, with the classic name rules, reads it too.
	parser := expfmt.NewTextParser(model.LegacyValidation)
	if _, err := parser.TextToMetricFamilies(bytes.NewReader(got.body)); err != nil {
		t.Fatalf("Prometheus text parser: %v in:\n%s", err, got.body)
	}
	if cc := got.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q", cc)
	}
	return samples
}

// wantSamples fails for every sample in want that got lacks or differs in.
func wantSamples(t *testing.T, got map[string]float64, want map[string]float64) {
	t.Helper()
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %t), want %v", k, g, ok, v)
		}
	}
}

func TestMetrics(t *testing.T) {
	e := newEnv(t)
	e.call(t, request{path: "/healthz", noAuth: true}, http.StatusOK)
	e.call(t, request{path: "/api/v1/presence", noAuth: true}, http.StatusUnauthorized)
	e.call(t, request{path: "/api/v1/nothing", ext: "1002"}, http.StatusNotFound)

	got := e.scrape(t)
	wantSamples(t, got, map[string]float64{
		"switchboard_calls_active":                    3,
		"switchboard_registrations":                   7,
		"switchboard_subscriptions":                   2,
		"switchboard_media_ports_in_use":              4,
		"switchboard_calls_refused_total":             9,
		"switchboard_presence_watchers":               0,
		`switchboard_users{status="available"}`:       4,
		`switchboard_users{status="busy"}`:            0,
		`switchboard_users{status="dnd"}`:             0,
		`switchboard_http_requests_total{code="2xx"}`: 1,
		`switchboard_http_requests_total{code="3xx"}`: 0,
		`switchboard_http_requests_total{code="4xx"}`: 2,
		`switchboard_http_requests_total{code="5xx"}`: 0,
	})
	if len(got) != 13 {
		t.Errorf("%d samples, want 13: %v", len(got), got)
	}

	// Statuses and watchers follow the table.
	e.table.CallStarted("1003", "c1")
	e.call(t, request{method: http.MethodPut, path: "/api/v1/presence/1002", body: `{"status":"dnd"}`, ext: "1002"}, http.StatusOK)
	s := e.openStream(t, "1004")
	s.snapshot(t)
	got = e.scrape(t)
	wantSamples(t, got, map[string]float64{
		"switchboard_presence_watchers":               1,
		`switchboard_users{status="available"}`:       2,
		`switchboard_users{status="busy"}`:            1,
		`switchboard_users{status="dnd"}`:             1,
		`switchboard_http_requests_total{code="2xx"}`: 3, // healthz, the first scrape, the PUT
		`switchboard_http_requests_total{code="4xx"}`: 2,
	})
	s.cancel()
	waitFor(t, "the stream to end", func() bool { return e.table.Watchers() == 0 })
}

func TestMetricsWithoutSourcesLeavesThemOut(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.Presence, o.Stats = nil, nil })
	got := e.scrape(t)
	for k := range got {
		if !strings.HasPrefix(k, "switchboard_http_requests_total{") {
			t.Errorf("unexpected sample %s", k)
		}
	}
	if len(got) != 4 {
		t.Errorf("%d samples, want the 4 request counters", len(got))
	}
}

func TestParseMetricsIsStrict(t *testing.T) {
	for name, body := range map[string]string{
		"no TYPE":            "# HELP a x\na 1\n",
		"sample before TYPE": "a 1\n# TYPE a gauge\n# HELP a x\n",
		"bad name":           "# HELP 1a x\n# TYPE 1a gauge\n1a 1\n",
		"bad value":          "# HELP a x\n# TYPE a gauge\na one\n",
		"bad label":          "# HELP a x\n# TYPE a gauge\na{b=c} 1\n",
		"other comment":      "# HELP a x\n# TYPE a gauge\n# hello there\na 1\n",
		"no newline":         "# HELP a x\n# TYPE a gauge\na 1",
		"repeated series":    "# HELP a x\n# TYPE a gauge\na 1\na 2\n",
		"no HELP":            "# TYPE a gauge\na 1\n",
	} {
		if _, err := parseMetrics(body); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
	if _, err := parseMetrics("# HELP a x y\n# TYPE a counter\na{b=\"c\\\"d\",e=\"\"} 1.5\n"); err != nil {
		t.Errorf("valid body: %v", err)
	}
}

// fakeCluster is a cluster membership whose NATS comes and goes at the test's word.
type fakeCluster struct {
	mu    sync.Mutex
	err   error
	nodes []string
}

func (c *fakeCluster) Health() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *fakeCluster) Nodes() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes
}

func (c *fakeCluster) set(err error, nodes ...string) {
	c.mu.Lock()
	c.err, c.nodes = err, nodes
	c.mu.Unlock()
}

// TestClusterHealthAndMetrics: a node of a cluster says in /healthz (503, naming the problem)
// and /metrics when its NATS is unreachable, and how many nodes it counts alive.
func TestClusterHealthAndMetrics(t *testing.T) {
	c := &fakeCluster{nodes: []string{"a", "b", "c"}}
	e := newEnv(t, func(o *Options) { o.Cluster = c })
	e.call(t, request{path: "/healthz", noAuth: true}, http.StatusOK)
	wantSamples(t, e.scrape(t), map[string]float64{"switchboard_cluster_connected": 1, "switchboard_cluster_nodes": 3})

	c.set(errors.New("cluster: NATS unreachable for 3s"), "a")
	got := e.call(t, request{path: "/healthz", noAuth: true}, http.StatusServiceUnavailable)
	if !strings.Contains(string(got.body), "NATS unreachable for 3s") {
		t.Fatalf("/healthz said %s", got.body)
	}
	wantSamples(t, e.scrape(t), map[string]float64{"switchboard_cluster_connected": 0, "switchboard_cluster_nodes": 1})
}
