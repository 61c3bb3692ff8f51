package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/switchboard-voip/switchboard/backup"
	"github.com/switchboard-voip/switchboard/internal/poll"
	"github.com/switchboard-voip/switchboard/internal/sipphone"
	"github.com/switchboard-voip/switchboard/media"
)

// runSubcommand runs the switchboard binary with args in dir and returns its exit code and
// output (stdout and stderr together).
func runSubcommand(t *testing.T, dir string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, switchboardBinary(t), args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), string(out)
		}
		t.Fatalf("switchboard %v: %v\n%s", args, err, out)
	}
	return 0, string(out)
}

// switchData is what the backup test reads through the API, as raw JSON or audio, to compare
// the switch before the backup with the one started on the restored data dir.
type switchData struct {
	presence   []byte // GET /api/v1/presence/1001, the parts that are stored
	dndChanges []byte // GET /api/v1/presence/1001/history
	messages   []byte // GET /api/v1/voicemail/1003
	audio      []byte // the message's WAV
	greetings  []byte // GET /api/v1/users/1003/greetings
	greeting   []byte // GET /api/v1/users/1003/greetings/no_answer
	calls      []byte // GET /api/v1/history as 1002
}

func readSwitchData(t *testing.T, port int) switchData {
	t.Helper()
	get := func(path, user string) []byte {
		t.Helper()
		code, body := apiDo(t, http.MethodGet, port, path, user, testPassword(t, user))
		if code != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, code, body)
		}
		return body
	}
	var d switchData
	var p struct {
		Status string `json:"status"`
		DND    bool   `json:"dnd"`
		Reason string `json:"reason"`
		Source string `json:"source"`
		By     string `json:"by"`
	}
	if err := json.Unmarshal(get("/api/v1/presence/1001", "1001"), &p); err != nil {
		t.Fatal(err)
	}
	d.presence, _ = json.Marshal(p)
	d.dndChanges = get("/api/v1/presence/1001/history", "1001")
	d.messages = get("/api/v1/voicemail/1003", "1003")
	var msgs []vmMessage
	if err := json.Unmarshal(d.messages, &msgs); err != nil || len(msgs) != 1 {
		t.Fatalf("1003's box: %v %s, want one message", err, d.messages)
	}
	d.audio = get("/api/v1/voicemail/1003/"+msgs[0].ID, "1003")
	d.greetings = get("/api/v1/users/1003/greetings", "1003")
	d.greeting = get("/api/v1/users/1003/greetings/no_answer", "1003")
	d.calls = get("/api/v1/history", "1002")
	return d
}

