package sip_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/switchboard-voip/switchboard/cluster"
	"github.com/switchboard-voip/switchboard/internal/natstest"
	"github.com/switchboard-voip/switchboard/internal/poll"
	"github.com/switchboard-voip/switchboard/media"
	"github.com/switchboard-voip/switchboard/presence"
	"github.com/switchboard-voip/switchboard/routing"
	sbsip "github.com/switchboard-voip/switchboard/sip"
)

// clusterRegistrations: a user has a phone registered at this node or at another one.
type clusterRegistrations struct {
	local *sbsip.MemoryLocations
	node  *cluster.Node
}

func (r clusterRegistrations) Registered(ext string) bool {
	return r.local.Registered(ext) || len(r.node.RegisteredAt(ext)) > 0
}

// clusterNode is one switch of a test cluster, with its membership and status table.
type clusterNode struct {
	*testSwitch
	node  *cluster.Node
	table *presence.Table
}

// clusterSwitches starts n switches (nodes a, b, …) of one cluster on one NATS server, each
// routing by the cluster-wide status table, with short own greetings.
func clusterSwitches(t *testing.T, n int, g greetings) []clusterNode {
	t.Helper()
	return clusterSwitchesWith(t, n, g, users{})
}

// routingDirectory is what a test switch's router reads (users, and a queue for some tests).
type routingDirectory interface {
	routing.Directory
	sbsip.Users
}

// clusterSwitchesWith is clusterSwitches routing by dir; queues are shared by the nodes.
func clusterSwitchesWith(t *testing.T, n int, g greetings, dir routingDirectory) []clusterNode {
	t.Helper()
	nats := natstest.Start(t, 1, true)
	var out []clusterNode
	for i := range n {
		name := string(rune('a' + i))
		node, err := cluster.Connect(context.Background(), cluster.Config{Node: name, NATS: nats.URLs(0),
			NodeTTL: 5 * time.Second, Replicas: 1})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = node.Close() }) // after the switch's shutdown (cleanups run last first)
		var people []presence.User
		for ext := range testUsers {
			people = append(people, presence.User{Ext: ext})
		}
		table, err := presence.NewTable(people, node)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = node.Start(ctx, table)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		sw := startSwitch(t, func(o *switchOpts) {
			o.Presence = table
			o.Router = routing.New(dir, clusterRegistrations{o.Locations.(*sbsip.MemoryLocations), node}, table)
			o.Peers = node
			o.Shared = node
			o.Greetings = g
		})
		node.Advertise(sw.srv.Addr("udp"))
		out = append(out, clusterNode{testSwitch: sw, node: node, table: table})
	}
	for _, a := range out {
		for _, b := range out {
			if a.node != b.node {
				poll.Require(t, 5*time.Second, a.node.Name()+" knows "+b.node.Name()+"'s SIP address", func() bool {
					_, ok := a.node.SIPAddr(b.node.Name())
					return ok
				})
			}
		}
	}
	return out
}

// settle waits until callee's phone has had its BYE and every node carries no call.
func settle(t *testing.T, callee *phone, nodes ...clusterNode) {
	t.Helper()
	<-callee.byes
	for _, n := range nodes {
		n.waitIdle(t)
	}
}

// hangUp ends d from the caller's side, then settles.
func hangUp(t *testing.T, d *sipDialog, callee *phone, nodes ...clusterNode) {
	t.Helper()
	if err := d.Bye(context.Background()); err != nil {
		t.Fatal(err)
	}
	settle(t, callee, nodes...)
}

