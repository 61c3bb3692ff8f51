package sip_test

import (
	"context"
	"testing"
	"time"

	"github.com/switchboard-voip/switchboard/presence"
	"github.com/switchboard-voip/switchboard/routing"
	sbsip "github.com/switchboard-voip/switchboard/sip"
)

// queueUsers adds call queue 700 (members 1002 and 1003) to the test users.
type queueUsers struct {
	users
	q routing.Queue
}

func (u queueUsers) Queue(ext string) (routing.Queue, bool) { return u.q, ext == u.q.Ext }
func (u queueUsers) Exists(ext string) bool                 { return ext == u.q.Ext || u.users.Exists(ext) }

func queueSwitch(t *testing.T, q routing.Queue) (*testSwitch, *presence.Table) {
	t.Helper()
	var people []presence.User
	for ext := range testUsers {
		people = append(people, presence.User{Ext: ext})
	}
	table, err := presence.NewTable(people, &presence.MemoryStore{})
	if err != nil {
		t.Fatal(err)
	}
	sw := startSwitch(t, func(o *switchOpts) {
		o.Presence = table
		o.Router = routing.New(queueUsers{q: q}, o.Locations.(*sbsip.MemoryLocations), table)
	})
	return sw, table
}

// queueCall places a call to the queue and returns once the switch has answered it.
func queueCall(t *testing.T, p *phone) *sipDialog {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	d, err := p.call(ctx, "700")
	if err != nil {
		t.Fatalf("%s calling the queue: %v", p.ext, err)
	}
	return &sipDialog{d}
}

func TestQueueAnswersCallersInOrderAndOffersAfterWrapup(t *testing.T) {
	const wrapup = 400 * time.Millisecond
	sw, table := queueSwitch(t, routing.Queue{Ext: "700", Strategy: routing.LongestIdle, Members: []string{"1002"},
		RingTimeout: 5 * time.Second, MaxWait: time.Minute, Wrapup: wrapup})
	bob := newPhone(t, sw, "1002", "udp").mustRegister() // the only agent
	alice := newPhone(t, sw, "1001", "udp").mustRegister()
	carol := newPhone(t, sw, "1003", "udp").mustRegister()
	dave := newPhone(t, sw, "1004", "udp").mustRegister()

	// Alice is answered by the queue and offered to Bob, who takes her.
	da := queueCall(t, alice)
	ic := bob.nextIncoming(5 * time.Second)
	if from := ic.req.From().Address.User; from != "1001" {
		t.Fatalf("first offer is for %s, want Alice", from)
	}
	bob.answer(ic)
	waitStatus(t, table, "1002", presence.Busy)

	// Carol, then Dave, queue up while Bob talks; the queue reports them waiting.
	dc := queueCall(t, carol)
	eventually(t, "Carol queued", func() bool { return sw.flows.QueueStats("700").Waiting == 1 })
	dd := queueCall(t, dave)
	eventually(t, "Carol and Dave queued", func() bool { return sw.flows.QueueStats("700").Waiting == 2 })
	if st := sw.flows.QueueStats("700"); st.Waiting != 2 || st.LongestWait <= 0 {
		t.Fatalf("queue stats while Bob talks: %+v", st)
	}
	select {
	case <-bob.incoming:
		t.Fatal("Bob was offered a call while on a call")
	default:
	}

	// Bob hangs up: after his wrap-up the oldest caller, Carol, is offered to him.
	hangUpAnswered(t, ic)
	ended := time.Now()
	ic = bob.nextIncoming(5 * time.Second)
	if rest := time.Since(ended); rest < wrapup-50*time.Millisecond {
		t.Fatalf("offered after %v, before the %v wrap-up", rest, wrapup)
	}
	if from := ic.req.From().Address.User; from != "1003" {
		t.Fatalf("second offer is for %s, want Carol (first in line)", from)
	}
	bob.answer(ic)
	waitStatus(t, table, "1002", presence.Busy)
	hangUpAnswered(t, ic)

	ic = bob.nextIncoming(5 * time.Second)
	if from := ic.req.From().Address.User; from != "1004" {
		t.Fatalf("third offer is for %s, want Dave", from)
	}
	bob.answer(ic)
	hangUpAnswered(t, ic)
	for _, p := range []*phone{alice, carol, dave} {
		select {
		case <-p.byes:
		case <-time.After(3 * time.Second):
			t.Fatalf("%s got no BYE when the agent hung up", p.ext)
		}
	}
	_, _, _ = da, dc, dd
	sw.waitIdle(t)
	if st := sw.flows.QueueStats("700"); st.Waiting != 0 {
		t.Fatalf("queue not empty: %+v", st)
	}
}

func TestQueueSkipsDNDAgentAndRingsTheNext(t *testing.T) {
	sw, table := queueSwitch(t, routing.Queue{Ext: "700", Strategy: routing.RoundRobin, Members: []string{"1002", "1003"},
		RingTimeout: 5 * time.Second, MaxWait: time.Minute})
	bob := newPhone(t, sw, "1002", "udp").mustRegister()
	carol := newPhone(t, sw, "1003", "udp").mustRegister()
	alice := newPhone(t, sw, "1001", "udp").mustRegister()
	if _, err := table.SetDND("1002", true); err != nil {
		t.Fatal(err)
	}
	d := queueCall(t, alice)
	ic := carol.nextIncoming(5 * time.Second)
	select {
	case <-bob.incoming:
		t.Fatal("an agent on DND was offered a call")
	default:
	}
	carol.answer(ic)
	_ = d.Bye(context.Background())
	<-carol.byes
	sw.waitIdle(t)
}

func TestQueueMaxWaitGoesToFallback(t *testing.T) {
	sw, _ := queueSwitch(t, routing.Queue{Ext: "700", Strategy: routing.LongestIdle, Members: []string{"1002"},
		RingTimeout: time.Second, MaxWait: 300 * time.Millisecond, Fallback: routing.Fallback{Kind: routing.FallbackHangup}})
	alice := newPhone(t, sw, "1001", "udp").mustRegister() // no agent has a phone
	queueCall(t, alice)
	select {
	case <-alice.byes: // fallback "hangup" after max_wait
	case <-time.After(5 * time.Second):
		t.Fatal("caller still queued after max_wait")
	}
	sw.waitIdle(t)
}

func waitStatus(t *testing.T, table *presence.Table, ext string, want presence.Status) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if st, _ := table.Get(ext); st.Status == want {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	st, _ := table.Get(ext)
	t.Fatalf("%s is %s, want %s", ext, st.Status, want)
}

// hangUpAnswered hangs up a call the phone answered, once the switch's ACK has confirmed the
// dialog (sipgo refuses a BYE before that).
func hangUpAnswered(t *testing.T, ic *incomingCall) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		err := ic.dlg.Bye(context.Background())
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("callee BYE: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
