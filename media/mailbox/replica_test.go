package mailbox

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestImportKeepsAMessageFromElsewhere: a message recorded in one store, imported into another
// with its id, details and audio, lists, plays and counts there the same; survives a restart;
// a second import of it is ErrExists; and imports are not reported as changes.
func TestImportKeepsAMessageFromElsewhere(t *testing.T) {
	from, to := newEnv(t), newEnv(t)
	var reported []Change
	to.s.OnChange(func(c Change) { reported = append(reported, c) })
	m := leave(t, from.s, "1002", tone(8000, 3))
	path, err := from.s.Path("1002", m.ID)
	if err != nil {
		t.Fatal(err)
	}
	audio, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m.Box = "1002"
	if err := to.s.Import(m, bytes.NewReader(audio)); err != nil {
		t.Fatal(err)
	}
	if err := to.s.Import(m, bytes.NewReader(audio)); !errors.Is(err, ErrExists) {
		t.Fatalf("second import: %v, want ErrExists", err)
	}
	to.reopen(t)
	got, err := to.s.Get("1002", m.ID)
	if err != nil || got.From != m.From || !got.Received.Equal(m.Received) || got.DurationMS != m.DurationMS || got.Heard {
		t.Fatalf("imported message %+v (%v), want %+v", got, err, m)
	}
	p, _ := to.s.Path("1002", m.ID)
	if !slices.Equal(readWAV(t, p), tone(8000, 3)) {
		t.Fatal("imported audio differs")
	}
	wantCounts(t, to.s, "1002", 1, 0)
	if len(reported) != 0 {
		t.Fatalf("imports reported as changes: %+v", reported)
	}
	if fs := files(t, to.dir, "1002"); len(fs) != 1 || filepath.Ext(fs[0]) != ".wav" {
		t.Fatalf("box folder holds %v, want the one WAV", fs)
	}
}

// TestChangesAreReported: committing, marking heard (and new again), and deleting are each
// reported once after they commit; a change that changes nothing is not.
func TestChangesAreReported(t *testing.T) {
	e := newEnv(t)
	var got []Change
	e.s.OnChange(func(c Change) { got = append(got, c) })
	m := leave(t, e.s, "1003", tone(4000, 1))
	for _, heard := range []bool{true, true, false} {
		if err := e.s.SetHeard("1003", m.ID, heard); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.s.Delete("1003", m.ID); err != nil {
		t.Fatal(err)
	}
	_ = e.s.Delete("1003", m.ID) // not there: nothing to report
	kinds := []ChangeKind{}
	for _, c := range got {
		kinds = append(kinds, c.Kind)
		if c.Message.ID != m.ID || c.Message.Box != "1003" {
			t.Fatalf("change %+v names another message", c)
		}
	}
	if want := []ChangeKind{Added, Heard, Heard, Deleted}; !slices.Equal(kinds, want) {
		t.Fatalf("reported %v, want %v", kinds, want)
	}
	if !got[1].Message.Heard || got[2].Message.Heard {
		t.Fatalf("heard changes %+v %+v", got[1].Message, got[2].Message)
	}
}

// TestAnImportCutShortIsCleanedUp: an import a crash interrupted leaves a file no listing
// shows, and the next Open removes it.
func TestAnImportCutShortIsCleanedUp(t *testing.T) {
	e := newEnv(t)
	m := leave(t, e.s, "1004", tone(800, 2))
	stray := filepath.Join(e.dir, "1004", "20261204T100000000Z-0a0b0c0d"+importExt)
	if err := os.WriteFile(stray, []byte("RIFF"), 0o640); err != nil {
		t.Fatal(err)
	}
	e.reopen(t)
	if _, err := os.Stat(stray); !os.IsNotExist(err) {
		t.Fatalf("the cut-off import is still there: %v", err)
	}
	if msgs, _ := e.s.List("1004"); len(msgs) != 1 || msgs[0].ID != m.ID {
		t.Fatalf("box lists %+v, want the one message", msgs)
	}
}
