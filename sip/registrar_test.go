package sip_test

import (
	"context"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/switchboard-voip/switchboard/internal/clock"
	"github.com/switchboard-voip/switchboard/presence"
	"github.com/switchboard-voip/switchboard/routing"
	sbsip "github.com/switchboard-voip/switchboard/sip"
	sbdigest "github.com/switchboard-voip/switchboard/sip/digest"
)

func TestRegisterWithRightPasswordBindsContact(t *testing.T) {
	sw := startSwitch(t)
	p := newPhone(t, sw, "1001", "udp")
	res := p.register(p.pass, 300)
	if res.StatusCode != 200 {
		t.Fatalf("register: %d %s", res.StatusCode, res.Reason)
	}
	ct := res.Contact()
	if ct == nil || ct.Address.Port != p.port {
		t.Fatalf("200 OK does not list the contact: %v", res)
	}
	if exp, _ := ct.Params.Get("expires"); exp != "300" && exp != "299" {
		t.Fatalf("contact expires = %q, want 300", exp)
	}
	if got := sw.locs.Lookup("1001"); len(got) != 1 || got[0].Transport != "UDP" {
		t.Fatalf("bindings = %+v", got)
	}
}

func TestRegisterWithWrongPasswordIsChallengedAgain(t *testing.T) {
	sw := startSwitch(t)
	p := newPhone(t, sw, "1001", "udp")
	if res := p.register("not-the-password", 300); res.StatusCode != 401 {
		t.Fatalf("register with wrong password: %d, want 401", res.StatusCode)
	}
	if sw.locs.Registered("1001") {
		t.Fatal("wrong password registered a contact")
	}
}

// TestRegisterUnknownUserLooksLikeAWrongPassword: REGISTER for an extension that does not exist
// is challenged and refused exactly as a wrong password is, so scanners cannot list extensions.
func TestRegisterUnknownUserLooksLikeAWrongPassword(t *testing.T) {
	sw := startSwitch(t)
	unknown := newPhone(t, sw, "1999", "udp").register("x", 300)
	wrong := newPhone(t, sw, "1001", "udp").register("x", 300)
	if unknown.StatusCode != 401 || wrong.StatusCode != 401 || unknown.Reason != wrong.Reason ||
		(unknown.GetHeader("WWW-Authenticate") == nil) != (wrong.GetHeader("WWW-Authenticate") == nil) {
		t.Fatalf("unknown extension: %d %s; wrong password: %d %s; want the same 401", unknown.StatusCode, unknown.Reason,
			wrong.StatusCode, wrong.Reason)
	}
}

func TestRegisterAnotherUsersExtensionIsForbidden(t *testing.T) {
	sw := startSwitch(t)
	p := newPhone(t, sw, "1001", "udp")
	// Alice's REGISTER for her own AOR, but authenticating as Bob.
	req := p.registerRequest(300)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := p.client.Do(ctx, req)
	if err != nil || res.StatusCode != 401 {
		t.Fatalf("first REGISTER: %v %v", res, err)
	}
	chal := res.GetHeader("WWW-Authenticate").Value()
	req2 := p.registerRequest(300)
	req2.AppendHeader(sip.NewHeader("Authorization", digestFor(t, chal, "REGISTER", req2.Recipient.Addr(), "1002", testUsers["1002"])))
	res, err = p.client.Do(ctx, req2)
	if err != nil || res.StatusCode != 403 {
		t.Fatalf("REGISTER as another user: %v %v, want 403", res, err)
	}
}

