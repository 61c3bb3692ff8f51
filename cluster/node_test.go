package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/switchboard-voip/switchboard/internal/natstest"
	"github.com/switchboard-voip/switchboard/internal/poll"
	"github.com/switchboard-voip/switchboard/presence"
)

var team = []presence.User{{Ext: "1001", Name: "Ann"}, {Ext: "1002", Name: "Bob"}, {Ext: "1003", Name: "Cy"}}

// member is one node of a test cluster: its NATS membership and its presence table.
type member struct {
	*Node
	table *presence.Table
}

// join starts node name on nats (connecting to server first, first), with a fresh table.
func join(t *testing.T, nats *natstest.Cluster, name string, first int, ttl time.Duration, opts ...presence.Option) member {
	t.Helper()
	replicas := min(3, nats.Size())
	n, err := Connect(context.Background(), Config{Node: name, NATS: nats.URLs(first), NodeTTL: ttl, Replicas: replicas, Log: zaptest.NewLogger(t).Named(name)})
	if err != nil {
		t.Fatalf("node %s: %v", name, err)
	}
	t.Cleanup(func() { _ = n.Close() })
	table, err := presence.NewTable(team, n, append([]presence.Option{presence.WithHours(n)}, opts...)...)
	if err != nil {
		t.Fatalf("node %s: table: %v", name, err)
	}
	t.Cleanup(table.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.Start(ctx, table); err != nil {
		t.Fatalf("node %s: start: %v", name, err)
	}
	table.Start()
	return member{Node: n, table: table}
}

func status(m member, ext string) presence.Status {
	s, _ := m.table.Status(ext)
	return s
}

// seesStatus waits until every member shows ext with status.
func seesStatus(t *testing.T, within time.Duration, ext string, want presence.Status, ms ...member) {
	t.Helper()
	for _, m := range ms {
		poll.Require(t, within, m.Name()+" shows "+ext+" "+string(want), func() bool { return status(m, ext) == want })
	}
}

// TestDNDSetOnOneNodeReachesTheOthers: DND set through one node's table is shown by every other
// node's table (and told to its watchers) within a second, and a node that starts later loads it.
func TestDNDSetOnOneNodeReachesTheOthers(t *testing.T) {
	nats := natstest.Start(t, 3, true)
	a, b, c := join(t, nats, "a", 0, 5*time.Second), join(t, nats, "b", 1, 5*time.Second), join(t, nats, "c", 2, 5*time.Second)
	w := c.table.Watch()
	defer w.Close()

	if _, err := a.table.SetDND("1002", true); err != nil {
		t.Fatal(err)
	}
	seesStatus(t, time.Second, "1002", presence.DND, b, c)
	select {
	case <-w.Ready():
		if got := w.Changes(); len(got) != 1 || got[0].Ext != "1002" || !got[0].DND {
			t.Fatalf("c's watcher got %+v, want 1002 on DND", got)
		}
	case <-time.After(time.Second):
		t.Fatal("c's watcher heard nothing")
	}
	if _, err := b.table.SetDND("1002", false); err != nil {
		t.Fatal(err)
	}
	seesStatus(t, time.Second, "1002", presence.Available, a, c)

	if _, err := c.table.SetDND("1003", true); err != nil {
		t.Fatal(err)
	}
	d := join(t, nats, "d", 0, 5*time.Second)
	if status(d, "1003") != presence.DND || status(d, "1002") != presence.Available {
		t.Fatalf("a node started later shows 1003 %s and 1002 %s, want DND and Available", status(d, "1003"), status(d, "1002"))
	}
}

// TestQuickDNDChangesEndTheSameEverywhere: changes of one user's DND made on two nodes in quick
// succession end in the same setting on every node, the last one saved (the echo of an older
// change never undoes a newer one).
func TestQuickDNDChangesEndTheSameEverywhere(t *testing.T) {
	nats := natstest.Start(t, 1, true)
	a, b := join(t, nats, "a", 0, 5*time.Second), join(t, nats, "b", 0, 5*time.Second)
	for i := range 20 {
		on := i%2 == 0
		m := a
		if i%3 == 0 {
			m = b
		}
		if _, err := m.table.SetDND("1001", on); err != nil {
			t.Fatal(err)
		}
	}
	// The 20th change (i = 19) turned DND off.
	seesStatus(t, time.Second, "1001", presence.Available, a, b)
	for _, m := range []member{a, b} {
		if s, _ := m.table.Get("1001"); s.DND {
			t.Fatalf("%s shows 1001 on DND after the last change turned it off", m.Name())
		}
	}
}

// TestACallOnOneNodeMakesTheUserBusyEverywhere: a call through node a makes the user Busy on b
// and c; registration at a shows as registered on b; the call's end makes them Available.
func TestACallOnOneNodeMakesTheUserBusyEverywhere(t *testing.T) {
	nats := natstest.Start(t, 3, true)
	a, b, c := join(t, nats, "a", 0, 5*time.Second), join(t, nats, "b", 1, 5*time.Second), join(t, nats, "c", 2, 5*time.Second)
	a.table.SetRegistered("1001", true)
	poll.Require(t, waitReplicated, "b shows 1001 registered", func() bool { s, _ := b.table.Get("1001"); return s.Registered })
	if got := b.RegisteredAt("1001"); len(got) != 1 || got[0] != "a" {
		t.Fatalf("b finds 1001 registered at %v, want [a]", got)
	}
	if got := a.RegisteredAt("1001"); len(got) != 0 {
		t.Fatalf("a finds 1001 registered at other nodes %v, want none (the phone is at a)", got)
	}
	a.Advertise("127.0.0.1:5999")
	poll.Require(t, waitReplicated, "b knows a's SIP address", func() bool { addr, ok := b.SIPAddr("a"); return ok && addr == "127.0.0.1:5999" })
	if _, ok := b.SIPAddr("nobody"); ok {
		t.Fatal("an address for a node that does not exist")
	}
	for _, bad := range []string{"", "b", "a.b", "*", "a b"} { // not another node, or no key at all
		if addr, ok := b.SIPAddr(bad); ok {
			t.Fatalf("SIPAddr(%q) = %q, want none", bad, addr)
		}
	}
	// A node whose first heartbeat this one's watch has not brought yet (as when it joined a
	// moment ago and forwards its first call here) is found in the bucket.
	b.members.forget("a")
	if addr, ok := b.SIPAddr("a"); !ok || addr != "127.0.0.1:5999" {
		t.Fatalf("b, before its watch brings a's heartbeat, finds a's SIP address %q, %v; want 127.0.0.1:5999", addr, ok)
	}
	// Nor when b knows a only from its users' keys, which come by another watch than heartbeats.
	b.members.forget("a")
	b.members.heardFirst("a", time.Now())
	if addr, ok := b.SIPAddr("a"); !ok || addr != "127.0.0.1:5999" {
		t.Fatalf("b, knowing a from its users' keys only, finds a's SIP address %q, %v; want 127.0.0.1:5999", addr, ok)
	}
	poll.Require(t, waitReplicated, "b hears a's next heartbeat", func() bool {
		b.members.mu.Lock()
		defer b.members.mu.Unlock()
		_, heard := b.members.seen["a"]
		return heard
	})

	a.table.CallStarted("1001", "call-1")
	b.table.CallStarted("1001", "call-2") // a second call, through another node
	seesStatus(t, waitReplicated, "1001", presence.Busy, a, b, c)
	a.table.CallEnded("1001", "call-1")
	// Still on the call through b.
	poll.Require(t, waitReplicated, "a has heard the end", func() bool { r, _ := a.table.Local("1001"); return !r.OnCall })
	if status(c, "1001") != presence.Busy {
		// Let the end through a reach c before judging (it carries no change for c).
		poll.Require(t, waitReplicated, "c shows 1001 Busy", func() bool { return status(c, "1001") == presence.Busy })
	}
	b.table.CallEnded("1001", "call-2")
	seesStatus(t, waitReplicated, "1001", presence.Available, a, b, c)

	// DND wins over Busy on every node.
	a.table.CallStarted("1003", "call-3")
	if _, err := c.table.SetDND("1003", true); err != nil {
		t.Fatal(err)
	}
	seesStatus(t, waitReplicated, "1003", presence.DND, a, b, c)
}

// waitReplicated is how long a test waits for a change to reach the other nodes: far more than
// it takes (milliseconds; the benchmarks measure it), so that a watch remade after a heartbeat
// missed on a loaded machine is not a failure.
const waitReplicated = 5 * time.Second

// TestAKilledNodeLeavesNoUserBusy: a node that dies without a word (SIGKILL: no leave) is
// cleared by the others within node_ttl: its users are not Busy nor registered there any more.
// Started again under the same name, it rejoins and counts again.
func TestAKilledNodeLeavesNoUserBusy(t *testing.T) {
	const ttl = 1500 * time.Millisecond
	nats := natstest.Start(t, 1, true)
	a, b := join(t, nats, "a", 0, ttl), join(t, nats, "b", 0, ttl)
	a.table.CallStarted("1002", "call-1")
	a.table.SetRegistered("1002", true)
	seesStatus(t, time.Second, "1002", presence.Busy, b)

	killed := time.Now()
	a.abandon()
	// Within node_ttl (and the time a busy machine takes to notice), and not before three
	// heartbeats were missed: the last one came at most node_ttl/4 before the kill.
	seesStatus(t, ttl+500*time.Millisecond, "1002", presence.Available, b)
	if took := time.Since(killed); took < ttl/2 {
		t.Fatalf("cleared %s after the kill, before three heartbeats (node_ttl %s) were missed", took, ttl)
	}
	if s, _ := b.table.Get("1002"); s.Registered {
		t.Fatal("1002 still shows a phone registered at the dead node")
	}
	if got := b.Nodes(); strings.Join(got, ",") != "b" {
		t.Fatalf("b counts nodes %v, want only itself", got)
	}

	again := join(t, nats, "a", 0, ttl)
	again.table.CallStarted("1001", "call-2")
	seesStatus(t, time.Second, "1001", presence.Busy, b)
	if status(b, "1002") != presence.Available {
		t.Fatal("the restarted node brought back its old calls")
	}
}

// TestANodeThatLeavesIsClearedAtOnce: a node stopped cleanly deletes its keys, so the others
// do not wait node_ttl.
func TestANodeThatLeavesIsClearedAtOnce(t *testing.T) {
	nats := natstest.Start(t, 1, true)
	a, b := join(t, nats, "a", 0, time.Minute), join(t, nats, "b", 0, time.Minute)
	a.table.CallStarted("1003", "call-1")
	seesStatus(t, time.Second, "1003", presence.Busy, b)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	seesStatus(t, time.Second, "1003", presence.Available, b)
}

// TestLosingOneNATSServerChangesNothing: with three NATS servers and buckets kept by all three,
// one server lost (and started again later) changes nothing a node shows or does.
func TestLosingOneNATSServerChangesNothing(t *testing.T) {
	nats := natstest.Start(t, 3, true)
	// node_ttl as in production's order of magnitude: a NATS failover (a new leader for each
	// bucket, clients reconnecting) takes seconds on a loaded machine, and must clear nobody.
	a, b := join(t, nats, "a", 0, 10*time.Second), join(t, nats, "b", 1, 10*time.Second)
	a.table.CallStarted("1001", "call-1")
	seesStatus(t, time.Second, "1001", presence.Busy, b)

	nats.Stop(0)
	// Changes made through either node still reach the other.
	poll.Require(t, 10*time.Second, "DND saved with a NATS server down", func() bool {
		_, err := a.table.SetDND("1002", true)
		return err == nil
	})
	seesStatus(t, 5*time.Second, "1002", presence.DND, b)
	b.table.CallStarted("1003", "call-2")
	// A bucket whose leader was the lost server elects another (a few seconds at most), and a
	// watch that was on it is made again from where it was.
	start := time.Now()
	seesStatus(t, 5*time.Second, "1003", presence.Busy, a)
	t.Logf("a saw b's call %s after it started, with a NATS server lost", time.Since(start).Round(time.Millisecond))
	// Nobody was cleared: heartbeats went on through the other servers.
	if status(b, "1001") != presence.Busy {
		t.Fatal("a's call was cleared while a was alive")
	}

	nats.Restart(0)
	a.table.CallEnded("1001", "call-1")
	seesStatus(t, 5*time.Second, "1001", presence.Available, b)
	if err := a.Health(); err != nil {
		t.Fatalf("a's health after the server came back: %v", err)
	}
}

// TestANATSOutageKeepsLocalStateAndHeals: while NATS is unreachable a node reports it, refuses
// DND changes (they could not reach the others), still tracks its own calls; once NATS is back it
// writes what changed meanwhile.
func TestANATSOutageKeepsLocalStateAndHeals(t *testing.T) {
	nats := natstest.Start(t, 1, true)
	a, b := join(t, nats, "a", 0, 3*time.Second), join(t, nats, "b", 0, 3*time.Second)
	nats.Stop(0)
	poll.Require(t, 5*time.Second, "a reports NATS lost", func() bool { return a.Health() != nil })
	if err := a.Health(); !strings.Contains(err.Error(), "NATS") {
		t.Fatalf("health %q does not name NATS", err)
	}
	if _, err := a.table.SetDND("1001", true); !errors.Is(err, presence.ErrUnavailable) {
		t.Fatalf("DND with NATS down: %v, want presence.ErrUnavailable", err)
	}
	if status(a, "1001") != presence.Available {
		t.Fatal("a DND change that was not saved shows")
	}
	a.table.CallStarted("1002", "call-1")
	if status(a, "1002") != presence.Busy {
		t.Fatal("a's own call not shown during the outage")
	}

	nats.Restart(0)
	poll.Require(t, 5*time.Second, "a reconnected", func() bool { return a.Health() == nil })
	seesStatus(t, 3*time.Second, "1002", presence.Busy, b)
}

// TestConnectFailsClearly: a node does not start without a NATS server to talk to, nor on one
// without JetStream, and says which.
func TestConnectFailsClearly(t *testing.T) {
	port := natstest.FreePorts(t, 1)[0]
	_, err := Connect(context.Background(), Config{Node: "a", NATS: []string{"nats://127.0.0.1:" + strconv.Itoa(port)}, NodeTTL: time.Second, Replicas: 1})
	if err == nil || !strings.Contains(err.Error(), "connect to NATS nats://127.0.0.1:"+strconv.Itoa(port)) {
		t.Fatalf("unreachable NATS: %v", err)
	}
	plain := natstest.Start(t, 1, false)
	_, err = Connect(context.Background(), Config{Node: "a", NATS: plain.URLs(0), NodeTTL: time.Second, Replicas: 1})
	if err == nil || !strings.Contains(err.Error(), "JetStream") {
		t.Fatalf("NATS without JetStream: %v", err)
	}
}

// TestKeysCarryAnyExtension: every byte of an extension survives the bucket key, and a key of
// another shape is refused.
func TestKeysCarryAnyExtension(t *testing.T) {
	for _, ext := range []string{"1001", "+4930123", "a.b", "x y=z", "Ünï", "_-"} {
		key := userKey("n1", ext)
		node, got, ok := splitUserKey(key)
		if !ok || node != "n1" || got != ext {
			t.Errorf("%q → %q → %q %q %v", ext, key, node, got, ok)
		}
		for _, c := range []byte(keyOf(ext)) {
			if !keyByte(c) && c != '=' {
				t.Errorf("key of %q has %q", ext, c)
			}
		}
	}
	for _, bad := range []string{"n1", "n1.a.b", ".1001", "n1.=4", "n1.=ZZ", "n1."} {
		if _, _, ok := splitUserKey(bad); ok {
			t.Errorf("key %q accepted", bad)
		}
	}
}

// historyInbox collects the records a node imports.
type historyInbox struct {
	mu   sync.Mutex
	recs []string
}

func (h *historyInbox) add(data []byte) error {
	h.mu.Lock()
	h.recs = append(h.recs, string(data))
	h.mu.Unlock()
	return nil
}

func (h *historyInbox) got() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.recs)
}