// TestACallThroughOneNodeRingsAPhoneAtAnother: Bob's phone is registered at node a; Alice calls
// him through node b. His phone rings, through node a, showing Alice; they hear each other
// (media anchored at both nodes); both show Busy on both nodes, and after the hang-up neither.
func TestACallThroughOneNodeRingsAPhoneAtAnother(t *testing.T) {
	nodes := clusterSwitches(t, 2, nil)
	a, b := nodes[0], nodes[1]
	bob := newPhone(t, a.testSwitch, "1002", "udp").mustRegister()
	alice := newPhone(t, b.testSwitch, "1001", "udp").mustRegister()
	poll.Require(t, 2*time.Second, "node b knows Bob's phone at node a", func() bool {
		return len(b.node.RegisteredAt("1002")) == 1
	})

	ic, hangup, d := bridged(t, alice, bob)
	if from := ic.req.From().Address.User; from != "1001" {
		t.Fatalf("Bob's phone shows %q, want Alice (1001)", from)
	}
	if src := ic.req.Source(); src != a.srv.Addr("udp") || ic.req.GetHeader("X-Switchboard-Node") != nil {
		t.Fatalf("Bob's phone was called from %s, want node a (%s), without the nodes' header", src, a.srv.Addr("udp"))
	}
	hears(t, alice, bob, ic, 0xB1)
	alice.sendRTP(t, remoteMedia(t, d.InviteResponse.Body()), 15, 0xA1)
	if got := bob.recvRTP(t, 5, 0xA1); got < 5 {
		t.Fatalf("Bob heard %d packets from Alice", got)
	}
	for _, n := range nodes {
		for _, ext := range []string{"1001", "1002"} {
			poll.Require(t, time.Second, n.node.Name()+" shows "+ext+" Busy", func() bool {
				st, _ := n.table.Status(ext)
				return st == presence.Busy
			})
		}
	}
	if err := hangup(); err != nil {
		t.Fatal(err)
	}
	settle(t, bob, a, b)
	for _, n := range nodes {
		poll.Require(t, time.Second, n.node.Name()+" shows Bob Available", func() bool {
			st, _ := n.table.Status("1002")
			return st == presence.Available
		})
	}
}

// TestABusyUserAtAnotherNodeHoldsTheCaller: Bob is on a call at node a (with Carol). Alice
// calls him through node b: node b sees him Busy, answers her and holds her; when Carol hangs
// up, Bob's phone at node a rings for Alice, and they talk.
func TestABusyUserAtAnotherNodeHoldsTheCaller(t *testing.T) {
	nodes := clusterSwitches(t, 2, greetings{"1002/busy": media.Tone(500, 0.4, 300*time.Millisecond)})
	a, b := nodes[0], nodes[1]
	bob := newPhone(t, a.testSwitch, "1002", "udp").mustRegister()
	carol := newPhone(t, a.testSwitch, "1003", "udp").mustRegister()
	alice := newPhone(t, b.testSwitch, "1001", "udp").mustRegister()
	_, carolHangup, _ := bridged(t, carol, bob)
	poll.Require(t, time.Second, "node b shows Bob Busy", func() bool {
		st, _ := b.table.Status("1002")
		return st == presence.Busy
	})

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	d, err := alice.call(ctx, "1002")
	if err != nil {
		t.Fatalf("Alice's call to busy Bob through node b: %v (she is answered and held)", err)
	}
	if held := rtpHeaders(t, alice.rtp, 600*time.Millisecond); len(held) < 15 {
		t.Fatalf("Alice held at node b heard %d RTP packets in 600 ms", len(held))
	}
	if b.flows.Waiting("1002") != 1 {
		t.Fatalf("node b holds %d callers for Bob, want 1", b.flows.Waiting("1002"))
	}
	select {
	case <-bob.incoming:
		t.Fatal("Bob's phone rang while he was busy")
	default:
	}

	if err := carolHangup(); err != nil {
		t.Fatal(err)
	}
	<-bob.byes
	ic := bob.nextIncoming(5 * time.Second)
	if from := ic.req.From().Address.User; from != "1001" {
		t.Fatalf("Bob's phone rings for %s, want Alice", from)
	}
	bob.answer(ic)
	alice.drainRTP()
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		bob.sendRTP(t, remoteMedia(t, ic.req.Body()), 15, 0xB2)
	}()
	got := alice.recvRTP(t, 5, 0xB2)
	<-sent
	if got < 5 {
		t.Fatalf("Alice heard %d packets from Bob after he answered", got)
	}
	hangUp(t, &sipDialog{d}, bob, a, b)
}

