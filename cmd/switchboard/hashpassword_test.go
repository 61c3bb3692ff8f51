package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	icdigest "github.com/icholy/digest"

	"github.com/switchboard-voip/switchboard/config"
	"github.com/switchboard-voip/switchboard/directory"
	"github.com/switchboard-voip/switchboard/sip/digest"
)

// TestHashPasswordPrintsTheUserLines: the command prints the two lines a user's entry takes,
// matching the RFCs' worked examples (RFC 2617 §3.5's MD5 HA1, RFC 7616 §3.9.1's user hashed
// with SHA-256), with the realm given or the config's.
func TestHashPasswordPrintsTheUserLines(t *testing.T) {
	var out, errs bytes.Buffer
	code := hashPassword([]string{"-user", "Mufasa", "-realm", "testrealm@host.com"}, strings.NewReader("Circle Of Life\n"), &out, &errs)
	if code != 0 || !strings.HasPrefix(out.String(), "ha1_md5: 939e7578ed9e3c518a452acee763bce9\nha1_sha256: ") {
		t.Fatalf("exit %d\n%s%s", code, out.String(), errs.String())
	}
	out.Reset()
	code = hashPassword([]string{"-user", "Mufasa", "-realm", "http-auth@example.org"}, strings.NewReader("Circle of Life\r\n"), &out, &errs)
	if code != 0 || !strings.HasSuffix(out.String(), "\nha1_sha256: 7987c64c30e25f1b74be53f966b49b90f2808aa92faf9a00262392d7b4794232\n") {
		t.Fatalf("exit %d\n%s%s", code, out.String(), errs.String())
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "switchboard.yaml")
	if err := os.WriteFile(cfg, []byte("sip: {listen: [\"udp:127.0.0.1:5060\"], realm: office.example}\nusers: [{ext: \"1001\", password: a}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if code := hashPassword([]string{"-user", "1001", "-config", cfg}, strings.NewReader("pw"), &out, &errs); code != 0 ||
		!strings.Contains(out.String(), digest.HA1(false, "1001", "office.example", "pw")) {
		t.Fatalf("with -config: exit %d\n%s%s", code, out.String(), errs.String())
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("sip: {listen: [\"udp:127.0.0.1:5060\"], realm: office.example, digest_algorithms: [\"SHA-256\", \"MD5\"]}\n"+
		"users: [{ext: \"1001\", ha1_md5: \""+digest.HA1(false, "1001", "office.example", "pw")+"\"}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	errs.Reset()
	if code := hashPassword([]string{"-user", "1001", "-config", bad}, strings.NewReader("pw"), &out, &errs); code != 2 ||
		!strings.Contains(errs.String(), "users[0].ha1_sha256: required") || !strings.Contains(errs.String(), "-realm") {
		t.Fatalf("with a config missing a hash: exit %d\n%s", code, errs.String())
	}
	for name, args := range map[string][]string{"no user": {}, "stray argument": {"-user", "1001", "x"}} {
		if code := hashPassword(args, strings.NewReader("pw\n"), &out, &errs); code != 2 {
			t.Errorf("%s: exit %d, want 2", name, code)
		}
	}
	if code := hashPassword([]string{"-user", "1001"}, strings.NewReader("\n"), &out, &errs); code != 2 {
		t.Errorf("an empty password: exit %d, want 2", code)
	}
}

// TestUserStoredAsHashesOnly: a user whose config entry holds only ha1_md5 and ha1_sha256
// registers a phone with the password (SIPp answering the digest challenge) and signs in to
// the API with it; a wrong password is refused.
func TestUserStoredAsHashesOnly(t *testing.T) {
	dir := t.TempDir()
	cfg, path := newSwitchConfig(t, dir, 20, 0)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pw := testPassword(t, "1001")
	hashed := strings.Replace(string(raw), "password: "+pw+"\n",
		"ha1_md5: "+digest.HA1(false, "1001", "switchboard", pw)+"\n    ha1_sha256: "+digest.HA1(true, "1001", "switchboard", pw)+"\n", 1)
	if hashed == string(raw) || strings.Contains(hashed, pw) {
		t.Fatalf("could not replace 1001's password in\n%s", raw)
	}
	if err := os.WriteFile(path, []byte(hashed), 0o600); err != nil {
		t.Fatal(err)
	}
	stop, logs := startInProcess(t, cfg, path)
	defer stop()
	registerPhone(t, dir, cfg.SIPPort, freePort(t), "1001", pw)
	if code, body := apiDo(t, "GET", cfg.HTTPPort, "/api/v1/presence/1001", "1001", pw); code != 200 {
		t.Fatalf("API with the password of a hashed user: %d %s\n%s", code, body, tail(logs.String(), 20))
	}
	if code, _ := apiDo(t, "GET", cfg.HTTPPort, "/api/v1/presence/1001", "1001", pw+"x"); code != 401 {
		t.Fatalf("API with a wrong password: %d, want 401", code)
	}
}

// TestHashedUserRegistersBothAlgorithms: with sip.digest_algorithms ["SHA-256", "MD5"] and a
// user whose entry holds only ha1_md5 and ha1_sha256, a sipgo phone is challenged SHA-256
// first and MD5 after (RFC 8760), and registers answering either challenge with the password
// (sipgo's own digest answers the first, a phone that knows only MD5 the second); a wrong
// password is challenged again. The page's sign-in and HTTP Basic take the password, and
// refuse a wrong one.
func TestHashedUserRegistersBothAlgorithms(t *testing.T) {
	dir := t.TempDir()
	cfg, path := newSwitchConfig(t, dir, 20, 0)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pw := testPassword(t, "1001")
	hashed := strings.Replace(string(raw), "password: "+pw+"\n",
		"ha1_md5: "+digest.HA1(false, "1001", "switchboard", pw)+"\n    ha1_sha256: "+digest.HA1(true, "1001", "switchboard", pw)+"\n", 1)
	hashed = strings.Replace(hashed, "  realm: switchboard\n", "  realm: switchboard\n  digest_algorithms: [\"SHA-256\", \"MD5\"]\n", 1)
	if strings.Contains(hashed, pw) || !strings.Contains(hashed, "digest_algorithms") {
		t.Fatalf("could not hash 1001's password and offer both algorithms in\n%s", hashed)
	}
	if err := os.WriteFile(path, []byte(hashed), 0o600); err != nil {
		t.Fatal(err)
	}
	startInProcess(t, cfg, path)

	ua, err := sipgo.NewUA(sipgo.WithUserAgent("hashed-user-phone"))
	if err != nil {
		t.Fatal(err)
	}
	defer ua.Close()
	client, err := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	registrar := sip.Uri{Scheme: "sip", Host: "127.0.0.1", Port: cfg.SIPPort}
	register := func() *sip.Request {
		req := sip.NewRequest(sip.REGISTER, registrar)
		req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: "1001", Host: "127.0.0.1"}, Params: sip.NewParams()})
		req.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "1001", Host: "127.0.0.1", Port: freePort(t)}})
		req.AppendHeader(sip.NewHeader("Expires", "60"))
		return req
	}
	challenged := func() (*sip.Request, *sip.Response) {
		t.Helper()
		req := register()
		res, err := client.Do(ctx, req, sipgo.ClientRequestRegisterBuild)
		if err != nil || res.StatusCode != 401 {
			t.Fatalf("unauthenticated REGISTER: %v %v, want 401", err, res)
		}
		return req, res
	}

	req, res := challenged()
	chals := res.GetHeaders("WWW-Authenticate")
	if len(chals) != 2 || !strings.Contains(chals[0].Value(), "algorithm=SHA-256") || !strings.Contains(chals[1].Value(), "algorithm=MD5") {
		t.Fatalf("challenges %v, want SHA-256 then MD5", chals)
	}
	if res, err := client.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: "1001", Password: pw}); err != nil || res.StatusCode != 200 {
		t.Fatalf("REGISTER answering the SHA-256 challenge: %v %v", err, res)
	}
	req, res = challenged()
	if res, err := client.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: "1001", Password: pw + "x"}); err != nil || res.StatusCode != 401 {
		t.Fatalf("REGISTER with a wrong password: %v %v, want 401", err, res)
	}

	// An MD5-only phone answers the second challenge.
	_, res = challenged()
	md5Chal, err := icdigest.ParseChallenge(res.GetHeaders("WWW-Authenticate")[1].Value())
	if err != nil {
		t.Fatal(err)
	}
	req = register()
	cred, err := icdigest.Digest(md5Chal, icdigest.Options{Method: "REGISTER", URI: req.Recipient.Addr(), Username: "1001", Password: pw, Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	req.AppendHeader(sip.NewHeader("Authorization", cred.String()))
	if res, err := client.Do(ctx, req, sipgo.ClientRequestRegisterBuild); err != nil || res.StatusCode != 200 {
		t.Fatalf("REGISTER answering the MD5 challenge: %v %v", err, res)
	}

	// The page's sign-in and HTTP Basic check the typed password against the hashes.
	// (Three failures in all, below the limiter's free ones, so the order does not matter.)
	sha := digest.HA1(true, "1001", "switchboard", pw)
	for body, want := range map[string]int{
		`{"ext":"1001","password":"` + pw + `"}`:  http.StatusOK,
		`{"ext":"1001","password":"` + pw + `x"}`: http.StatusUnauthorized,
		`{"ext":"1001","password":"` + sha + `"}`: http.StatusUnauthorized,
	} {
		if code, out := apiSend(t, http.MethodPost, cfg.HTTPPort, "/api/v1/session", "", "", "application/json", []byte(body)); code != want {
			t.Errorf("sign-in %s: %d %s, want %d", body, code, out, want)
		}
	}
	if code, out := apiDo(t, http.MethodGet, cfg.HTTPPort, "/api/v1/presence/1001", "1001", pw); code != http.StatusOK {
		t.Errorf("HTTP Basic with the password: %d %s", code, out)
	}
	if code, _ := apiDo(t, http.MethodGet, cfg.HTTPPort, "/api/v1/presence/1001", "1001", sha); code != http.StatusUnauthorized {
		t.Errorf("HTTP Basic with the hash as the password: %d, want 401", code)
	}
}

// TestDirectoryHoldsOnlyHashes: the directory seeded from a config keeps HA1s alone — a clear
// password is hashed and never stored — and its Check (the page's sign-in and HTTP
// Basic) takes the typed password against them, for a clear-password user and a hashed-only
// one; a wrong password, the hash itself and an unknown extension are refused.
func TestDirectoryHoldsOnlyHashes(t *testing.T) {
	cfg, err := config.Parse([]byte("sip: {listen: [\"udp:127.0.0.1:5060\"], realm: office.example, digest_sha256_agents: []}\nusers:\n"+
		"  - {ext: \"1001\", password: clear-pw, admin: true}\n"+
		"  - {ext: \"1002\", ha1_md5: \""+digest.HA1(false, "1002", "office.example", "hashed-pw")+"\"}\n"), "")
	if err != nil {
		t.Fatal(err)
	}
	d, _, err := openDirectory(cfg, &directory.MemoryStore{})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range d.cfg().Users {
		if u.Password != "" {
			t.Errorf("user %s's clear password is still in the directory", u.Ext)
		}
		if sec, _ := d.Secret(u.Ext); sec.Password != "" || sec.HA1MD5 == "" {
			t.Errorf("user %s's secret = %+v, want HA1s alone", u.Ext, sec)
		}
	}
	for _, c := range []struct {
		ext, password string
		ok, admin     bool
	}{
		{"1001", "clear-pw", true, true},
		{"1002", "hashed-pw", true, false},
		{"1001", "clear-pw ", false, false},
		{"1002", "hashed-pw2", false, false},
		{"1002", digest.HA1(false, "1002", "office.example", "hashed-pw"), false, false},
		{"1009", "hashed-pw", false, false},
	} {
		if ok, admin := d.Check(c.ext, c.password); ok != c.ok || admin != c.admin {
			t.Errorf("Check(%s, %q) = %t, %t; want %t, %t", c.ext, c.password, ok, admin, c.ok, c.admin)
		}
	}
}
