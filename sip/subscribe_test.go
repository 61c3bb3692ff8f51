package sip_test

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// boxes is a fake mailbox store with settable counts.
type boxes struct {
	mu     sync.Mutex
	counts map[string][2]int
}

func (b *boxes) Counts(box string) (int, int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	c := b.counts[box]
	return c[0], c[1], nil
}

func (b *boxes) set(box string, newCount, oldCount int) {
	b.mu.Lock()
	b.counts[box] = [2]int{newCount, oldCount}
	b.mu.Unlock()
}

// watcher collects NOTIFYs a phone receives.
func (p *phone) watchNotifies() chan *sip.Request {
	ch := make(chan *sip.Request, 16)
	p.setOnNotify(func(req *sip.Request, tx sip.ServerTransaction) {
		ch <- req
		_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	})
	return ch
}

// subscribe sends an authenticated SUBSCRIBE and returns the final response and the request (for
// in-dialog refreshes).
func (p *phone) subscribe(t *testing.T, resource, event string, expires int) (*sip.Response, *sip.Request) {
	t.Helper()
	req := sip.NewRequest(sip.SUBSCRIBE, p.switchURI(resource))
	from := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: p.ext, Host: "127.0.0.1"}, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(8))
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: resource, Host: "127.0.0.1"}})
	req.AppendHeader(p.contact.Clone())
	req.AppendHeader(sip.NewHeader("Event", event))
	req.AppendHeader(sip.NewHeader("Expires", itoa(expires)))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := p.client.Do(ctx, req)
	if err != nil {
		t.Fatalf("SUBSCRIBE: %v", err)
	}
	if res.StatusCode == 407 {
		res, err = p.client.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: p.ext, Password: p.pass})
		if err != nil {
			t.Fatalf("SUBSCRIBE with auth: %v", err)
		}
	}
	return res, req
}

// unsubscribe ends the subscription req created (res its 200) with an in-dialog SUBSCRIBE
// carrying Expires: 0, and fails the test unless it is answered 200.
func (p *phone) unsubscribe(t *testing.T, req *sip.Request, res *sip.Response, event string) {
	t.Helper()
	un := sip.NewRequest(sip.SUBSCRIBE, res.Contact().Address)
	un.AppendHeader(sip.HeaderClone(req.From()))
	un.AppendHeader(sip.HeaderClone(res.To()))
	un.AppendHeader(sip.HeaderClone(req.CallID()))
	un.AppendHeader(&sip.CSeqHeader{SeqNo: req.CSeq().SeqNo + 1, MethodName: sip.SUBSCRIBE})
	un.AppendHeader(p.contact.Clone())
	un.AppendHeader(sip.NewHeader("Event", event))
	un.AppendHeader(sip.NewHeader("Expires", "0"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if res, err := p.client.Do(ctx, un); err != nil || res.StatusCode != 200 {
		t.Fatalf("unsubscribe: %v %v", res, err)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func nextNotify(t *testing.T, ch chan *sip.Request) *sip.Request {
	t.Helper()
	select {
	case n := <-ch:
		return n
	case <-time.After(3 * time.Second):
		t.Fatal("no NOTIFY")
		return nil
	}
}

func TestMessageWaitingSubscriptionNotifiesOnChange(t *testing.T) {
	mb := &boxes{counts: map[string][2]int{}}
	sw := startSwitch(t, func(o *switchOpts) { o.Mailboxes = mb })
	bob := newPhone(t, sw, "1002", "udp").mustRegister()
	notes := bob.watchNotifies()
	res, _ := bob.subscribe(t, "1002", "message-summary", 600)
	if res.StatusCode != 200 || res.GetHeader("Expires") == nil || res.Contact() == nil {
		t.Fatalf("SUBSCRIBE: %v", res)
	}
	n := nextNotify(t, notes)
	if body := string(n.Body()); !strings.Contains(body, "Messages-Waiting: no") || !strings.Contains(body, "Voice-Message: 0/0") {
		t.Fatalf("first NOTIFY body:\n%s", body)
	}
	if st := n.GetHeader("Subscription-State").Value(); !strings.HasPrefix(st, "active") {
		t.Fatalf("Subscription-State %q", st)
	}
	if ct := n.ContentType(); ct == nil || ct.Value() != "application/simple-message-summary" {
		t.Fatalf("Content-Type %v", ct)
	}

	mb.set("1002", 2, 5)
	sw.srv.MessageWaiting("1002")
	n = nextNotify(t, notes)
	if body := string(n.Body()); !strings.Contains(body, "Messages-Waiting: yes") || !strings.Contains(body, "Voice-Message: 2/5") {
		t.Fatalf("NOTIFY after new message:\n%s", body)
	}
	if sw.srv.Subscriptions() != 1 {
		t.Fatalf("subscriptions = %d", sw.srv.Subscriptions())
	}
}

func TestMessageWaitingOtherUsersBoxIsForbidden(t *testing.T) {
	sw := startSwitch(t, func(o *switchOpts) { o.Mailboxes = &boxes{counts: map[string][2]int{}} })
	alice := newPhone(t, sw, "1001", "udp")
	if res, _ := alice.subscribe(t, "1002", "message-summary", 600); res.StatusCode != 403 {
		t.Fatalf("subscribe to another's mailbox: %d, want 403", res.StatusCode)
	}
}

func TestSubscribeUnknownEventIs489(t *testing.T) {
	sw := startSwitch(t, func(o *switchOpts) { o.Mailboxes = &boxes{counts: map[string][2]int{}} })
	alice := newPhone(t, sw, "1001", "udp")
	res, _ := alice.subscribe(t, "1001", "weather", 600)
	if res.StatusCode != 489 || res.GetHeader("Allow-Events") == nil {
		t.Fatalf("unknown event: %v", res)
	}
}

func TestSubscriptionEndsWithTerminatedNotifyOnShutdown(t *testing.T) {
	sw := startSwitch(t, func(o *switchOpts) { o.Mailboxes = &boxes{counts: map[string][2]int{}} })
	bob := newPhone(t, sw, "1002", "udp")
	notes := bob.watchNotifies()
	if res, _ := bob.subscribe(t, "1002", "message-summary", 600); res.StatusCode != 200 {
		t.Fatalf("subscribe: %d", res.StatusCode)
	}
	nextNotify(t, notes)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := sw.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	n := nextNotify(t, notes)
	if st := n.GetHeader("Subscription-State").Value(); !strings.HasPrefix(st, "terminated") {
		t.Fatalf("final Subscription-State %q", st)
	}
}

func TestUnsubscribeSendsFinalNotify(t *testing.T) {
	sw := startSwitch(t, func(o *switchOpts) { o.Mailboxes = &boxes{counts: map[string][2]int{}} })
	bob := newPhone(t, sw, "1002", "udp")
	notes := bob.watchNotifies()
	res, req := bob.subscribe(t, "1002", "message-summary", 600)
	if res.StatusCode != 200 {
		t.Fatalf("subscribe: %d", res.StatusCode)
	}
	nextNotify(t, notes)
	bob.unsubscribe(t, req, res, "message-summary")
	n := nextNotify(t, notes)
	if st := n.GetHeader("Subscription-State").Value(); !strings.HasPrefix(st, "terminated") {
		t.Fatalf("Subscription-State after unsubscribe %q", st)
	}
	eventually(t, "no subscription left after unsubscribe", func() bool { return sw.srv.Subscriptions() == 0 })
}