// TestAnINVITEClaimingToComeFromANodeIsChecked: an INVITE naming a node it does not come
// from (a phone trying to skip authentication) gets 403, and the switch goes on serving.
func TestAnINVITEClaimingToComeFromANodeIsChecked(t *testing.T) {
	nodes := clusterSwitches(t, 2, nil)
	a := nodes[0]
	newPhone(t, a.testSwitch, "1002", "udp").mustRegister()
	mallory := newPhone(t, a.testSwitch, "1001", "udp")
	for _, node := range []string{"b", "a", "nobody"} {
		req := sip.NewRequest(sip.INVITE, mallory.switchURI("1002"))
		from := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: "1001", Host: "127.0.0.1"}, Params: sip.NewParams()}
		from.Params.Add("tag", sip.GenerateTagN(8))
		req.AppendHeader(from)
		req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: "1002", Host: "127.0.0.1"}})
		req.AppendHeader(mallory.contact.Clone())
		req.AppendHeader(sip.NewHeader("X-Switchboard-Node", node))
		req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		req.SetBody(mallory.sdp("sendrecv"))
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		res, err := mallory.client.Do(ctx, req, sipgo.ClientRequestBuild)
		cancel()
		if err != nil {
			t.Fatalf("INVITE claiming node %q: %v", node, err)
		}
		if res.StatusCode != 403 {
			t.Fatalf("INVITE claiming node %q from a phone's address: %d, want 403", node, res.StatusCode)
		}
	}
	alice := newPhone(t, nodes[1].testSwitch, "1001", "udp").mustRegister()
	bob := newPhone(t, a.testSwitch, "1003", "udp").mustRegister()
	poll.Require(t, 2*time.Second, "node b knows 1003's phone at node a", func() bool {
		return len(nodes[1].node.RegisteredAt("1003")) == 1
	})
	_, hangup, _ := bridged(t, alice, bob)
	_ = hangup()
	<-bob.byes
}

// TestQueueCallsAtTwoNodesAtOnceGoToTwoAgents: queue 700 (longest idle: both nodes would pick
// the same agent first) has Bob registered at node a and Carol at node b. Alice calls it
// through node a and Dave through node b at the same moment: each agent is offered exactly one
// of them, and both are answered.
func TestQueueCallsAtTwoNodesAtOnceGoToTwoAgents(t *testing.T) {
	q := routing.Queue{Ext: "700", Strategy: routing.LongestIdle, Members: []string{"1002", "1003"},
		RingTimeout: 5 * time.Second, MaxWait: time.Minute}
	nodes := clusterSwitchesWith(t, 2, nil, queueUsers{q: q})
	a, b := nodes[0], nodes[1]
	bob := newPhone(t, a.testSwitch, "1002", "udp").mustRegister()
	carol := newPhone(t, b.testSwitch, "1003", "udp").mustRegister()
	alice := newPhone(t, a.testSwitch, "1001", "udp").mustRegister()
	dave := newPhone(t, b.testSwitch, "1004", "udp").mustRegister()
	for _, n := range nodes {
		for _, ext := range []string{"1002", "1003"} {
			poll.Require(t, 2*time.Second, n.node.Name()+" shows agent "+ext+" registered", func() bool {
				st, _ := n.table.Get(ext)
				return st.Registered
			})
		}
	}

	calls := make(chan *sipDialog, 2)
	for _, p := range []*phone{alice, dave} {
		go func() { calls <- queueCall(t, p) }()
	}
	icBob := bob.nextIncoming(10 * time.Second)
	icCarol := carol.nextIncoming(10 * time.Second)
	if icBob.req.From().Address.User == icCarol.req.From().Address.User {
		t.Fatalf("both agents were offered %s", icBob.req.From().Address.User)
	}
	bob.answer(icBob)
	carol.answer(icCarol)
	var dialogs []*sipDialog
	for range 2 {
		select {
		case d := <-calls:
			dialogs = append(dialogs, d)
		case <-time.After(10 * time.Second):
			t.Fatal("a queued caller was not answered")
		}
	}
	defer func() {
		for _, d := range dialogs {
			_ = d.Bye(context.Background())
		}
		<-bob.byes
		settle(t, carol, a, b)
	}()
	select {
	case ic := <-bob.incoming:
		t.Fatalf("Bob was offered a second call (from %s)", ic.req.From().Address.User)
	case ic := <-carol.incoming:
		t.Fatalf("Carol was offered a second call (from %s)", ic.req.From().Address.User)
	default:
	}
	t.Logf("Bob (node a) took %s, Carol (node b) took %s", icBob.req.From().Address.User, icCarol.req.From().Address.User)
}

