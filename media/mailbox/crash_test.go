package mailbox

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/switchboard-voip/switchboard/internal/crashtest"
)

// Environment of the crash child process (see TestSIGKILLMidRecording).
const (
	crashChildEnv = "MAILBOX_CRASH_CHILD"
	crashDBEnv    = "MAILBOX_CRASH_DB"
	crashDirEnv   = "MAILBOX_CRASH_DIR"
)

// committedAudio is what the crash child saves before it is killed.
var committedAudio = tone(16000, 5)

func TestMain(m *testing.M) {
	if os.Getenv(crashChildEnv) == "1" {
		crashChild()
		return
	}
	os.Exit(m.Run())
}

// crashChild commits one message, says so on stdout, then records a second
// one forever, faster than real time, until the parent kills it.
func crashChild() {
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		os.Exit(2)
	}
	db, err := bbolt.Open(os.Getenv(crashDBEnv), 0o600, &bbolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		fail(err)
	}
	s, err := Open(db, os.Getenv(crashDirEnv))
	if err != nil {
		fail(err)
	}
	r, err := s.Record("1001", "2001", "Reception")
	if err != nil {
		fail(err)
	}
	if err := r.Write(committedAudio); err != nil {
		fail(err)
	}
	m, err := r.Commit(time.Second)
	if err != nil {
		fail(err)
	}
	fmt.Printf("committed %s\n", m.ID)

	r, err = s.Record("1001", "2002", "")
	if err != nil {
		fail(err)
	}
	audio := tone(frame, 7)
	for {
		if err := r.Write(audio); err != nil {
			fail(err)
		}
		time.Sleep(time.Millisecond) // paces the child's writes like a call's frames; it waits for nothing
	}
}

func TestSIGKILLMidRecording(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	root := t.TempDir()
	dbPath, dir := filepath.Join(root, "switchboard.db"), filepath.Join(root, "voicemail")
	child := crashtest.Start(t, crashChildEnv+"=1", crashDBEnv+"="+dbPath, crashDirEnv+"="+dir)
	line := child.Line()
	id, ok := strings.CutPrefix(strings.TrimSpace(line), "committed ")
	if !ok {
		t.Fatalf("child said %q", line)
	}

	// Kill only once the second recording has audio on disk, so the crash
	// really is mid-recording and not before it began.
	deadline := time.Now().Add(10 * time.Second)
	for !partHasAudio(t, filepath.Join(dir, "1001")) {
		if time.Now().After(deadline) {
			t.Fatal("the child never wrote the second recording")
		}
		time.Sleep(5 * time.Millisecond)
	}
	child.Kill()

	db := openDB(t, dbPath)
	s := openStore(t, db, dir)
	list, err := s.List("1001")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[1].ID != id || list[1].DurationMS != 2000 || list[1].CutShort {
		t.Fatalf("after the crash List = %+v, want %s (2 s) and the cut-off one", list, id)
	}
	path, err := s.Path("1001", id)
	if err != nil {
		t.Fatal(err)
	}
	if samples := readWAV(t, path); !slices.Equal(samples, committedAudio) {
		t.Errorf("committed audio damaged: %d samples, want %d", len(samples), len(committedAudio))
	}
	// The recording the crash cut off is a message too: from its caller, marked, with the audio
	// that reached the disk.
	cut := list[0]
	if !cut.CutShort || cut.From != "2002" || cut.DurationMS < 1000 {
		t.Fatalf("cut-off message %+v: want it marked, from 2002, with over a second", cut)
	}
	cutPath, err := s.Path("1001", cut.ID)
	if err != nil {
		t.Fatal(err)
	}
	if samples := readWAV(t, cutPath); int64(len(samples)) != cut.DurationMS*8 {
		t.Errorf("cut-off audio holds %d samples, its record says %d ms", len(samples), cut.DurationMS)
	}
	if names := files(t, dir, "1001"); !slices.Equal(names, []string{id + ".wav", cut.ID + ".wav"}) {
		t.Errorf("box folder holds %v after recovery", names)
	}
	wantCounts(t, s, "1001", 2, 0)
}

// partHasAudio reports whether folder holds a .part file with a second and a
// half of samples after its header (more than a salvaged message needs).
func partHasAudio(t *testing.T, folder string) bool {
	for _, name := range files(t, filepath.Dir(folder), filepath.Base(folder)) {
		if !strings.HasSuffix(name, partExt) {
			continue
		}
		if fi, err := os.Stat(filepath.Join(folder, name)); err == nil && fi.Size() > 44+2*8000*3/2 {
			return true
		}
	}
	return false
}

