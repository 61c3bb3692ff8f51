package mailbox

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

// frame is 20 ms at 8 kHz, what a call hands Recording.Write.
const frame = 160

// openDB opens (or reopens) the bbolt file at path and closes it at the end
// of the test; closing it earlier is fine.
func openDB(t testing.TB, path string) *bbolt.DB {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// openStore opens a Store on db and dir and closes it at the end of the test.
func openStore(t testing.TB, db *bbolt.DB, dir string) *Store {
	t.Helper()
	s, err := Open(db, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// env is a store on fresh files; dbPath and dir allow reopening it.
type env struct {
	dbPath, dir string
	db          *bbolt.DB
	s           *Store
}

func newEnv(t testing.TB) *env {
	t.Helper()
	root := t.TempDir()
	e := &env{dbPath: filepath.Join(root, "switchboard.db"), dir: filepath.Join(root, "voicemail")}
	e.db = openDB(t, e.dbPath)
	e.s = openStore(t, e.db, e.dir)
	return e
}

// reopen simulates a restart: the store and DB are closed and opened again.
func (e *env) reopen(t testing.TB) {
	t.Helper()
	e.s.Close()
	if err := e.db.Close(); err != nil {
		t.Fatal(err)
	}
	e.db = openDB(t, e.dbPath)
	e.s = openStore(t, e.db, e.dir)
}

// tone returns n deterministic samples that differ with seed, so a test can
// tell one message's audio from another's.
func tone(n int, seed int16) []int16 {
	s := make([]int16, n)
	for i := range s {
		s[i] = int16(i*7)*seed + seed
	}
	return s
}

// writeFrames writes samples to r in 20 ms frames, as a call does.
func writeFrames(t testing.TB, r *Recording, samples []int16) {
	t.Helper()
	for len(samples) > 0 {
		n := min(frame, len(samples))
		if err := r.Write(samples[:n]); err != nil {
			t.Fatal(err)
		}
		samples = samples[n:]
	}
}

// leave records samples as a message in box and commits it.
func leave(t testing.TB, s *Store, box string, samples []int16) Message {
	t.Helper()
	r, err := s.Record(box, "2001", "Reception")
	if err != nil {
		t.Fatal(err)
	}
	writeFrames(t, r, samples)
	m, err := r.Commit(0)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// readWAV parses a file as the 44-byte 8 kHz mono 16-bit header the
// recorder writes, checks that both sizes match the data actually there and
// returns the samples.
func readWAV(t testing.TB, path string) []int16 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 44 {
		t.Fatalf("%s: %d bytes, shorter than a WAV header", path, len(b))
	}
	le := binary.LittleEndian
	checks := []struct {
		name      string
		got, want any
	}{
		{"RIFF tag", string(b[0:4]), "RIFF"},
		{"RIFF size", le.Uint32(b[4:]), uint32(len(b) - 8)},
		{"WAVE tag", string(b[8:12]), "WAVE"},
		{"fmt tag", string(b[12:16]), "fmt "},
		{"format", le.Uint16(b[20:]), uint16(1)},
		{"channels", le.Uint16(b[22:]), uint16(1)},
		{"rate", le.Uint32(b[24:]), uint32(8000)},
		{"bits", le.Uint16(b[34:]), uint16(16)},
		{"data tag", string(b[36:40]), "data"},
		{"data size", le.Uint32(b[40:]), uint32(len(b) - 44)},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: %s = %v, want %v", path, c.name, c.got, c.want)
		}
	}
	samples := make([]int16, (len(b)-44)/2)
	if err := binary.Read(bytes.NewReader(b[44:]), le, samples); err != nil {
		t.Fatal(err)
	}
	return samples
}

// files lists the names in a box's folder.
func files(t testing.TB, dir, box string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(dir, box))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func wantCounts(t testing.TB, s *Store, box string, wantNew, wantOld int) {
	t.Helper()
	n, o, err := s.Counts(box)
	if err != nil {
		t.Fatal(err)
	}
	if n != wantNew || o != wantOld {
		t.Errorf("Counts(%s) = %d new, %d old; want %d, %d", box, n, o, wantNew, wantOld)
	}
}