// TestQueueServesCallersAtAllNodesInArrivalOrder: the queue's one agent, Bob, is registered
// at node a and busy. Alice queues through node b, then Dave through node a (Bob's own node).
// When Bob is free the first offer is Alice's: she came first.
func TestQueueServesCallersAtAllNodesInArrivalOrder(t *testing.T) {
	q := routing.Queue{Ext: "700", Strategy: routing.LongestIdle, Members: []string{"1002"},
		RingTimeout: 5 * time.Second, MaxWait: time.Minute}
	nodes := clusterSwitchesWith(t, 2, nil, queueUsers{q: q})
	a, b := nodes[0], nodes[1]
	bob := newPhone(t, a.testSwitch, "1002", "udp").mustRegister()
	carol := newPhone(t, a.testSwitch, "1003", "udp").mustRegister()
	alice := newPhone(t, b.testSwitch, "1001", "udp").mustRegister()
	dave := newPhone(t, a.testSwitch, "1004", "udp").mustRegister()
	_, carolHangup, _ := bridged(t, carol, bob)
	for _, n := range nodes {
		poll.Require(t, 2*time.Second, n.node.Name()+" shows Bob busy", func() bool {
			st, _ := n.table.Status("1002")
			return st == presence.Busy
		})
	}
	da := queueCall(t, alice)
	poll.Require(t, 2*time.Second, "Alice queued at node b", func() bool { return b.flows.QueueStats("700").Waiting == 1 })
	dd := queueCall(t, dave)
	poll.Require(t, 2*time.Second, "Dave queued at node a", func() bool { return a.flows.QueueStats("700").Waiting == 1 })

	if err := carolHangup(); err != nil {
		t.Fatal(err)
	}
	<-bob.byes
	ic := bob.nextIncoming(10 * time.Second)
	if from := ic.req.From().Address.User; from != "1001" {
		t.Fatalf("Bob's first offer is from %s, want Alice (1001), who queued first at the other node", from)
	}
	bob.answer(ic)
	_ = dd.Bye(context.Background()) // Dave gives up waiting
	hangUp(t, da, bob, a, b)
}

// TestABlindTransferByAPhoneAtAnotherNode: Alice calls through node b; Bob answers at node a
// and transfers her (REFER to node a) to Carol, whose phone is at node b. Carol's phone rings
// showing Alice, she answers, and Alice and Carol hear each other; Bob's leg ends.
func TestABlindTransferByAPhoneAtAnotherNode(t *testing.T) {
	nodes := clusterSwitches(t, 2, nil)
	a, b := nodes[0], nodes[1]
	bob := newPhone(t, a.testSwitch, "1002", "udp").mustRegister()
	carol := newPhone(t, b.testSwitch, "1003", "udp").mustRegister()
	alice := newPhone(t, b.testSwitch, "1001", "udp").mustRegister()
	for _, ext := range []string{"1002", "1003"} {
		for _, n := range nodes {
			poll.Require(t, 2*time.Second, n.node.Name()+" knows "+ext+"'s phone", func() bool {
				st, _ := n.table.Get(ext)
				return st.Registered
			})
		}
	}
	ic, _, d := bridged(t, alice, bob)
	if res := sendRefer(t, ic.dlg, calleeSide(ic), referTo(bob, "1003")); res.StatusCode != 202 {
		t.Fatalf("REFER at node a: %d %s, want 202", res.StatusCode, res.Reason)
	}
	ring := carol.nextIncoming(5 * time.Second)
	if from := ring.req.From().Address.User; from != "1001" {
		t.Fatalf("Carol's phone shows %q, want the transferred caller 1001", from)
	}
	carol.answer(ring)
	hears(t, alice, carol, ring, 0xC1)
	alice.drainRTP()
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		alice.sendRTP(t, remoteMedia(t, d.InviteResponse.Body()), 15, 0xA1)
	}()
	got := carol.recvRTP(t, 5, 0xA1)
	<-sent
	if got < 5 {
		t.Fatalf("Carol heard %d packets from Alice", got)
	}
	select {
	case <-bob.byes:
	case <-time.After(5 * time.Second):
		t.Fatal("Bob's leg was not hung up after the transfer")
	}
	hangUp(t, d, carol, a, b)
}

