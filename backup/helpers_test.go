package backup

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/switchboard-voip/switchboard/media"
	"github.com/switchboard-voip/switchboard/media/mailbox"
)

// dataDir is a data dir as a running switch has it: its DB open, a mailbox
// on it, a bucket standing for the other packages' data.
type dataDir struct {
	path string
	db   *bbolt.DB
	box  *mailbox.Store
}

// otherBucket stands for presence's and history's buckets, which a backup
// copies as they are.
var otherBucket = []byte("presence")

func newDataDir(t testing.TB) *dataDir {
	t.Helper()
	d := &dataDir{path: filepath.Join(t.TempDir(), "data")}
	if err := os.MkdirAll(d.path, 0o750); err != nil {
		t.Fatal(err)
	}
	var err error
	d.db, err = bbolt.Open(filepath.Join(d.path, DBFile), 0o600, &bbolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.db.Close() })
	d.box, err = mailbox.Open(d.db, filepath.Join(d.path, VoicemailDir))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.box.Close() })
	err = d.db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(otherBucket)
		if err != nil {
			return err
		}
		return b.Put([]byte("1001"), []byte(`{"status":"dnd"}`))
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// message records and commits a message of d of the given length.
func (d *dataDir) message(t testing.TB, box string, length time.Duration) mailbox.Message {
	t.Helper()
	r, err := d.box.Record(box, "1002", "Bob")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Write(media.Tone(1000, 0.3, length)); err != nil {
		t.Fatal(err)
	}
	m, err := r.Commit(0)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// greeting writes an uploaded greeting file as media/greeting stores one.
func (d *dataDir) greeting(t testing.TB, ext, kind string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := media.WriteWAV(&buf, media.Tone(440, 0.3, 300*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(d.path, GreetingsDir, ext)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, kind+".wav"), buf.Bytes(), 0o640); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// archive takes a snapshot of d and returns it written out.
func (d *dataDir) archive(t testing.TB) []byte {
	t.Helper()
	s, err := Take(d.db, d.path, "test")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var buf bytes.Buffer
	if _, err := s.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// restored opens the DB and mailbox of a restored data dir, closed at the
// test's end.
func restored(t testing.TB, dir string) (*bbolt.DB, *mailbox.Store) {
	t.Helper()
	db, err := bbolt.Open(filepath.Join(dir, DBFile), 0o600, &bbolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	box, err := mailbox.Open(db, filepath.Join(dir, VoicemailDir))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { box.Close() })
	return db, box
}

// hidden lists the names starting with a dot in dir: staging folders left behind.
func hidden(t testing.TB, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range des {
		if d.Name()[0] == '.' {
			names = append(names, d.Name())
		}
	}
	return names
}
