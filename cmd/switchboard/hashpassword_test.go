package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchboard-voip/switchboard/sip/digest"
)

// TestHashPasswordPrintsTheUserLines: the command prints the two lines a user's entry takes,
// RFC 2617's worked example among them, with the realm given or the config's.
func TestHashPasswordPrintsTheUserLines(t *testing.T) {
	var out, errs bytes.Buffer
	code := hashPassword([]string{"-user", "Mufasa", "-realm", "testrealm@host.com"}, strings.NewReader("Circle Of Life\n"), &out, &errs)
	if code != 0 || !strings.Contains(out.String(), "ha1_md5: 939e7578ed9e3c518a452acee763bce9\n") ||
		!strings.Contains(out.String(), "ha1_sha256: "+digest.HA1(true, "Mufasa", "testrealm@host.com", "Circle Of Life")+"\n") {
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
