package mailbox

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

func TestCommittedMessageListedWithItsAudio(t *testing.T) {
	e := newEnv(t)
	audio := tone(12000, 3) // 1.5 s
	r, err := e.s.Record("1001", "2001", "Reception")
	if err != nil {
		t.Fatal(err)
	}
	writeFrames(t, r, audio)
	if got := r.Duration(); got != 1500*time.Millisecond {
		t.Errorf("Duration() = %v, want 1.5s", got)
	}
	m, err := r.Commit(time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if m.ID != r.ID() || m.Box != "1001" || m.From != "2001" || m.FromName != "Reception" ||
		m.DurationMS != 1500 || m.Heard || m.Received.IsZero() {
		t.Errorf("Commit returned %+v", m)
	}

	list, err := e.s.List("1001")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || !equalMsg(list[0], m) {
		t.Fatalf("List = %+v, want [%+v]", list, m)
	}
	got, err := e.s.Get("1001", m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !equalMsg(got, m) {
		t.Errorf("Get = %+v, want %+v", got, m)
	}
	path, err := e.s.Path("1001", m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(e.dir, "1001", m.ID+".wav"); path != want {
		t.Errorf("Path = %s, want %s", path, want)
	}
	if samples := readWAV(t, path); !slices.Equal(samples, audio) {
		t.Errorf("WAV holds %d samples, not the %d written", len(samples), len(audio))
	}
	if names := files(t, e.dir, "1001"); !slices.Equal(names, []string{m.ID + ".wav"}) {
		t.Errorf("box folder holds %v", names)
	}
	wantCounts(t, e.s, "1001", 1, 0)
	wantCounts(t, e.s, "1002", 0, 0)
}

// equalMsg compares messages, times with Equal since they went through JSON.
func equalMsg(a, b Message) bool {
	ta, tb := a.Received, b.Received
	a.Received, b.Received = time.Time{}, time.Time{}
	return a == b && ta.Equal(tb)
}

func TestListNewestFirst(t *testing.T) {
	e := newEnv(t)
	// A stuck clock: ids must still sort in recording order.
	at := time.Date(2026, 11, 25, 7, 45, 12, 0, time.UTC)
	e.s.now = func() time.Time { return at }
	var ids []string
	for i := range 4 {
		ids = append(ids, leave(t, e.s, "1001", tone(800, int16(i+1))).ID)
	}
	leave(t, e.s, "1002", tone(800, 9)) // another box stays out of the list

	list, err := e.s.List("1001")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range list {
		got = append(got, m.ID)
	}
	slices.Reverse(ids)
	if !slices.Equal(got, ids) {
		t.Errorf("List order = %v, want %v", got, ids)
	}
	if !strings.HasPrefix(ids[3], "20261125T074512000Z-") {
		t.Errorf("first id %s does not start with the time", ids[3])
	}
	wantCounts(t, e.s, "1001", 4, 0)

	empty, err := e.s.List("1003")
	if err != nil || empty == nil || len(empty) != 0 {
		t.Errorf("List of an unused box = %v, %v; want empty, nil", empty, err)
	}
}

func TestSetHeardMovesCounts(t *testing.T) {
	e := newEnv(t)
	a := leave(t, e.s, "1001", tone(800, 1))
	b := leave(t, e.s, "1001", tone(800, 2))

	steps := []struct {
		id               string
		heard            bool
		wantNew, wantOld int
	}{
		{a.ID, true, 1, 1},
		{a.ID, true, 1, 1}, // again: no change
		{b.ID, true, 0, 2},
		{a.ID, false, 1, 1},
	}
	for _, st := range steps {
		if err := e.s.SetHeard("1001", st.id, st.heard); err != nil {
			t.Fatal(err)
		}
		wantCounts(t, e.s, "1001", st.wantNew, st.wantOld)
		m, err := e.s.Get("1001", st.id)
		if err != nil {
			t.Fatal(err)
		}
		if m.Heard != st.heard {
			t.Errorf("after SetHeard(%s, %t) Get says heard=%t", st.id, st.heard, m.Heard)
		}
	}
	if err := e.s.SetHeard("1001", "20261125T074512000Z-00000000", true); !errors.Is(err, ErrNotFound) {
		t.Errorf("SetHeard of a missing message: %v, want ErrNotFound", err)
	}
}

func TestDeleteRemovesFileAndMetadata(t *testing.T) {
	e := newEnv(t)
	keep := leave(t, e.s, "1001", tone(800, 1))
	gone := leave(t, e.s, "1001", tone(800, 2))
	if err := e.s.SetHeard("1001", gone.ID, true); err != nil {
		t.Fatal(err)
	}
	path, err := e.s.Path("1001", gone.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.s.Delete("1001", gone.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("audio still there after Delete: %v", err)
	}
	if _, err := e.s.Get("1001", gone.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after Delete: %v, want ErrNotFound", err)
	}
	if _, err := e.s.Path("1001", gone.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("Path after Delete: %v, want ErrNotFound", err)
	}
	if err := e.s.Delete("1001", gone.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Delete: %v, want ErrNotFound", err)
	}
	list, _ := e.s.List("1001")
	if len(list) != 1 || list[0].ID != keep.ID {
		t.Errorf("List after Delete = %+v, want only %s", list, keep.ID)
	}
	wantCounts(t, e.s, "1001", 1, 0)
}

func TestTooShortRecordingDiscarded(t *testing.T) {
	e := newEnv(t)
	r, err := e.s.Record("1001", "2001", "")
	if err != nil {
		t.Fatal(err)
	}
	writeFrames(t, r, tone(7999, 1)) // one sample short of a second
	if _, err := r.Commit(time.Second); !errors.Is(err, ErrTooShort) {
		t.Fatalf("Commit: %v, want ErrTooShort", err)
	}
	if names := files(t, e.dir, "1001"); len(names) != 0 {
		t.Errorf("box folder holds %v after a discarded recording", names)
	}
	list, _ := e.s.List("1001")
	if len(list) != 0 {
		t.Errorf("List = %+v, want empty", list)
	}
	wantCounts(t, e.s, "1001", 0, 0)
	if err := r.Write(tone(160, 1)); !errors.Is(err, ErrFinished) {
		t.Errorf("Write after discard: %v, want ErrFinished", err)
	}
	if err := r.Abort(); err != nil {
		t.Errorf("Abort after discard: %v", err)
	}
}

func TestAbortDeletesRecording(t *testing.T) {
	e := newEnv(t)
	r, err := e.s.Record("1001", "2001", "")
	if err != nil {
		t.Fatal(err)
	}
	writeFrames(t, r, tone(40000, 1))
	if err := r.Abort(); err != nil {
		t.Fatal(err)
	}
	if names := files(t, e.dir, "1001"); len(names) != 0 {
		t.Errorf("box folder holds %v after Abort", names)
	}
	if _, err := r.Commit(0); !errors.Is(err, ErrFinished) {
		t.Errorf("Commit after Abort: %v, want ErrFinished", err)
	}
}

func TestAbortAfterCommitKeepsMessage(t *testing.T) {
	e := newEnv(t)
	r, err := e.s.Record("1001", "2001", "")
	if err != nil {
		t.Fatal(err)
	}
	writeFrames(t, r, tone(800, 1))
	m, err := r.Commit(0)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Abort(); err != nil { // the deferred Abort of a caller
		t.Fatal(err)
	}
	if _, err := e.s.Path("1001", m.ID); err != nil {
		t.Errorf("message gone after Abort following Commit: %v", err)
	}
}

func TestInvalidNamesRejected(t *testing.T) {
	e := newEnv(t)
	m := leave(t, e.s, "1001", tone(800, 1))
	// A file outside the store that a traversal would reach.
	secret := filepath.Join(filepath.Dir(e.dir), "secret.wav")
	if err := os.WriteFile(secret, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}

	ids := map[string]string{
		"parent traversal":  "../../etc/passwd",
		"sibling traversal": "../secret",
		"dot dot":           "..",
		"dot":               ".",
		"extension":         m.ID + ".wav",
		"slash":             "a/b",
		"backslash":         `a\b`,
		"escaped dots":      "%2e%2e",
		"empty":             "",
		"nul":               "a\x00b",
		"too long":          strings.Repeat("a", 65),
	}
	for name, id := range ids {
		t.Run("id "+name, func(t *testing.T) {
			if _, err := e.s.Get("1001", id); !errors.Is(err, ErrNotFound) {
				t.Errorf("Get: %v", err)
			}
			if p, err := e.s.Path("1001", id); !errors.Is(err, ErrNotFound) {
				t.Errorf("Path = %q, %v", p, err)
			}
			if err := e.s.SetHeard("1001", id, true); !errors.Is(err, ErrNotFound) {
				t.Errorf("SetHeard: %v", err)
			}
			if err := e.s.Delete("1001", id); !errors.Is(err, ErrNotFound) {
				t.Errorf("Delete: %v", err)
			}
		})
	}

	boxes := map[string]string{
		"traversal": "../1001",
		"letters":   "alice",
		"mixed":     "1001a",
		"empty":     "",
		"dot":       ".",
		"too long":  strings.Repeat("1", 33),
	}
	for name, box := range boxes {
		t.Run("box "+name, func(t *testing.T) {
			if _, err := e.s.List(box); !errors.Is(err, ErrNotFound) {
				t.Errorf("List: %v", err)
			}
			if _, _, err := e.s.Counts(box); !errors.Is(err, ErrNotFound) {
				t.Errorf("Counts: %v", err)
			}
			if _, err := e.s.Get(box, m.ID); !errors.Is(err, ErrNotFound) {
				t.Errorf("Get: %v", err)
			}
			if _, err := e.s.Path(box, m.ID); !errors.Is(err, ErrNotFound) {
				t.Errorf("Path: %v", err)
			}
			if err := e.s.Delete(box, m.ID); !errors.Is(err, ErrNotFound) {
				t.Errorf("Delete: %v", err)
			}
			if r, err := e.s.Record(box, "2001", ""); !errors.Is(err, ErrInvalidBox) {
				t.Errorf("Record: %v", err)
				if r != nil {
					r.Abort()
				}
			}
		})
	}
	if _, err := os.Stat(secret); err != nil {
		t.Errorf("file outside the store touched: %v", err)
	}
	if _, err := e.s.Get("1001", m.ID); err != nil {
		t.Errorf("real message lost: %v", err)
	}
}

func TestOnlyVoicemailBucketsUsed(t *testing.T) {
	e := newEnv(t)
	err := e.db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucket([]byte("presence"))
		if err != nil {
			return err
		}
		return b.Put([]byte("1001"), []byte("busy"))
	})
	if err != nil {
		t.Fatal(err)
	}
	m := leave(t, e.s, "1001", tone(800, 1))
	if err := e.s.Delete("1001", m.ID); err != nil {
		t.Fatal(err)
	}
	e.reopen(t)
	err = e.db.View(func(tx *bbolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bbolt.Bucket) error {
			if n := string(name); n != "presence" && !strings.HasPrefix(n, "voicemail") {
				t.Errorf("bucket %q created", n)
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	err = e.db.View(func(tx *bbolt.Tx) error {
		if v := tx.Bucket([]byte("presence")).Get([]byte("1001")); string(v) != "busy" {
			t.Errorf("other bucket changed: %q", v)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestRecordAfterCloseFails(t *testing.T) {
	e := newEnv(t)
	e.s.Close()
	if r, err := e.s.Record("1001", "2001", ""); !errors.Is(err, ErrClosed) {
		t.Errorf("Record after Close: %v", err)
		if r != nil {
			r.Abort()
		}
	}
	if err := e.s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestRecordingWriteDoesNotAllocate(t *testing.T) {
	e := newEnv(t)
	r, err := e.s.Record("1001", "2001", "")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Abort()
	audio := tone(frame, 1)
	// Enough runs to cross several buffer flushes.
	if n := testing.AllocsPerRun(1000, func() { r.Write(audio) }); n != 0 {
		t.Errorf("Write allocates %v times per 20 ms frame, want 0", n)
	}
}

func BenchmarkRecordingWrite(b *testing.B) {
	e := newEnv(b)
	r, err := e.s.Record("1001", "2001", "")
	if err != nil {
		b.Fatal(err)
	}
	defer r.Abort()
	audio := tone(frame, 1)
	b.ReportAllocs()
	for b.Loop() {
		if err := r.Write(audio); err != nil {
			b.Fatal(err)
		}
	}
}
