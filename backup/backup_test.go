package backup

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// TestRestoreGivesBackEverything: an archive of a data dir with messages in
// two boxes, an uploaded greeting and other buckets restores into an empty
// folder as the same records and the same bytes, and the staging folders of
// both ends are gone.
func TestRestoreGivesBackEverything(t *testing.T) {
	d := newDataDir(t)
	m1 := d.message(t, "1003", 500*time.Millisecond)
	m2 := d.message(t, "1001", 300*time.Millisecond)
	greet := d.greeting(t, "1003", "no_answer")
	if err := d.box.SetHeard("1001", m2.ID, true); err != nil {
		t.Fatal(err)
	}
	archive := d.archive(t)
	if h := hidden(t, d.path); len(h) != 0 {
		t.Errorf("the data dir keeps %v after the backup", h)
	}

	m, err := Verify(bytes.NewReader(archive))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Files) != 4 || m.Files[0].Path != DBFile || m.Switchboard != "test" {
		t.Errorf("manifest %+v, want the DB first and three WAVs", m)
	}

	dst := filepath.Join(t.TempDir(), "fresh")
	if _, err := Restore(bytes.NewReader(archive), dst, false); err != nil {
		t.Fatal(err)
	}
	if h := hidden(t, dst); len(h) != 0 {
		t.Errorf("the restored dir keeps %v", h)
	}
	db, box := restored(t, dst)
	for _, want := range []struct {
		box string
		id  string
	}{{"1003", m1.ID}, {"1001", m2.ID}} {
		got, err := box.Get(want.box, want.id)
		if err != nil {
			t.Errorf("box %s: %v", want.box, err)
			continue
		}
		p, _ := box.Path(want.box, want.id)
		orig, _ := d.box.Path(want.box, want.id)
		if a, b := readFile(t, p), readFile(t, orig); !bytes.Equal(a, b) {
			t.Errorf("message %s: %d bytes restored, %d in the original", want.id, len(a), len(b))
		}
		t.Logf("restored %+v", got)
	}
	if n, o, _ := box.Counts("1001"); n != 0 || o != 1 {
		t.Errorf("box 1001 counts %d new %d old, want 0 and 1 (heard)", n, o)
	}
	if got := readFile(t, filepath.Join(dst, GreetingsDir, "1003", "no_answer.wav")); !bytes.Equal(got, greet) {
		t.Errorf("greeting: %d bytes restored, want %d", len(got), len(greet))
	}
	err = db.View(func(tx *bbolt.Tx) error {
		if v := tx.Bucket(otherBucket).Get([]byte("1001")); string(v) != `{"status":"dnd"}` {
			t.Errorf("presence bucket holds %q", v)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestSnapshotStaysConsistentWhileTheSwitchWorks: a message deleted and one
// recorded between the DB's copy and the audio's linking leave an archive
// in which every listed message has its audio and no audio lacks a record:
// the deleted message is not listed (its audio went), the new one not
// included (its record came after the copy).
func TestSnapshotStaysConsistentWhileTheSwitchWorks(t *testing.T) {
	d := newDataDir(t)
	kept := d.message(t, "1003", 300*time.Millisecond)
	doomed := d.message(t, "1003", 300*time.Millisecond)
	var late string
	s, err := take(d.db, d.path, "test", func() {
		if err := d.box.Delete("1003", doomed.ID); err != nil {
			t.Error(err)
		}
		late = d.message(t, "1003", 300*time.Millisecond).ID
	})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := s.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	var wavs []string
	for _, f := range s.Manifest().Files {
		if f.Path != DBFile {
			wavs = append(wavs, f.Path)
		}
	}
	if want := "voicemail/1003/" + kept.ID + ".wav"; len(wavs) != 1 || wavs[0] != want {
		t.Errorf("archive holds audio %v, want only %s", wavs, want)
	}
	dst := filepath.Join(t.TempDir(), "fresh")
	if _, err := Restore(&buf, dst, false); err != nil {
		t.Fatal(err)
	}
	_, box := restored(t, dst)
	msgs, err := box.List("1003")
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || msgs[0].ID != kept.ID {
		t.Errorf("restored box lists %+v, want only %s (deleted %s, late %s)", msgs, kept.ID, doomed.ID, late)
	}
	if n, o, _ := box.Counts("1003"); n != 1 || o != 0 {
		t.Errorf("restored counts %d new %d old, want 1 and 0", n, o)
	}
	// The live data dir lost nothing to the backup.
	if live, _ := d.box.List("1003"); len(live) != 2 {
		t.Errorf("the live box lists %d messages after the backup, want 2", len(live))
	}
}

// TestRestoreRefusesABusyOrFullDataDir: a data dir whose DB is open
// elsewhere is refused even when told to replace; one with files is refused
// unless told to replace, and then holds the archive's files alone.
func TestRestoreRefusesABusyOrFullDataDir(t *testing.T) {
	d := newDataDir(t)
	d.message(t, "1003", 300*time.Millisecond)
	archive := d.archive(t)

	if _, err := Restore(bytes.NewReader(archive), d.path, true); !errors.Is(err, ErrInUse) {
		t.Errorf("restore into the open data dir: %v, want ErrInUse", err)
	}

	full := filepath.Join(t.TempDir(), "full")
	if err := os.MkdirAll(filepath.Join(full, "voicemail", "9999"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(full, "notes.txt"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Restore(bytes.NewReader(archive), full, false)
	if !errors.Is(err, ErrNotEmpty) {
		t.Fatalf("restore into a dir with files: %v, want ErrNotEmpty", err)
	}
	t.Log(err)
	if _, err := Restore(bytes.NewReader(archive), full, true); err != nil {
		t.Fatalf("restore replacing: %v", err)
	}
	for _, gone := range []string{"notes.txt", "voicemail/9999"} {
		if _, err := os.Stat(filepath.Join(full, gone)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s is still there after a replacing restore: %v", gone, err)
		}
	}
	if h := hidden(t, full); len(h) != 0 {
		t.Errorf("the restored dir keeps %v", h)
	}
	_, box := restored(t, full)
	if msgs, _ := box.List("1003"); len(msgs) != 1 {
		t.Errorf("restored box lists %+v, want the one message", msgs)
	}
}

func readFile(t testing.TB, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRestoreAsRootGivesTheDataDirsOwner: root restoring into a data dir a service's user
// owns leaves every file that user's, or the service could not open its own DB.
func TestRestoreAsRootGivesTheDataDirsOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root, to own files as another user")
	}
	d := newDataDir(t)
	d.message(t, "1003", 300*time.Millisecond)
	d.greeting(t, "1003", "busy")
	archive := d.archive(t)
	dst := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dst, 0o750); err != nil {
		t.Fatal(err)
	}
	const uid, gid = 61234, 61235
	if err := os.Chown(dst, uid, gid); err != nil {
		t.Fatal(err)
	}
	if _, err := Restore(bytes.NewReader(archive), dst, false); err != nil {
		t.Fatal(err)
	}
	n := 0
	err := filepath.WalkDir(dst, func(p string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != uid || st.Gid != gid {
			t.Errorf("%s is owned by %d:%d, want %d:%d", p, st.Uid, st.Gid, uid, gid)
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 6 { // dst, the DB, two folders and a file each
		t.Errorf("walked %d paths, want the DB, voicemail and greeting", n)
	}
}

// TestRestoreKeepsASwitchOut: while a restore replaces a data dir, a switch started on it
// cannot open the DB (its lock times out) rather than open the one being replaced; once the
// restore is done it can.
func TestRestoreKeepsASwitchOut(t *testing.T) {
	d := newDataDir(t)
	d.message(t, "1003", 300*time.Millisecond)
	archive := d.archive(t)
	dst := filepath.Join(t.TempDir(), "data")
	if _, err := Restore(bytes.NewReader(archive), dst, false); err != nil {
		t.Fatal(err)
	}

	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		_, err := Restore(pr, dst, true)
		done <- err
	}()
	// Restore reads the archive only after taking the lock: once it has read some, it holds it.
	if _, err := pw.Write(archive[:len(archive)/2]); err != nil {
		t.Fatal(err)
	}
	db, err := bbolt.Open(filepath.Join(dst, DBFile), 0o600, &bbolt.Options{Timeout: 200 * time.Millisecond})
	if err == nil {
		db.Close()
		t.Error("a switch could open the DB while a restore replaced it")
	} else if !errors.Is(err, bolterrors.ErrTimeout) {
		t.Errorf("opening the DB during a restore: %v, want a lock timeout", err)
	}
	if _, err := pw.Write(archive[len(archive)/2:]); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	db, err = bbolt.Open(filepath.Join(dst, DBFile), 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatalf("after the restore: %v", err)
	}
	db.Close()
}