func TestRegisterMD5AndSHA256ChallengesBothWork(t *testing.T) {
	sw := startSwitch(t, func(o *switchOpts) { o.Algorithms = []string{"SHA-256", "MD5"} })
	p := newPhone(t, sw, "1001", "udp")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := p.client.Do(ctx, p.registerRequest(300))
	if err != nil || res.StatusCode != 401 {
		t.Fatalf("first REGISTER: %v %v", res, err)
	}
	chals := res.GetHeaders("WWW-Authenticate")
	if len(chals) != 2 {
		t.Fatalf("want a SHA-256 and an MD5 challenge, got %d", len(chals))
	}
	for _, h := range chals {
		req := p.registerRequest(300)
		req.AppendHeader(sip.NewHeader("Authorization", digestFor(t, h.Value(), "REGISTER", "sip:registrar.example", "1001", p.pass)))
		res, err := p.client.Do(ctx, req)
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("REGISTER answering %q: %v %v", h.Value(), res, err)
		}
	}
}

// TestRegisterSHA256FirstForKnownAgents: with sip.digest_sha256_agents naming Linphone and the
// default MD5 list, a phone whose User-Agent says Linphone is challenged SHA-256 first, then MD5
// (RFC 8760), and registers answering SHA-256; any other phone (another User-Agent, or none) gets
// the MD5 challenge alone, the same whether the extension exists or not.
func TestRegisterSHA256FirstForKnownAgents(t *testing.T) {
	sw := startSwitch(t, func(o *switchOpts) { o.SHA256Agents = []string{"linphone"} })
	p := newPhone(t, sw, "1001", "udp")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	challenge := func(ua, user string) []sip.Header {
		t.Helper()
		req := p.registerRequest(300)
		if user != "1001" {
			req.From().Address.User, req.To().Address.User = user, user
		}
		if ua != "" {
			req.AppendHeader(sip.NewHeader("User-Agent", ua))
		}
		res, err := p.client.Do(ctx, req)
		if err != nil || res.StatusCode != 401 {
			t.Fatalf("REGISTER from %q as %s: %v %v, want 401", ua, user, res, err)
		}
		return res.GetHeaders("WWW-Authenticate")
	}
	const linphone = "Linphonec/5.1.65 (belle-sip/5.1.64)"
	for _, user := range []string{"1001", "1999"} {
		chals := challenge(linphone, user)
		if len(chals) != 2 || !containsFold(chals[0].Value(), "algorithm=SHA-256") || !containsFold(chals[1].Value(), "algorithm=MD5") {
			t.Fatalf("Linphone as %s: challenges %v, want SHA-256 then MD5", user, chals)
		}
		for _, ua := range []string{"Yealink SIP-T46S 66.86.0.15", ""} {
			if chals := challenge(ua, user); len(chals) != 1 || !containsFold(chals[0].Value(), "algorithm=MD5") {
				t.Fatalf("%q as %s: challenges %v, want MD5 alone", ua, user, chals)
			}
		}
	}
	chals := challenge(linphone, "1001")
	req := p.registerRequest(300)
	req.AppendHeader(sip.NewHeader("User-Agent", linphone))
	req.AppendHeader(sip.NewHeader("Authorization", digestFor(t, chals[0].Value(), "REGISTER", "sip:registrar.example", "1001", p.pass)))
	if res, err := p.client.Do(ctx, req); err != nil || res.StatusCode != 200 {
		t.Fatalf("Linphone answering SHA-256: %v %v, want 200", res, err)
	}
}

// md5OnlyUsers stores the test users as an MD5 HA1 alone, as a directory migrated from
// Kamailio's ha1 column would.
type md5OnlyUsers struct{ users }

func (md5OnlyUsers) Secret(ext string) (sbdigest.Secret, bool) {
	sec, ok := users{}.Secret(ext)
	return sbdigest.Secret{HA1MD5: sec.HA1MD5}, ok
}

