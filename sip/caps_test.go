package sip_test

import (
	"fmt"
	"testing"

	"github.com/emiago/sipgo/sip"
)

// TestContactsPerUserAreCapped: one user may register 20 contacts; the 21st is refused with
// 503 and Retry-After, while refreshing one already there, and removing one, still work.
func TestContactsPerUserAreCapped(t *testing.T) {
	sw := startSwitch(t)
	p := newPhone(t, sw, "1001", "udp")
	contact := func(i int) { p.contact.Address.User = fmt.Sprintf("1001-%d", i) }
	for i := range 20 {
		contact(i)
		if res := p.register(p.pass, 300); res.StatusCode != 200 {
			t.Fatalf("contact %d: %d %s", i, res.StatusCode, res.Reason)
		}
	}
	contact(20)
	res := p.register(p.pass, 300)
	if res.StatusCode != 503 || res.GetHeader("Retry-After") == nil {
		t.Fatalf("the 21st contact: %d %s, want 503 with Retry-After", res.StatusCode, res.Reason)
	}
	contact(3)
	if res := p.register(p.pass, 300); res.StatusCode != 200 {
		t.Fatalf("refreshing a contact at the cap: %d", res.StatusCode)
	}
	if res := p.register(p.pass, 0); res.StatusCode != 200 {
		t.Fatalf("removing a contact at the cap: %d", res.StatusCode)
	}
	contact(20)
	if res := p.register(p.pass, 300); res.StatusCode != 200 {
		t.Fatalf("a new contact after one was removed: %d", res.StatusCode)
	}
}

// TestSubscriptionsPerUserAreCapped: one user may hold 500 subscriptions; the 501st gets 503
// with Retry-After; ending one makes room.
func TestSubscriptionsPerUserAreCapped(t *testing.T) {
	sw, _ := presenceSwitch(t)
	p := newPhone(t, sw, "1001", "udp").mustRegister()
	p.setOnNotify(func(req *sip.Request, tx sip.ServerTransaction) {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	})
	var first *sip.Request
	var firstRes *sip.Response
	for i := range 500 {
		res, req := p.subscribe(t, "1002", "presence", 600)
		if res.StatusCode != 200 {
			t.Fatalf("subscription %d: %d %s", i, res.StatusCode, res.Reason)
		}
		if first == nil {
			first, firstRes = req, res
		}
	}
	res, _ := p.subscribe(t, "1002", "presence", 600)
	if res.StatusCode != 503 || res.GetHeader("Retry-After") == nil {
		t.Fatalf("the 501st subscription: %d %s, want 503 with Retry-After", res.StatusCode, res.Reason)
	}
	p.unsubscribe(t, first, firstRes, "presence")
	eventually(t, "the ended subscription gone", func() bool { return sw.srv.Subscriptions() == 499 })
	if res, _ := p.subscribe(t, "1002", "presence", 600); res.StatusCode != 200 {
		t.Fatalf("a subscription after one ended: %d", res.StatusCode)
	}
}
