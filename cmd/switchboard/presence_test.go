package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-voip/switchboard/internal/needs"
	"github.com/switchboard-voip/switchboard/internal/poll"
)

// Presence durability against the real binary: a DND setting, once confirmed (the *78 prompt
// answered, the API's 200), survives the switch stopping, gracefully or not.

// dialFeatureCode registers ext's SIPp phone on phonePort and dials code from it; the switch
// answers, plays its confirmation and hangs up, which is the only way uac_until_bye.xml ends
// successfully.
func dialFeatureCode(t *testing.T, dir string, cfg switchConfig, phonePort int, ext, password, code string) {
	t.Helper()
	registerPhone(t, dir, cfg.SIPPort, phonePort, ext, password)
	uac := startSIPp(t, dir, "dial-"+code+"-"+strconv.Itoa(phonePort),
		"127.0.0.1:"+strconv.Itoa(cfg.SIPPort), "-sf", scenario(t, "uac_until_bye.xml"),
		"-i", "127.0.0.1", "-p", strconv.Itoa(phonePort), "-mp", strconv.Itoa(freeMediaPort(t)),
		"-s", code, "-key", "caller", ext, "-au", ext, "-ap", password,
		"-m", "1", "-trace_msg", "-timeout", "20s", "-timeout_error")
	uac.mustSucceed(t, 25*time.Second)
}

// TestFeatureCodeDNDSurvivesRestart: Bob dials *78, the switch is stopped with SIGTERM and started
// again on the same data_dir, and the API still says dnd; then *79, another restart, available.
func TestFeatureCodeDNDSurvivesRestart(t *testing.T) {
	needs.Program(t, "sip-tester", "sipp")
	dir := t.TempDir()
	cfg, cfgPath := newSwitchConfig(t, dir, 100, 0)
	bob := newPresenceAPI(cfg.HTTPPort, "1002", "bob-secret")
	phonePort := freePort(t)

	steps := []struct {
		code, want string
	}{{"*78", "dnd"}, {"*79", "available"}}
	sw := startBinary(t, cfg, cfgPath)
	bob.ready(t)
	for _, step := range steps {
		dialFeatureCode(t, dir, cfg, phonePort, "1002", "bob-secret", step.code)
		if v := bob.get(t, "1002"); v.Status != step.want || v.DND != (step.want == "dnd") {
			t.Fatalf("after %s, before the restart: %+v, want status %q", step.code, v, step.want)
		}

		sw.sigterm(t)
		sw = startBinary(t, cfg, cfgPath)
		bob.ready(t)
		v := bob.get(t, "1002")
		if v.Status != step.want || v.DND != (step.want == "dnd") {
			t.Fatalf("after %s and a restart (SIGTERM): %+v, want status %q", step.code, v, step.want)
		}
		if v.Registered || v.OnCall {
			t.Errorf("after a restart: %+v, want neither registered nor on a call", v)
		}
	}
}

// TestAPIDNDSurvivesSIGKILL: a 200 to PUT {"status":"dnd"} means the setting is on disk. The
// switch is killed right after the answer, with no chance to flush, and starts with Bob on DND.
func TestAPIDNDSurvivesSIGKILL(t *testing.T) {
	dir := t.TempDir()
	cfg, cfgPath := newSwitchConfig(t, dir, 20, 0)
	bob := newPresenceAPI(cfg.HTTPPort, "1002", "bob-secret")

	sw := startBinary(t, cfg, cfgPath)
	bob.ready(t)
	if code, body := bob.put(t, "1002", "dnd"); code != http.StatusOK {
		t.Fatalf("PUT /api/v1/presence/1002 dnd: %d %s", code, body)
	}
	sw.sigkill(t)

	start := time.Now()
	sw = startBinary(t, cfg, cfgPath)
	bob.ready(t)
	t.Logf("restart after SIGKILL: serving in %s", time.Since(start).Round(time.Millisecond))
	if v := bob.get(t, "1002"); v.Status != "dnd" || !v.DND {
		t.Fatalf("after PUT dnd and SIGKILL: %+v, want status \"dnd\"", v)
	}
	// And back: available is just as durable.
	if code, body := bob.put(t, "1002", "available"); code != http.StatusOK {
		t.Fatalf("PUT /api/v1/presence/1002 available: %d %s", code, body)
	}
	sw.sigkill(t)
	startBinary(t, cfg, cfgPath)
	bob.ready(t)
	if v := bob.get(t, "1002"); v.Status != "available" || v.DND {
		t.Fatalf("after PUT available and SIGKILL: %+v, want status \"available\"", v)
	}
}

