package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/switchboard-voip/switchboard/internal/needs"
	"github.com/switchboard-voip/switchboard/internal/poll"
)

// TestFail2banFilterMatchesAuthFailures: the switch's real log lines from wrong passwords (SIP
// digest and the page's sign-in) are what contrib/fail2ban/switchboard.conf matches, each with
// the guessing address, as fail2ban-regex (from Debian's fail2ban) reads them.
func TestFail2banFilterMatchesAuthFailures(t *testing.T) {
	bin := needs.Program(t, "fail2ban", "fail2ban-regex")
	dir := t.TempDir()
	cfg, cfgPath := writeVMConfig(t, dir, vmConfig{md5Only: true})
	sw := startBinary(t, cfg, cfgPath)
	waitHTTP(t, cfg.HTTPPort)

	ua, err := sipgo.NewUA(sipgo.WithUserAgent("guesser"))
	if err != nil {
		t.Fatal(err)
	}
	defer ua.Close()
	client, err := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	const guesses = 3
	for i := 0; i < guesses; i++ {
		aor := sip.Uri{Scheme: "sip", User: "1001", Host: "127.0.0.1"}
		req := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: "127.0.0.1", Port: cfg.SIPPort})
		req.AppendHeader(&sip.ToHeader{Address: aor, Params: sip.NewParams()})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		res, err := client.Do(ctx, req, sipgo.ClientRequestRegisterBuild)
		if err == nil && res.StatusCode == 401 {
			res, err = client.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: "1001", Password: "guess"})
		}
		cancel()
		if err != nil || res.StatusCode != 401 {
			t.Fatalf("guess %d: %v %v", i+1, err, res)
		}
	}
	// And one wrong password on the page's sign-in.
	if code, _ := apiSend(t, http.MethodPost, cfg.HTTPPort, "/api/v1/session", "", "", "application/json",
		[]byte(`{"ext":"1001","password":"guess"}`)); code != http.StatusUnauthorized {
		t.Fatalf("a wrong sign-in: %d", code)
	}
	// The switch's log reaches the test through a pipe: wait until every failure is in it.
	poll.Require(t, 5*time.Second, "the failures logged", func() bool {
		l := sw.log.String()
		return strings.Count(l, "sip auth failed") == guesses && strings.Contains(l, "http sign-in failed")
	})
	log := filepath.Join(dir, "switchboard.log")
	if err := os.WriteFile(log, []byte(sw.log.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	filter, err := filepath.Abs(filepath.Join("..", "..", "contrib", "fail2ban", "switchboard.conf"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "--print-all-matched", log, filter).CombinedOutput()
	if err != nil {
		t.Fatalf("fail2ban-regex: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Lines: \d+ lines, \d+ ignored, (\d+) matched`).FindSubmatch(out)
	if m == nil || string(m[1]) != fmt.Sprint(guesses+1) {
		t.Fatalf("fail2ban-regex matched %q lines, want the %d SIP failures and the sign-in:\n%s", m, guesses, out)
	}
	if !strings.Contains(string(out), "127.0.0.1") {
		t.Errorf("the matches do not name the guessing address:\n%s", out)
	}
}