// TestAPresenceWatcherGetsOneNOTIFYPerChangeFromItsOwnNode: Alice's phone at node b watches
// Bob's presence. Bob's DND goes on, off and on again at node a: she gets one NOTIFY per change,
// in order, each from node b (which holds her subscription), never copies from node a.
func TestAPresenceWatcherGetsOneNOTIFYPerChangeFromItsOwnNode(t *testing.T) {
	nodes := clusterSwitches(t, 2, nil)
	a, b := nodes[0], nodes[1]
	alice := newPhone(t, b.testSwitch, "1001", "udp")
	notes := alice.notifiesByEvent()
	if res, _ := alice.subscribe(t, "1002", "presence", 600); res.StatusCode != 200 {
		t.Fatalf("SUBSCRIBE at node b: %d", res.StatusCode)
	}
	if got := collect(t, notes["presence"], 1, presenceWord); got[0] != "open" {
		t.Fatalf("first NOTIFY %v, want open", got)
	}
	var words []string
	for _, on := range []bool{true, false, true} {
		if _, err := a.table.SetDND("1002", on); err != nil {
			t.Fatal(err)
		}
		select {
		case req := <-notes["presence"]:
			if req.Source() != b.srv.Addr("udp") {
				t.Fatalf("NOTIFY from %s, want node b (%s)", req.Source(), b.srv.Addr("udp"))
			}
			words = append(words, presenceWord(string(req.Body())))
		case <-time.After(2 * time.Second):
			t.Fatalf("no NOTIFY for DND %t at node a", on)
		}
	}
	// A copy of any change would have come before the next one's NOTIFY.
	if strings.Join(words, ",") != "dnd,open,dnd" {
		t.Fatalf("NOTIFYs %v, want dnd, open, dnd: one per change", words)
	}
}

// TestARingGroupRingsMembersAtEveryNode: group 600 (ring all) has Bob, registered at node a,
// and Carol, at node b. Alice calls it through node b: both phones ring; Bob answers, Carol's
// stops ringing (CANCEL through node a's side is not involved: hers is at b), and Alice hears Bob.
func TestARingGroupRingsMembersAtEveryNode(t *testing.T) {
	g := routing.Group{Ext: "600", Members: []string{"1002", "1003"}, RingTimeout: 10 * time.Second,
		Fallback: routing.Fallback{Kind: routing.FallbackHangup}}
	nodes := clusterSwitchesWith(t, 2, nil, groupUsers{g: g})
	a, b := nodes[0], nodes[1]
	bob := newPhone(t, a.testSwitch, "1002", "udp").mustRegister()
	carol := newPhone(t, b.testSwitch, "1003", "udp").mustRegister()
	alice := newPhone(t, b.testSwitch, "1001", "udp").mustRegister()
	poll.Require(t, 2*time.Second, "node b knows Bob's phone at node a", func() bool { return len(b.node.RegisteredAt("1002")) == 1 })

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	done := make(chan *sipDialog, 1)
	go func() {
		d, err := alice.call(ctx, "600")
		if err != nil {
			t.Error(err)
		}
		done <- &sipDialog{d}
	}()
	icBob := bob.nextIncoming(5 * time.Second)
	carol.nextIncoming(5 * time.Second)
	bob.answer(icBob)
	d := <-done
	if d.DialogClientSession == nil {
		t.Fatal("Alice's call to the group failed")
	}
	select {
	case <-carol.cancels:
	case <-time.After(5 * time.Second):
		t.Fatal("Carol's phone was not cancelled when Bob answered")
	}
	hears(t, alice, bob, icBob, 0xB3)
	hangUp(t, d, bob, a, b)
}