// TestRegisterSHA256AnswerForAnMD5OnlyUserFailsCleanly: with both challenges offered, a phone
// answering SHA-256 for a user stored with an MD5 HA1 alone is challenged again as for a wrong
// password (the same 401 and challenges, nothing that tells how the user is stored), and the
// same phone answering the MD5 challenge registers.
func TestRegisterSHA256AnswerForAnMD5OnlyUserFailsCleanly(t *testing.T) {
	sw := startSwitch(t, func(o *switchOpts) {
		o.Algorithms = []string{"SHA-256", "MD5"}
		o.Users = md5OnlyUsers{}
	})
	p := newPhone(t, sw, "1001", "udp")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := p.client.Do(ctx, p.registerRequest(300))
	if err != nil || res.StatusCode != 401 {
		t.Fatalf("first REGISTER: %v %v", res, err)
	}
	chals := res.GetHeaders("WWW-Authenticate")
	if len(chals) != 2 || !containsFold(chals[0].Value(), "algorithm=SHA-256") {
		t.Fatalf("want a SHA-256 challenge first, got %v", chals)
	}
	req := p.registerRequest(300)
	req.AppendHeader(sip.NewHeader("Authorization", digestFor(t, chals[0].Value(), "REGISTER", "sip:registrar.example", "1001", p.pass)))
	again, err := p.client.Do(ctx, req)
	if err != nil || again.StatusCode != 401 || again.Reason != res.Reason || len(again.GetHeaders("WWW-Authenticate")) != 2 {
		t.Fatalf("SHA-256 answer for an MD5-only user: %v %v, want the same 401 with both challenges", again, err)
	}
	if sw.locs.Registered("1001") {
		t.Fatal("an unverifiable answer registered a contact")
	}
	req = p.registerRequest(300)
	req.AppendHeader(sip.NewHeader("Authorization", digestFor(t, chals[1].Value(), "REGISTER", "sip:registrar.example", "1001", p.pass)))
	if res, err := p.client.Do(ctx, req); err != nil || res.StatusCode != 200 {
		t.Fatalf("MD5 answer for an MD5-only user: %v %v", res, err)
	}
}

func TestRegisterStaleNonceIsAnsweredStale(t *testing.T) {
	sw := startSwitch(t, func(o *switchOpts) { o.NonceTTL = 200 * time.Millisecond })
	p := newPhone(t, sw, "1001", "udp")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, _ := p.client.Do(ctx, p.registerRequest(300))
	chal := res.GetHeader("WWW-Authenticate").Value()
	time.Sleep(300 * time.Millisecond)
	req := p.registerRequest(300)
	req.AppendHeader(sip.NewHeader("Authorization", digestFor(t, chal, "REGISTER", req.Recipient.Addr(), "1001", p.pass)))
	res, err := p.client.Do(ctx, req)
	if err != nil || res.StatusCode != 401 {
		t.Fatalf("stale REGISTER: %v %v, want 401", res, err)
	}
	if v := res.GetHeader("WWW-Authenticate").Value(); !containsFold(v, "stale=true") {
		t.Fatalf("challenge after stale nonce lacks stale=true: %s", v)
	}
}

func TestRegisterReplayedNonceCountIsRefused(t *testing.T) {
	sw := startSwitch(t)
	p := newPhone(t, sw, "1001", "udp")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, _ := p.client.Do(ctx, p.registerRequest(300))
	chal := res.GetHeader("WWW-Authenticate").Value()
	auth := digestFor(t, chal, "REGISTER", "sip:x", "1001", p.pass)
	for i, want := range []int{200, 401} {
		req := p.registerRequest(300)
		req.AppendHeader(sip.NewHeader("Authorization", auth))
		res, err := p.client.Do(ctx, req)
		if err != nil || res.StatusCode != want {
			t.Fatalf("attempt %d: %v %v, want %d", i, res, err, want)
		}
	}
}

func TestRegisterSeveralContactsAndUnregister(t *testing.T) {
	sw := startSwitch(t)
	desk := newPhone(t, sw, "1002", "udp").mustRegister()
	soft := newPhone(t, sw, "1002", "tcp").mustRegister()
	if n := len(sw.locs.Lookup("1002")); n != 2 {
		t.Fatalf("bindings = %d, want 2", n)
	}
	if res := desk.register(desk.pass, 0); res.StatusCode != 200 {
		t.Fatalf("unregister: %d", res.StatusCode)
	}
	got := sw.locs.Lookup("1002")
	if len(got) != 1 || got[0].Transport != "TCP" {
		t.Fatalf("after unregistering the desk phone: %+v", got)
	}
	_ = soft
}

