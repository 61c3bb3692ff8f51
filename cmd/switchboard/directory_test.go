package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-voip/switchboard/internal/natstest"
	"github.com/switchboard-voip/switchboard/internal/poll"
	"github.com/switchboard-voip/switchboard/internal/sipphone"
	"github.com/switchboard-voip/switchboard/media"
)

// directoryQueue is queue 700 with Bob alone, so whether a caller waits is his status alone.
const directoryQueue = `queues:
  - ext: "700"
    name: Support
    members: ["1002"]
    ring_timeout: 15s
    max_wait: 5m
    wrapup: 0s
`

// admin sends a directory request as Alice, the admin, and returns the status and body.
func (sw *webSwitch) admin(t *testing.T, method, path, body string) (int, string) {
	t.Helper()
	code, out := apiSend(t, method, sw.cfg.HTTPPort, path, "1001", webPassword("1001"), "application/json", []byte(body))
	return code, string(out)
}

// waitingIn returns how many callers GET /api/v1/queues shows waiting in queue ext.
func (sw *webSwitch) waitingIn(t *testing.T, ext string) int {
	t.Helper()
	code, body := sw.api(t, http.MethodGet, "/api/v1/queues", "1001")
	if code != http.StatusOK {
		t.Fatalf("GET /api/v1/queues: %d %s", code, body)
	}
	var qs []struct {
		Ext     string `json:"ext"`
		Waiting int    `json:"waiting"`
	}
	if err := json.Unmarshal(body, &qs); err != nil {
		t.Fatalf("GET /api/v1/queues: %v in %s", err, body)
	}
	for _, q := range qs {
		if q.Ext == ext {
			return q.Waiting
		}
	}
	return -1
}

// An admin changes the directory of a running switch and it takes effect at once: a user
// created through the API registers their phone straight away; added to a queue while a caller
// waits, they are offered the caller and answer; removed while on that call, the call ends for
// the caller, the phone's next REGISTER is refused and the user is gone from the statuses. After
// a restart the directory is the one the admin made, not the file's.
func TestDirectoryChangesTakeEffectAtOnce(t *testing.T) {
	sw := startWebSwitch(t, directoryQueue)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	if code, body := sw.admin(t, http.MethodPost, "/api/v1/users",
		`{"ext": "1006", "name": "Frank", "password": "frank-secret"}`); code != http.StatusCreated {
		t.Fatalf("creating Frank: %d %s", code, body)
	}
	frank := sipphone.New(t, sw.cfg.SIPPort, "1006", "frank-secret")
	frank.Register(ctx) // at once: no restart, no reload
	if st := sw.presence(t, "1006"); st["name"] != "Frank" || st["registered"] != true {
		t.Fatalf("Frank's status after registering: %v", st)
	}

	// Bob is on DND, so Carol waits in the queue; Frank is made a member and is offered her.
	if code, body := sw.admin(t, http.MethodPut, "/api/v1/presence/1002", `{"status": "dnd"}`); code != http.StatusOK {
		t.Fatalf("Bob's DND: %d %s", code, body)
	}
	carol := newWebPhone(t, sw.cfg.SIPPort, "1003")
	carol.Register(ctx)
	toQueue, _ := carol.Call(ctx, "700")
	poll.Require(t, 5*time.Second, "Carol waiting in queue 700", func() bool { return sw.waitingIn(t, "700") == 1 })
	if code, body := sw.admin(t, http.MethodPut, "/api/v1/queues/700", `{"members": ["1002", "1006"]}`); code != http.StatusOK {
		t.Fatalf("adding Frank to queue 700: %d %s", code, body)
	}
	select {
	case <-frank.Answered():
	case <-time.After(10 * time.Second):
		t.Fatal("Frank, added to the queue while Carol waited, was not offered her call")
	}
	poll.Require(t, 5*time.Second, "Frank on a call", func() bool { return sw.presence(t, "1006")["status"] == "busy" })

	// Frank is removed while talking to Carol.
	if code, body := sw.admin(t, http.MethodDelete, "/api/v1/users/1006", ""); code != http.StatusNoContent {
		t.Fatalf("removing Frank: %d %s", code, body)
	}
	wantDialogEnded(t, toQueue, "Carol (talking to Frank when he was removed)")
	if code, err := frank.TryRegister(ctx); err != nil || code == http.StatusOK {
		t.Errorf("a removed user's REGISTER: %d %v, want refused", code, err)
	}
	if code, body := sw.api(t, http.MethodGet, "/api/v1/presence/1006", "1001"); code != http.StatusNotFound {
		t.Errorf("a removed user's status: %d %s, want 404", code, body)
	}
	if code, body := sw.admin(t, http.MethodGet, "/api/v1/queues/700", ""); code != http.StatusOK || strings.Contains(body, "1006") {
		t.Errorf("queue 700 after removing Frank: %d %s, want him gone from its members", code, body)
	}

	// A user created now is in the store: a restart finds them, though the file never had them.
	if code, body := sw.admin(t, http.MethodPost, "/api/v1/users",
		`{"ext": "1007", "name": "Grace", "password": "grace-secret"}`); code != http.StatusCreated {
		t.Fatalf("creating Grace: %d %s", code, body)
	}
	sw.proc.sigterm(t)
	sw.proc = startBinary(t, sw.cfg, filepath.Join(sw.dir, "switchboard.yaml"))
	poll.Require(t, 10*time.Second, "the switch back", func() bool {
		res, err := http.Get(sw.base + "/healthz")
		if err != nil {
			return false
		}
		_ = res.Body.Close()
		return res.StatusCode == http.StatusOK
	})
	grace := sipphone.New(t, sw.cfg.SIPPort, "1007", "grace-secret")
	grace.Register(ctx)
	if code, _ := sw.api(t, http.MethodGet, "/api/v1/presence/1006", "1001"); code != http.StatusNotFound {
		t.Errorf("Frank, removed, is back after a restart: %d", code)
	}
}

