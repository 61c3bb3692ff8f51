// Package natstest runs real NATS servers with JetStream inside a Go test: one, or a cluster
// whose servers can be stopped and started again on the same ports and data, as a crash and a
// restart would. Only tests import it, so the server is linked into test binaries only.
package natstest

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboard-voip/switchboard/internal/poll"
)

// Cluster is a NATS cluster with JetStream run inside the test: real servers on loopback
// ports, each of which can be stopped and started again on the same ports and data.
type Cluster struct {
	t       testing.TB
	opts    []*server.Options
	servers []*server.Server
}

// FreePorts returns n loopback TCP ports free a moment ago (routes must be known in advance).
func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	var ports []int
	var ls []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		_ = l.Close()
	}
	return ports
}

// Start starts size servers (one: no routes), with JetStream unless jetStream is false; they
// are shut down when the test ends.
func Start(t testing.TB, size int, jetStream bool) *Cluster {
	t.Helper()
	c := &Cluster{t: t}
	client, routes := FreePorts(t, size), FreePorts(t, size)
	var routeURLs []string
	for _, p := range routes {
		routeURLs = append(routeURLs, fmt.Sprintf("nats://127.0.0.1:%d", p))
	}
	for i := range size {
		o := &server.Options{
			ServerName: fmt.Sprintf("nats%d", i),
			Host:       "127.0.0.1",
			Port:       client[i],
			JetStream:  jetStream,
			StoreDir:   t.TempDir(),
			NoLog:      true,
			NoSigs:     true,
		}
		if size > 1 {
			o.Cluster = server.ClusterOpts{Name: "switchboard-test", Host: "127.0.0.1", Port: routes[i]}
			o.Routes = server.RoutesFromStr(strings.Join(routeURLs, ","))
		}
		c.opts = append(c.opts, o)
		c.servers = append(c.servers, nil)
	}
	for i := range size {
		c.Restart(i)
	}
	t.Cleanup(func() {
		for _, s := range c.servers {
			if s != nil {
				s.Shutdown()
			}
		}
	})
	if jetStream && size > 1 {
		c.waitPlacement()
	}
	return c
}

// readyWithin is how long a server may take to listen.
const readyWithin = 30 * time.Second

// Restart starts server i (again) on its ports and store.
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	s, err := server.NewServer(c.opts[i])
	if err != nil {
		c.t.Fatalf("NATS server %d: %v", i, err)
	}
	go s.Start()
	// A server sets up JetStream before it listens, and under the race detector on a CI machine
	// whose two cores run every package's tests at once that took more than 10 s once.
	if !s.ReadyForConnections(readyWithin) {
		s.Shutdown()
		c.t.Fatalf("NATS server %d not ready within %v", i, readyWithin)
	}
	c.servers[i] = s
}

// Stop shuts server i down, as a crash of its machine would for its clients.
func (c *Cluster) Stop(i int) {
	c.servers[i].Shutdown()
	c.servers[i].WaitForShutdown()
	c.servers[i] = nil
}

// waitPlacement waits until the cluster can place a bucket on all its servers: a meta leader is
// elected and knows every peer online.
func (c *Cluster) waitPlacement() {
	c.t.Helper()
	nc, err := nats.Connect(strings.Join(c.URLs(0), ","))
	if err != nil {
		c.t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		c.t.Fatal(err)
	}
	poll.Require(c.t, 30*time.Second, "a JetStream cluster placing three replicas", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "probe", Replicas: len(c.opts)})
		return err == nil
	})
	_ = js.DeleteKeyValue(context.Background(), "probe")
}

// Size is the number of servers.
func (c *Cluster) Size() int { return len(c.opts) }

// URLs lists every server's client URL, server first first.
func (c *Cluster) URLs(first int) []string {
	var out []string
	for i := range c.opts {
		u := fmt.Sprintf("nats://127.0.0.1:%d", c.opts[(first+i)%len(c.opts)].Port)
		out = append(out, u)
	}
	return out
}