// joinWithHistory is join with an importer of the other nodes' history records.
func joinWithHistory(t *testing.T, nats *natstest.Cluster, name string, in *historyInbox) member {
	t.Helper()
	return joinWith(t, nats, name, func(n *Node) { n.OnHistory(in.add) })
}

// joinWith starts node name on nats's first server, with a fresh table, calling before on the
// node before Start (for the On... hooks that must be set then).
func joinWith(t *testing.T, nats *natstest.Cluster, name string, before func(*Node)) member {
	t.Helper()
	n, err := Connect(context.Background(), Config{Node: name, NATS: nats.URLs(0), NodeTTL: 5 * time.Second, Replicas: 1,
		Log: zaptest.NewLogger(t).Named(name)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	before(n)
	table, err := presence.NewTable(team, n)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(context.Background(), table); err != nil {
		t.Fatal(err)
	}
	return member{Node: n, table: table}
}

// TestHistoryRecordsReachEveryNodeOnce: a record node a shares is imported by node b, never by
// a itself; node b, stopped while a shares another and started again, catches up with that one
// only (its place is kept in NATS), and a record shared twice (a retry) is delivered once.
func TestHistoryRecordsReachEveryNodeOnce(t *testing.T) {
	nats := natstest.Start(t, 1, true)
	var inA, inB historyInbox
	a := joinWithHistory(t, nats, "a", &inA)
	b := joinWithHistory(t, nats, "b", &inB)
	a.ShareHistory("r1", []byte(`{"id":"r1"}`))
	poll.Require(t, 2*time.Second, "b imports r1", func() bool { return len(inB.got()) == 1 })

	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	a.ShareHistory("r2", []byte(`{"id":"r2"}`))
	a.ShareHistory("r2", []byte(`{"id":"r2"}`))
	var inB2 historyInbox
	joinWithHistory(t, nats, "b", &inB2)
	// Records arrive in order: once r3 is in, a second r2 would have been before it.
	a.ShareHistory("r3", []byte(`{"id":"r3"}`))
	poll.Require(t, 2*time.Second, "b, back, imports up to r3", func() bool {
		got := inB2.got()
		return len(got) > 0 && got[len(got)-1] == `{"id":"r3"}`
	})
	if got := inB2.got(); len(got) != 2 || got[0] != `{"id":"r2"}` {
		t.Fatalf("b after its restart imported %q, want r2 once, then r3", got)
	}
	if got := inA.got(); len(got) != 0 {
		t.Fatalf("a imported its own records %q", got)
	}
}

// TestARecordSharedJustBeforeStoppingStillGoes: a node stopped cleanly right after sharing a
// history record sends it before it leaves.
func TestARecordSharedJustBeforeStoppingStillGoes(t *testing.T) {
	nats := natstest.Start(t, 1, true)
	var inA, inB historyInbox
	a := joinWithHistory(t, nats, "a", &inA)
	joinWithHistory(t, nats, "b", &inB)
	for i := range 20 {
		id := fmt.Sprintf("r%d", i)
		a.ShareHistory(id, []byte(`{"id":"`+id+`"}`))
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	poll.Require(t, 3*time.Second, "b imports all 20", func() bool { return len(inB.got()) == 20 })
}

// TestAdvertisedAddressIsTheLastHeartbeat: a node advertises its SIP address just after it
// starts, as the switch does once it listens, while its first heartbeat (made with no address
// yet) is still on its way to NATS. The last heartbeat in the bucket carries the address: when
// the two writes crossed, the others found no address until the next beat, node_ttl/4 later, and
// the first call forwarded to the node went to voicemail instead.
func TestAdvertisedAddressIsTheLastHeartbeat(t *testing.T) {
	nats := natstest.Start(t, 1, true)
	n, err := Connect(context.Background(), Config{Node: "a", NATS: nats.URLs(0), NodeTTL: time.Minute, Replicas: 1, Log: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	// The first beat waits (up to a bound, as NATS might) for another write to start.
	first, other := make(chan struct{}), make(chan struct{})
	var puts, done atomic.Int32
	n.putBeat = func(ctx context.Context, v []byte) error {
		switch puts.Add(1) {
		case 1:
			close(first)
			select {
			case <-other:
			case <-time.After(300 * time.Millisecond):
			}
		case 2:
			close(other)
		}
		defer done.Add(1)
		return n.putHeartbeat(ctx, v)
	}
	table, err := presence.NewTable(team, n)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(table.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.Start(ctx, table); err != nil {
		t.Fatal(err)
	}
	<-first
	const addr = "127.0.0.1:6000"
	n.Advertise(addr)
	poll.Require(t, waitReplicated, "two heartbeats written (at the start, advertising)", func() bool { return done.Load() >= 2 })
	e, err := n.nodes.Get(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	var v heartbeatValue
	if err := json.Unmarshal(e.Value(), &v); err != nil {
		t.Fatalf("heartbeat %q: %v", e.Value(), err)
	}
	if v.SIP != addr {
		t.Fatalf("the node advertised %s; its last heartbeat in the bucket says %q", addr, v.SIP)
	}
}