// A user an admin creates at one node of a cluster registers at another at once, and a user
// removed there is refused at the first: every node follows the directory's bucket.
func TestClusterDirectoryChangeReachesEveryNode(t *testing.T) {
	dir := t.TempDir()
	nats := natstest.Start(t, 1, true)
	var cfgs [2]switchConfig
	for i, name := range []string{"a", "b"} {
		nodeDir := filepath.Join(dir, name)
		if err := os.MkdirAll(nodeDir, 0o750); err != nil {
			t.Fatal(err)
		}
		cfg, cfgPath := newSwitchConfig(t, nodeDir, 20, 0)
		data, err := os.ReadFile(cfgPath)
		if err != nil {
			t.Fatal(err)
		}
		// Alice is the admin who changes the directory.
		data = []byte(strings.Replace(string(data), "password: alice-secret\n", "password: alice-secret\n    admin: true\n", 1))
		if err := os.WriteFile(cfgPath, data, 0o600); err != nil {
			t.Fatal(err)
		}
		joinCluster(t, cfgPath, name, nats.URLs(0), 5*time.Second)
		startBinary(t, cfg, cfgPath)
		cfgs[i] = cfg
	}
	atA := newPresenceAPI(cfgs[0].HTTPPort, "1001", "alice-secret")
	atB := newPresenceAPI(cfgs[1].HTTPPort, "1001", "alice-secret")
	atA.ready(t)
	atB.ready(t)

	created := time.Now()
	code, body, err := atA.do(http.MethodPost, "/api/v1/users", []byte(`{"ext": "1009", "name": "Ivy", "password": "ivy-secret"}`))
	if err != nil || code != http.StatusCreated {
		t.Fatalf("creating Ivy at node a: %d %s %v", code, body, err)
	}
	answered := time.Since(created)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ivy := sipphone.New(t, cfgs[1].SIPPort, "1009", "ivy-secret")
	poll.Require(t, 2*time.Second, "Ivy known at node b", func() bool {
		code, _, _ := atB.do(http.MethodGet, "/api/v1/presence/1009", nil)
		return code == http.StatusOK
	})
	t.Logf("Ivy created at node a in %s, known at node b %s after the request", answered.Round(time.Millisecond),
		time.Since(created).Round(time.Millisecond))
	ivy.Register(ctx)
	poll.Require(t, 2*time.Second, "node a shows Ivy registered (at node b)", func() bool { return atA.get(t, "1009").Registered })
	code, body, err = atB.do(http.MethodDelete, "/api/v1/users/1009", nil)
	if err != nil || code != http.StatusNoContent {
		t.Fatalf("removing Ivy at node b: %d %s %v", code, body, err)
	}
	poll.Require(t, 2*time.Second, "Ivy gone at node a", func() bool {
		code, _, _ := atA.do(http.MethodGet, "/api/v1/presence/1009", nil)
		return code == http.StatusNotFound
	})
	atNodeA := sipphone.New(t, cfgs[0].SIPPort, "1009", "ivy-secret")
	if code, err := atNodeA.TryRegister(ctx); err != nil || code == http.StatusOK {
		t.Errorf("Ivy, removed at node b, registering at node a: %d %v, want refused", code, err)
	}
}