// TestQueueWrapupHoldsAnAgentAtEveryNode: queue 700's one agent, Bob (node a), takes a caller
// who queued at node b and hangs up; another caller, queued at node a meanwhile, is offered Bob
// only once his wrap-up is over.
func TestQueueWrapupHoldsAnAgentAtEveryNode(t *testing.T) {
	const wrapup = 800 * time.Millisecond
	q := routing.Queue{Ext: "700", Strategy: routing.LongestIdle, Members: []string{"1002"},
		RingTimeout: 5 * time.Second, MaxWait: time.Minute, Wrapup: wrapup}
	nodes := clusterSwitchesWith(t, 2, nil, queueUsers{q: q})
	a, b := nodes[0], nodes[1]
	bob := newPhone(t, a.testSwitch, "1002", "udp").mustRegister()
	alice := newPhone(t, b.testSwitch, "1001", "udp").mustRegister()
	dave := newPhone(t, a.testSwitch, "1004", "udp").mustRegister()
	poll.Require(t, 2*time.Second, "node b knows Bob's phone", func() bool { return len(b.node.RegisteredAt("1002")) == 1 })

	da := queueCall(t, alice)
	ic := bob.nextIncoming(5 * time.Second)
	bob.answer(ic)
	dd := queueCall(t, dave)
	poll.Require(t, 2*time.Second, "Dave queued at node a", func() bool { return a.flows.QueueStats("700").Waiting == 1 })
	if err := ic.dlg.Bye(context.Background()); err != nil { // Bob ends Alice's call
		t.Fatal(err)
	}
	ended := time.Now()
	next := bob.nextIncoming(5 * time.Second)
	if waited := time.Since(ended); waited < wrapup*3/4 {
		t.Fatalf("Bob was offered Dave %s after his call ended, within his %s wrap-up", waited.Round(time.Millisecond), wrapup)
	}
	if from := next.req.From().Address.User; from != "1004" {
		t.Fatalf("second offer from %s, want Dave", from)
	}
	bob.answer(next)
	_ = da
	hangUp(t, dd, bob, a, b)
}

// TestAnAttendedTransferAcrossNodes: Alice calls Bob through node b (his phone is at node a);
// Bob consults Carol (her phone at node b) and joins them (REFER with Replaces to node a): Alice
// and Carol hear each other, and both of Bob's legs end.
func TestAnAttendedTransferAcrossNodes(t *testing.T) {
	nodes := clusterSwitches(t, 2, nil)
	a, b := nodes[0], nodes[1]
	bob := newPhone(t, a.testSwitch, "1002", "udp").mustRegister()
	carol := newPhone(t, b.testSwitch, "1003", "udp").mustRegister()
	alice := newPhone(t, b.testSwitch, "1001", "udp").mustRegister()
	for _, n := range nodes {
		for _, ext := range []string{"1002", "1003"} {
			poll.Require(t, 2*time.Second, n.node.Name()+" knows "+ext+"'s phone", func() bool {
				st, _ := n.table.Get(ext)
				return st.Registered
			})
		}
	}
	ic, _, d := bridged(t, alice, bob)
	ringC, _, consult := bridged(t, bob, carol)
	replaces := callID(consult.InviteRequest) + ";to-tag=" + toTag(consult.InviteResponse) + ";from-tag=" + fromTag(consult.InviteRequest)
	target := "<" + uriOf(bob, "1003") + "?Replaces=" + escapeHeader(replaces) + ">"
	if res := sendRefer(t, ic.dlg, calleeSide(ic), target); res.StatusCode != 202 {
		t.Fatalf("REFER with Replaces at node a: %d %s", res.StatusCode, res.Reason)
	}
	for range 2 {
		select {
		case <-bob.byes:
		case <-time.After(5 * time.Second):
			t.Fatal("Bob's legs were not both hung up")
		}
	}
	hears(t, alice, carol, ringC, 0xC2)
	carol.drainRTP()
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		alice.sendRTP(t, remoteMedia(t, d.InviteResponse.Body()), 15, 0xA2)
	}()
	got := carol.recvRTP(t, 5, 0xA2)
	<-sent
	if got < 5 {
		t.Fatalf("Carol heard %d packets from Alice", got)
	}
	hangUp(t, d, carol, a, b)
}