func TestRegisterWildcardRemovesAll(t *testing.T) {
	sw := startSwitch(t)
	p := newPhone(t, sw, "1002", "udp").mustRegister()
	req := p.registerRequest(0)
	req.RemoveHeader("Contact")
	req.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Wildcard: true}})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, _ := p.client.Do(ctx, req)
	chal := res.GetHeader("WWW-Authenticate").Value()
	req = p.registerRequest(0)
	req.RemoveHeader("Contact")
	req.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Wildcard: true}})
	req.AppendHeader(sip.NewHeader("Authorization", digestFor(t, chal, "REGISTER", "sip:x", "1002", p.pass)))
	res, err := p.client.Do(ctx, req)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("Contact: * unregister: %v %v", res, err)
	}
	if sw.locs.Registered("1002") {
		t.Fatal("still registered after Contact: *")
	}
}

// A registration lapses at its expiry on the switch's clock, and the status table hears of it
// through the store's change feed, as it hears of every register and unregister.
func TestRegistrationExpiresOnTime(t *testing.T) {
	clk := clock.NewFake(time.Now())
	locs := sbsip.NewMemoryLocations(clk)
	defer locs.Close()
	table, err := presence.NewTable([]presence.User{{Ext: "1002"}}, &presence.MemoryStore{})
	if err != nil {
		t.Fatal(err)
	}
	sw := startSwitch(t, func(o *switchOpts) {
		o.Clock, o.Locations, o.Presence = clk, locs, table
		o.Router = routing.New(users{}, locs, table)
	})
	p := newPhone(t, sw, "1002", "udp")
	if res := p.register(p.pass, 60); res.StatusCode != 200 {
		t.Fatalf("register: %d", res.StatusCode)
	}
	registered := func() bool { st, _ := table.Get("1002"); return st.Registered }
	eventually(t, "the table shows 1002 registered", registered)
	clk.Advance(59 * time.Second)
	if !locs.Registered("1002") || !registered() {
		t.Fatal("the registration lapsed before its expiry")
	}
	clk.Advance(time.Second + time.Millisecond)
	if locs.Registered("1002") {
		t.Fatal("binding outlived its expiry")
	}
	eventually(t, "the table shows 1002 unregistered after the expiry", func() bool { return !registered() })
	if res := p.register(p.pass, 0); res.StatusCode != 200 {
		t.Fatalf("unregister of a lapsed binding: %d", res.StatusCode)
	}
}

func TestRegisterTooBriefIs423(t *testing.T) {
	sw := startSwitch(t, func(o *switchOpts) { o.MinExpires = time.Minute })
	p := newPhone(t, sw, "1002", "udp")
	res := p.register(p.pass, 10)
	if res.StatusCode != 423 || res.GetHeader("Min-Expires") == nil {
		t.Fatalf("register 10s with min 60s: %v", res)
	}
}

func containsFold(s, sub string) bool {
	return len(s) >= len(sub) && (indexFold(s, sub) >= 0)
}

func indexFold(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		match := true
		for j := 0; j < len(sub); j++ {
			a, b := s[i+j], sub[j]
			if a|0x20 != b|0x20 {
				match = false
				break
			}
		}
		if match {
			return i
		}
	}
	return -1
}

func TestOptionsIsAnswered(t *testing.T) {
	sw := startSwitch(t)
	for _, transport := range []string{"udp", "tcp"} {
		p := newPhone(t, sw, "1001", transport)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		res, err := p.client.Do(ctx, sip.NewRequest(sip.OPTIONS, p.switchURI("")))
		cancel()
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("OPTIONS over %s: %v %v", transport, res, err)
		}
		if allow := res.GetHeader("Allow"); allow == nil || !containsFold(allow.Value(), "INVITE") {
			t.Fatalf("OPTIONS over %s: no Allow with INVITE: %v", transport, res)
		}
	}
}