// An admin changes Carol's extension from 1003 to 1013: her DND (with its reason), her
// uploaded greeting and her voicemail go with her; 1003 is nobody's any more, and her phone
// registers under the new extension with the new password.
func TestChangingAUsersExtensionKeepsWhatTheyHad(t *testing.T) {
	sw := startWebSwitch(t)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	var greeting bytes.Buffer
	if err := media.WriteWAV(&greeting, media.Tone(440, 0.3, 400*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if code, body := apiSend(t, http.MethodPut, sw.cfg.HTTPPort, "/api/v1/users/1003/greetings/no_answer", "1003", webPassword("1003"),
		"audio/wav", greeting.Bytes()); code != http.StatusNoContent && code != http.StatusOK {
		t.Fatalf("Carol's greeting: %d %s", code, body)
	}
	// Carol has no phone: Bob's call goes to her voicemail, after her short greeting.
	bob := newWebPhone(t, sw.cfg.SIPPort, "1002")
	d, dst := bob.Call(ctx, "1003")
	bob.Stream(ctx, dst, 1000, 2500*time.Millisecond, nil)
	if err := d.Bye(ctx); err != nil {
		t.Fatal(err)
	}
	waitVoicemail(t, sw.cfg.HTTPPort, "1003", webPassword("1003"), 1, 10*time.Second)
	if code, body := sw.admin(t, http.MethodPut, "/api/v1/presence/1003", `{"status": "dnd", "reason": "on leave"}`); code != http.StatusOK {
		t.Fatalf("Carol's DND: %d %s", code, body)
	}

	if code, body := sw.admin(t, http.MethodPut, "/api/v1/users/1003", `{"ext": "1013", "password": "carol-new-secret"}`); code != http.StatusOK {
		t.Fatalf("changing Carol's extension: %d %s", code, body)
	}
	st := sw.presence(t, "1013")
	if st["name"] != "Carol" || st["status"] != "dnd" || st["reason"] != "on leave" {
		t.Errorf("Carol at 1013: %v, want her DND and its reason", st)
	}
	if msgs := listVoicemail(t, sw.cfg.HTTPPort, "1013", "carol-new-secret"); len(msgs) != 1 {
		t.Errorf("Carol's voicemail at 1013: %v, want the message left at 1003", msgs)
	}
	if code, _ := apiDo(t, http.MethodGet, sw.cfg.HTTPPort, "/api/v1/users/1013/greetings/no_answer", "1013", "carol-new-secret"); code != http.StatusOK {
		t.Errorf("Carol's no-answer greeting at 1013: %d", code)
	}
	if code, _ := sw.api(t, http.MethodGet, "/api/v1/presence/1003", "1001"); code != http.StatusNotFound {
		t.Errorf("1003 after the change: %d, want 404", code)
	}
	if code, _ := apiDo(t, http.MethodGet, sw.cfg.HTTPPort, "/api/v1/voicemail/1003", "1001", webPassword("1001")); code == http.StatusOK {
		if msgs := listVoicemail(t, sw.cfg.HTTPPort, "1003", webPassword("1001")); len(msgs) != 0 {
			t.Errorf("messages left in the old box: %v", msgs)
		}
	}
	sipphone.New(t, sw.cfg.SIPPort, "1013", "carol-new-secret").Register(ctx)
}

// An admin resets Bob's password: the phone registered with the old one stops taking his calls
// at once (he shows unregistered), its REGISTER with the old password is refused, and with the
// new one it registers again.
func TestPasswordResetUnregistersThePhones(t *testing.T) {
	sw := startWebSwitch(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	newWebPhone(t, sw.cfg.SIPPort, "1002").Register(ctx)
	poll.Require(t, 5*time.Second, "Bob registered", func() bool { return sw.presence(t, "1002")["registered"] == true })
	if code, body := sw.admin(t, http.MethodPut, "/api/v1/users/1002/password", `{"password": "bob-new-secret"}`); code != http.StatusNoContent {
		t.Fatalf("resetting Bob's password: %d %s", code, body)
	}
	poll.Require(t, 5*time.Second, "Bob unregistered", func() bool { return sw.presence(t, "1002")["registered"] == false })
	if code, err := newWebPhone(t, sw.cfg.SIPPort, "1002").TryRegister(ctx); err != nil || code == http.StatusOK {
		t.Errorf("REGISTER with the old password: %d %v, want refused", code, err)
	}
	sipphone.New(t, sw.cfg.SIPPort, "1002", "bob-new-secret").Register(ctx)
	poll.Require(t, 5*time.Second, "Bob registered again", func() bool { return sw.presence(t, "1002")["registered"] == true })
}