// TestBackupOfARunningSwitchRestoresEverything: a running switch (the real binary) holds a DND
// setting with its history of changes, an uploaded greeting, a voicemail message a caller left
// after hearing it, and call history. `switchboard backup` copies it while it runs;
// `switchboard restore` puts the copy into a fresh data dir, and a switch started there shows
// every one of them, byte for byte. A restore is refused into a data dir that is not empty
// (without -force) or in use, and for a truncated archive, which changes nothing. Once the
// first switch is stopped, `switchboard backup` reads its data dir directly, to the same files.
func TestBackupOfARunningSwitchRestoresEverything(t *testing.T) {
	dir := t.TempDir()
	vm := vmConfig{userExtra: map[string]string{"1003": "    voicemail: true\n"}}
	cfg, cfgPath := writeVMConfig(t, dir, vm)
	sw := startBinary(t, cfg, cfgPath)
	waitHTTP(t, cfg.HTTPPort)

	if code, body := apiSend(t, http.MethodPut, cfg.HTTPPort, "/api/v1/presence/1001", "1001", "alice-secret",
		"application/json", []byte(`{"status":"dnd","reason":"at the dentist"}`)); code != http.StatusOK {
		t.Fatalf("PUT presence: %d %s", code, body)
	}
	var greeting bytes.Buffer
	if err := media.WriteWAV(&greeting, media.Tone(440, 0.3, 400*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if code, body := apiSend(t, http.MethodPut, cfg.HTTPPort, "/api/v1/users/1003/greetings/no_answer", "1003", "carol-secret",
		"audio/wav", greeting.Bytes()); code != http.StatusNoContent && code != http.StatusOK {
		t.Fatalf("PUT greeting: %d %s", code, body)
	}
	// 1003 has no phone: the call goes to voicemail after the uploaded greeting and the beep.
	caller := sipphone.New(t, cfg.SIPPort, "1002", "bob-secret")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, dst := caller.Call(ctx, "1003")
	caller.Stream(ctx, dst, 1000, 2500*time.Millisecond, nil)
	if err := d.Bye(ctx); err != nil {
		t.Fatalf("BYE: %v", err)
	}
	waitVoicemail(t, cfg.HTTPPort, "1003", "carol-secret", 1, 10*time.Second)
	poll.Require(t, 10*time.Second, "1002's call in the history", func() bool {
		_, body := apiDo(t, http.MethodGet, cfg.HTTPPort, "/api/v1/history", "1002", "bob-secret")
		return strings.Contains(string(body), `"to":"1003"`)
	})
	before := readSwitchData(t, cfg.HTTPPort)

	archive := filepath.Join(dir, "switchboard-backup.tar.gz")
	start := time.Now()
	code, out := runSubcommand(t, dir, "backup", "-o", archive, "-config", cfgPath)
	took := time.Since(start)
	if code != 0 || !strings.Contains(out, "from the running switch") {
		t.Fatalf("backup of the running switch: exit %d\n%s", code, out)
	}
	fi, err := os.Stat(archive)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s(archive %d bytes, %v)", out, fi.Size(), took)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("archive mode %v, want 0600: voicemail is private", fi.Mode().Perm())
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dir, "data", ".backup-*")); len(leftovers) != 0 {
		t.Errorf("the running switch's data dir keeps %v", leftovers)
	}

	// Refusals: a running switch's data dir, even with -force; a truncated archive.
	if code, out := runSubcommand(t, dir, "restore", "-i", archive, "-config", cfgPath, "-force"); code != 1 || !strings.Contains(out, "in use") {
		t.Errorf("restore into the running switch's data dir: exit %d, want 1 saying it is in use\n%s", code, out)
	}
	whole, err := os.ReadFile(archive)
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(dir, "cut.tar.gz")
	if err := os.WriteFile(cut, whole[:len(whole)*2/3], 0o600); err != nil {
		t.Fatal(err)
	}
	dir3 := t.TempDir()
	_, cfgPath3 := writeVMConfig(t, dir3, vm)
	if code, out := runSubcommand(t, dir3, "restore", "-i", cut, "-config", cfgPath3); code != 1 || !strings.Contains(out, "truncated") ||
		!strings.Contains(out, "nothing in") {
		t.Errorf("restore of a truncated archive: exit %d, want 1 saying it is truncated\n%s", code, out)
	}
	if des, _ := os.ReadDir(filepath.Join(dir3, "data")); len(des) != 0 {
		t.Errorf("a refused restore left %v", des)
	}

	// Into a fresh data dir; then again, refused as it is no longer empty.
	dir2 := t.TempDir()
	cfg2, cfgPath2 := writeVMConfig(t, dir2, vm)
	if code, out := runSubcommand(t, dir2, "restore", "-i", archive, "-config", cfgPath2); code != 0 {
		t.Fatalf("restore into a fresh data dir: exit %d\n%s", code, out)
	} else {
		t.Log(out)
	}
	if code, out := runSubcommand(t, dir2, "restore", "-i", archive, "-config", cfgPath2); code != 1 || !strings.Contains(out, "not empty") ||
		!strings.Contains(out, "-force") {
		t.Errorf("restore into a data dir with files: exit %d, want 1 naming -force\n%s", code, out)
	}
	if code, out := runSubcommand(t, dir2, "restore", "-i", archive, "-config", cfgPath2, "-force"); code != 0 {
		t.Errorf("restore -force into a stopped switch's data dir: exit %d\n%s", code, out)
	}

	startBinary(t, cfg2, cfgPath2)
	waitHTTP(t, cfg2.HTTPPort)
	after := readSwitchData(t, cfg2.HTTPPort)
	for _, c := range []struct {
		what          string
		before, after []byte
	}{
		{"1001's DND", before.presence, after.presence},
		{"1001's DND changes", before.dndChanges, after.dndChanges},
		{"1003's messages", before.messages, after.messages},
		{"the message's audio", before.audio, after.audio},
		{"1003's greetings", before.greetings, after.greetings},
		{"1003's uploaded greeting", before.greeting, after.greeting},
		{"1002's call history", before.calls, after.calls},
	} {
		if !bytes.Equal(c.before, c.after) {
			t.Errorf("%s after the restore differ:\nbefore %.300s\nafter  %.300s", c.what, c.before, c.after)
		}
	}
	if !strings.Contains(string(after.presence), `"dnd":true`) || !strings.Contains(string(after.greetings), `"uploaded"`) {
		t.Errorf("restored presence %s, greetings %s: want DND and an uploaded greeting", after.presence, after.greetings)
	}

	// A stopped switch's data dir is read directly, to the same files.
	if err := sw.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-sw.exited
	offline := filepath.Join(dir, "offline.tar.gz")
	if code, out := runSubcommand(t, dir, "backup", "-o", offline, "-config", cfgPath); code != 0 || !strings.Contains(out, "stopped") {
		t.Fatalf("backup of the stopped switch: exit %d\n%s", code, out)
	}
	m1, m2 := manifestOf(t, archive), manifestOf(t, offline)
	if len(m1.Files) != len(m2.Files) {
		t.Fatalf("online backup has %d files, offline %d", len(m1.Files), len(m2.Files))
	}
	for i := range m1.Files {
		// The DB's bytes may differ (free pages); the audio may not.
		if m1.Files[i].Path != m2.Files[i].Path || (m1.Files[i].Path != backup.DBFile && m1.Files[i] != m2.Files[i]) {
			t.Errorf("file %d: online %+v, offline %+v", i, m1.Files[i], m2.Files[i])
		}
	}
}