// TestTimedDNDSurvivesSIGKILLAndEnds: a DND with a reason and an end is on disk when the PUT
// returns; after SIGKILL and a restart it still has both, and it ends on time afterwards.
func TestTimedDNDSurvivesSIGKILLAndEnds(t *testing.T) {
	dir := t.TempDir()
	cfg, cfgPath := newSwitchConfig(t, dir, 20, 0)
	bob := newPresenceAPI(cfg.HTTPPort, "1002", "bob-secret")
	sw := startBinary(t, cfg, cfgPath)
	bob.ready(t)
	code, body, err := bob.do(http.MethodPut, "/api/v1/presence/1002", []byte(`{"status":"dnd","reason":"dentist","until":"12s"}`))
	if err != nil || code != http.StatusOK {
		t.Fatalf("PUT timed DND: %d %s %v", code, body, err)
	}
	set := bob.get(t, "1002")
	sw.sigkill(t)

	startBinary(t, cfg, cfgPath)
	bob.ready(t)
	v := bob.get(t, "1002")
	if v.Status != "dnd" || v.Reason != "dentist" || v.Until != set.Until || v.Until == "" {
		t.Fatalf("after SIGKILL and restart: %+v, want DND \"dentist\" until %s", v, set.Until)
	}
	end, _ := time.Parse(time.RFC3339, v.Until)
	v, ok := bob.waitStatus(t, "1002", "available", time.Until(end)+10*time.Second)
	if !ok || v.Source != "expiry" {
		t.Fatalf("after the end: %+v, want available by expiry", v)
	}
}

// TestLinphonePublishReachesTheSwitch runs linphonec (liblinphone 5.1) registered as Bob with
// PUBLISH enabled: its REGISTER and PUBLISH pass the digest challenge, the PIDF it publishes is
// read as Bob's own status, and the API shows him registered and available.
//
// linphonec cannot publish DND: its "status" command only prints (register, autoanswer, hook),
// no console command sets the presence model (the binary does not even import
// linphone_core_set_presence_model or _set_presence_info), and liblinphone starts every core with
// basic "open" and no way to configure another. So what it publishes is always
// <basic>open</basic> + <pidfonline:online/>; Linphone's DND PIDF (closed, rpid:busy, "Do not
// disturb") is covered by sip.TestPublishFromOwnPhoneSetsDND.
func TestLinphonePublishReachesTheSwitch(t *testing.T) {
	linphonec := needs.Program(t, "linphone-cli", "linphonec")
	dir := t.TempDir()
	cfg, cfgPath := newSwitchConfig(t, dir, 20, 0)
	sw := startBinary(t, cfg, cfgPath)
	bob := newPresenceAPI(cfg.HTTPPort, "1002", "bob-secret")
	bob.ready(t)

	phoneDir := filepath.Join(dir, "linphone")
	if err := os.MkdirAll(phoneDir, 0o750); err != nil {
		t.Fatal(err)
	}
	rc := writeLinphonerc(t, phoneDir, cfg.SIPPort, freePort(t), "1002", "bob-secret")
	logFile := filepath.Join(phoneDir, "linphonec.log")
	start := time.Now()
	phone := startPhoneProc(t, "linphonec", phoneDir, linphonec, "-c", rc, "-d", "6", "-l", logFile)
	linphoneLog := func() string { data, _ := os.ReadFile(logFile); return string(data) }

	published := poll.Until(15*time.Second, func() bool {
		return logLineHas(sw.log.String(), "status published by phone", `"ext": "1002"`)
	})
	if !published {
		t.Fatalf("no PUBLISH from linphonec taken within 15s; linphonec log:\n%s", tail(linphoneLog(), 80))
	}
	t.Logf("linphonec registered and published in %s", time.Since(start).Round(time.Millisecond))
	// The default sip.digest_sha256_agents challenges Linphone SHA-256 first (RFC 8760); it
	// answers in SHA-256, which the switch took (it registered and published).
	if auth := authorizationLines(linphoneLog()); len(auth) == 0 || !strings.Contains(auth[0], "algorithm=SHA-256") {
		t.Errorf("linphonec's first credentials %q, want algorithm=SHA-256", auth)
	}
	if !poll.Until(5*time.Second, func() bool { return strings.Contains(linphoneLog(), "to publish state LinphonePublishOk") }) {
		t.Errorf("linphonec never reached LinphonePublishOk (its PUBLISH was not answered 200)")
	}
	if !logLineHas(sw.log.String(), "status published by phone", `"ext": "1002"`, `"dnd": false`) {
		t.Errorf("switch did not read linphonec's PIDF as available:\n%s", tail(sw.log.String(), 20))
	}
	if body := lastPIDF(linphoneLog()); !strings.Contains(body, "<basic>open</basic>") {
		t.Errorf("linphonec published:\n%s\nwant basic open", body)
	} else {
		t.Logf("linphonec's PIDF:\n%s", body)
	}
	if v, ok := bob.waitStatus(t, "1002", "available", 2*time.Second); !ok || !v.Registered {
		t.Errorf("Bob with linphonec registered: %+v, want registered and available", v)
	}

	// quit unregisters and withdraws the publication (PUBLISH with Expires: 0): no status change.
	phone.stop(5 * time.Second)
	if !poll.Until(3*time.Second, func() bool { return !bob.get(t, "1002").Registered }) {
		t.Errorf("Bob still registered after linphonec quit: %+v", bob.get(t, "1002"))
	}
	if v := bob.get(t, "1002"); v.Status != "available" {
		t.Errorf("after linphonec quit: %+v, want available", v)
	}
}