func TestRecordingCutByCrashIsSaved(t *testing.T) {
	e := newEnv(t)
	r, err := e.s.Record("1001", "2001", "Reception")
	if err != nil {
		t.Fatal(err)
	}
	audio := tone(40000, 1)
	writeFrames(t, r, audio) // 5 s, past the write buffer
	// The "crash": no Commit or Abort; the DB goes away under the recording.
	e.reopen(t)
	list, err := e.s.List("1001")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || !list[0].CutShort || list[0].From != "2001" || list[0].FromName != "Reception" ||
		list[0].DurationMS < 3000 {
		t.Fatalf("List = %+v, want the cut-off message from 2001 with what reached the disk", list)
	}
	path, err := e.s.Path("1001", list[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if got := readWAV(t, path); !slices.Equal(got, audio[:len(got)]) {
		t.Errorf("the saved audio is not the start of what was recorded")
	}
	if names := files(t, e.dir, "1001"); !slices.Equal(names, []string{list[0].ID + ".wav"}) {
		t.Errorf("box folder holds %v after reopening", names)
	}
	wantCounts(t, e.s, "1001", 1, 0)
	r.f.Close()
}

func TestCrashCutRecordingTooShortIsDropped(t *testing.T) {
	e := newEnv(t)
	r, err := e.s.Record("1001", "2001", "")
	if err != nil {
		t.Fatal(err)
	}
	writeFrames(t, r, tone(4000, 1)) // half a second, still in the write buffer
	e.reopen(t)
	if list, _ := e.s.List("1001"); len(list) != 0 {
		t.Errorf("List = %+v, want nothing", list)
	}
	if names := files(t, e.dir, "1001"); len(names) != 0 {
		t.Errorf("box folder holds %v after reopening", names)
	}
	r.f.Close()
}

func TestCommittedMessageSurvivesReopen(t *testing.T) {
	e := newEnv(t)
	audio := tone(8000, 2)
	m := leave(t, e.s, "1001", audio)
	if err := e.s.SetHeard("1001", m.ID, true); err != nil {
		t.Fatal(err)
	}
	e.reopen(t)
	got, err := e.s.Get("1001", m.ID)
	if err != nil {
		t.Fatal(err)
	}
	m.Heard = true
	if !equalMsg(got, m) {
		t.Errorf("after reopening Get = %+v, want %+v", got, m)
	}
	path, err := e.s.Path("1001", m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if samples := readWAV(t, path); !slices.Equal(samples, audio) {
		t.Errorf("audio changed across reopening")
	}
	wantCounts(t, e.s, "1001", 0, 1)
}

func TestReopenRemovesWAVWithoutMetadata(t *testing.T) {
	e := newEnv(t)
	m := leave(t, e.s, "1001", tone(800, 1))
	src, err := e.s.Path("1001", m.ID)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	// Orphans in a known box and in a box with no metadata at all.
	orphans := []string{
		filepath.Join(e.dir, "1001", "20260101T000000000Z-deadbeef.wav"),
		filepath.Join(e.dir, "1002", "20260101T000000000Z-deadbeef.wav"),
	}
	if err := os.MkdirAll(filepath.Join(e.dir, "1002"), 0o750); err != nil {
		t.Fatal(err)
	}
	for _, p := range orphans {
		if err := os.WriteFile(p, data, 0o640); err != nil {
			t.Fatal(err)
		}
	}
	// Not ours: left alone.
	foreign := filepath.Join(e.dir, "1001", "greeting.mp3")
	if err := os.WriteFile(foreign, data, 0o640); err != nil {
		t.Fatal(err)
	}

	e.reopen(t)
	for _, p := range orphans {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s still there: %v", p, err)
		}
	}
	if _, err := os.Stat(foreign); err != nil {
		t.Errorf("foreign file removed: %v", err)
	}
	list, _ := e.s.List("1001")
	if len(list) != 1 || list[0].ID != m.ID {
		t.Errorf("List = %+v, want only %s", list, m.ID)
	}
	if list, _ := e.s.List("1002"); len(list) != 0 {
		t.Errorf("orphan adopted: %+v", list)
	}
}

func TestReopenRemovesMetadataWithoutWAV(t *testing.T) {
	e := newEnv(t)
	keep := leave(t, e.s, "1001", tone(800, 1))
	lost := leave(t, e.s, "1001", tone(800, 2))
	heardLost := leave(t, e.s, "1001", tone(800, 3))
	if err := e.s.SetHeard("1001", heardLost.ID, true); err != nil {
		t.Fatal(err)
	}
	wholeBox := leave(t, e.s, "1002", tone(800, 4))
	for _, m := range []Message{lost, heardLost} {
		if err := os.Remove(filepath.Join(e.dir, "1001", m.ID+".wav")); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.RemoveAll(filepath.Join(e.dir, "1002")); err != nil {
		t.Fatal(err)
	}

	e.reopen(t)
	list, _ := e.s.List("1001")
	if len(list) != 1 || list[0].ID != keep.ID {
		t.Errorf("List(1001) = %+v, want only %s", list, keep.ID)
	}
	wantCounts(t, e.s, "1001", 1, 0)
	if _, err := e.s.Get("1002", wholeBox.ID); err == nil {
		t.Errorf("message of a box whose folder vanished still listed")
	}
	wantCounts(t, e.s, "1002", 0, 0)
}