func manifestOf(t *testing.T, path string) backup.Manifest {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := backup.Verify(f)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestBackupCommandsUsage: missing or stray arguments and a bad config are exit 2 with the
// usage or the config's problem; a data dir with nothing in it is exit 1 naming it.
func TestBackupCommandsUsage(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "switchboard.yaml")
	if err := os.WriteFile(cfg, []byte("sip: {listen: [\"udp:127.0.0.1:5060\"]}\ndata_dir: ./empty\nusers: [{ext: \"1001\", password: a}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errs bytes.Buffer
	for name, c := range map[string]struct {
		restore bool
		args    []string
		code    int
		say     string
	}{
		"backup without -o":      {false, []string{"-config", cfg}, 2, "usage: switchboard backup"},
		"backup, stray argument": {false, []string{"-o", "x", "y"}, 2, "usage: switchboard backup"},
		"backup, bad config":     {false, []string{"-o", "x", "-config", filepath.Join(dir, "missing.yaml")}, 2, "missing.yaml"},
		"backup of nothing":      {false, []string{"-o", filepath.Join(dir, "b.tar.gz"), "-config", cfg}, 1, "nothing to back up"},
		"restore without -i":     {true, []string{"-config", cfg}, 2, "usage: switchboard restore"},
		"restore, no such file":  {true, []string{"-i", filepath.Join(dir, "nope.tar.gz"), "-config", cfg}, 1, "nope.tar.gz"},
	} {
		out.Reset()
		errs.Reset()
		var code int
		if c.restore {
			code = restoreCommand(ctx, c.args, strings.NewReader(""), &out, &errs)
		} else {
			code = backupCommand(ctx, c.args, &out, &errs)
		}
		if code != c.code || !strings.Contains(errs.String(), c.say) {
			t.Errorf("%s: exit %d, want %d saying %q\n%s", name, code, c.code, c.say, errs.String())
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "b.tar.gz")); err == nil {
		t.Error("a failed backup left its output file")
	}
}