// authorizationLines returns the Authorization and Proxy-Authorization lines of a liblinphone log.
func authorizationLines(log string) []string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		if strings.HasPrefix(l, "Authorization:") || strings.HasPrefix(l, "Proxy-Authorization:") {
			out = append(out, l)
		}
	}
	return out
}

// lastPIDF returns the last PIDF document in a liblinphone log (it logs each SIP message whole).
func lastPIDF(log string) string {
	end := strings.LastIndex(log, "</presence>")
	if end < 0 {
		return ""
	}
	start := strings.LastIndex(log[:end], "<?xml")
	if start < 0 {
		return ""
	}
	return log[start : end+len("</presence>")]
}

// TestBaresipSeesColleagueDND: baresip registered as Alice, with Bob in its contacts marked
// presence=p2p, SUBSCRIBEs to Bob's presence through the switch. Bob goes DND through the API:
// baresip's contact list shows him Busy (and it logs the change); back to available: Online.
//
// The switch offers only MD5 here: Debian's baresip 1.0.0 (libre 1.1.0) gives up on a 401/407
// carrying any challenge that is not MD5 (ENOSYS, "Function not implemented"), so with the
// SHA-256 challenge first it can neither register nor subscribe.
func TestBaresipSeesColleagueDND(t *testing.T) {
	baresip := needs.Program(t, "baresip-core", "baresip")
	dir := t.TempDir()
	cfg, cfgPath := newSwitchConfig(t, dir, 20, 0)
	cfgPath = withSIPSetting(t, cfgPath, "switchboard-md5.yaml", `digest_algorithms: ["MD5"]`)
	sw := startBinary(t, cfg, cfgPath)
	alice := newPresenceAPI(cfg.HTTPPort, "1001", "alice-secret")
	bob := newPresenceAPI(cfg.HTTPPort, "1002", "bob-secret")
	alice.ready(t)

	ctrl := freePort(t)
	cfgDir := writeBaresipConfig(t, dir, cfg.SIPPort, ctrl, "1001", "alice-secret", "1002")
	start := time.Now()
	phone := startPhoneProc(t, "baresip", dir, baresip, "-f", cfgDir)

	contact := func() string { return baresipShows(ctrl, "1002") }
	// The first NOTIFY (Bob available) has arrived once baresip lists him Online.
	if !poll.Until(15*time.Second, func() bool { return contact() == "Online" }) {
		t.Fatalf("baresip does not show Bob Online within 15s (contact status %q)", contact())
	}
	// The switch logs the subscription once it has sent the first NOTIFY: the line may follow it.
	if !poll.Until(5*time.Second, func() bool {
		return logLineHas(sw.log.String(), "subscription started", `"ext": "1001"`, `"event": "presence"`, `"resource": "1002"`)
	}) {
		t.Errorf("switch log has no presence subscription by 1001 to 1002")
	}
	if v, ok := alice.waitStatus(t, "1001", "available", 2*time.Second); !ok || !v.Registered {
		t.Errorf("Alice with baresip: %+v, want registered", v)
	}
	t.Logf("baresip registered and subscribed in %s", time.Since(start).Round(time.Millisecond))

	for _, step := range []struct{ status, shown string }{{"dnd", "Busy"}, {"available", "Online"}} {
		changed := time.Now()
		if code, body := bob.put(t, "1002", step.status); code != http.StatusOK {
			t.Fatalf("PUT 1002 %s: %d %s", step.status, code, body)
		}
		if !poll.Until(5*time.Second, func() bool { return contact() == step.shown }) {
			t.Fatalf("Bob %s: baresip shows %q within 5s, want %s", step.status, contact(), step.shown)
		}
		t.Logf("Bob %s: baresip shows %s after %s", step.status, step.shown, time.Since(changed).Round(time.Millisecond))
	}
	// Its log (block-buffered on a pipe: complete once it has exited) tells the same story.
	_, _ = baresipCommand(ctrl, "quit") // answers ok=false as it goes; the exit is what counts
	phone.stop(5 * time.Second)
	out := baresipColours.Replace(phone.out.String())
	for _, want := range []string{"<sip:1002@127.0.0.1:" + strconv.Itoa(cfg.SIPPort) + "> changed status from Online to Busy",
		"changed status from Busy to Online"} {
		if !strings.Contains(out, want) {
			t.Errorf("baresip output lacks %q:\n%s", want, tail(out, 20))
		}
	}
}
