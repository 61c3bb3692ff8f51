// Package mailbox keeps voicemail: each message is a WAV file in a folder per
// box (extension) plus a metadata record in a bbolt database.
//
// The durability contract is that a message exists if and only if its
// metadata record is committed. Commit makes the audio durable first (fsync
// the file, rename it from .part to .wav, fsync the folder) and only then
// writes the record, so a listed message always has its audio and a message
// acknowledged as saved survives a crash. A .part recording cut off by a crash
// is saved by Open as a message marked CutShort (the caller spoke); a .wav whose
// record was never written or was deleted is removed by Open.
//
// The package returns errors and never logs.
package mailbox

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"go.etcd.io/bbolt"

	"github.com/switchboard-voip/switchboard/internal/sortid"
)

// Bucket names. The DB is shared with the rest of the switch, so ours all
// start with "voicemail".
var (
	// messagesBucket holds one sub-bucket per box: message id → JSON Message.
	messagesBucket = []byte("voicemail.messages")
	// countsBucket holds box → new and old counts (two big-endian uint32),
	// kept in the same transactions as the messages; absent means 0, 0.
	countsBucket = []byte("voicemail.counts")
)

// File name suffixes in a box's folder.
const (
	partExt = ".part" // a recording in progress, never listed
	wavExt  = ".wav"  // a committed recording
)

// Permissions of what the store creates: voicemail is private.
const (
	dirPerm  = 0o750
	filePerm = 0o640
)

// Message is one voicemail.
type Message struct {
	// ID names the message within its box. It starts with the UTC time it
	// was received (20261125T074512123Z-1a2b3c4d), so ids sort by time,
	// and it is safe as a file name and a URL path segment.
	ID string `json:"id"`
	// Box is the extension the message was left for.
	Box string `json:"-"`
	// From is the caller's number or extension.
	From string `json:"from"`
	// FromName is the caller's display name, if any.
	FromName string `json:"from_name,omitempty"`
	// Received is when recording started, to the millisecond, in UTC.
	Received time.Time `json:"received"`
	// DurationMS is the length of the audio in milliseconds.
	DurationMS int64 `json:"duration_ms"`
	// Heard reports whether the box owner has listened to it; unheard
	// messages are the "new" ones of message-waiting indication.
	Heard bool `json:"heard"`
	// CutShort marks a message whose recording a crash interrupted: Open
	// saved what had reached the disk (see salvage.go).
	CutShort bool `json:"cut_short,omitempty"`
}

// Store is every user's mailbox: audio files under one folder and metadata
// in buckets of a bbolt DB owned by the caller. Its methods are safe for
// concurrent use. Only one Store may use a given folder at a time, since
// Open deletes whatever it finds unaccounted for there.
type Store struct {
	db    *bbolt.DB
	dir   string
	now   func() time.Time // replaced by tests
	notes *notifier

	ids sortid.Generator

	// seq numbers changes in commit order: it is incremented inside
	// write transactions, which bbolt runs one at a time, so the watcher
	// can tell a late-delivered older change from a newer one.
	seq    atomic.Uint64
	closed atomic.Bool

	onChange func(Change) // see OnChange
}

// Open returns the store of voicemail kept in db and under dir (created if
// missing, such as data_dir/voicemail). The caller keeps ownership of db:
// Store.Close does not close it.
//
// Open recovers from a crash before returning: it saves .part files
// (recordings a crash cut off) as messages marked CutShort, deletes metadata whose WAV file is missing,
// and deletes WAV files that have no metadata. See reconcile for why orphan
// audio is deleted rather than kept.
func Open(db *bbolt.DB, dir string) (*Store, error) {
	if err := os.MkdirAll(dir, dirPerm); err != nil {
		return nil, fmt.Errorf("mailbox: creating folder %s: %w", dir, err)
	}
	err := db.Update(func(tx *bbolt.Tx) error {
		if _, err := tx.CreateBucketIfNotExists(messagesBucket); err != nil {
			return err
		}
		_, err := tx.CreateBucketIfNotExists(countsBucket)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("mailbox: creating buckets: %w", err)
	}
	s := &Store{db: db, dir: dir, now: time.Now}
	if err := s.reconcile(); err != nil {
		return nil, err
	}
	s.notes = newNotifier()
	return s, nil
}

// Close stops the goroutine that calls watchers; changes not yet delivered
// are dropped. It does not close the DB, and recordings already started may
// still be committed. Close is idempotent. It waits for a watcher call
// under way to return, so it must not be called from a watcher.
func (s *Store) Close() error {
	s.closed.Store(true)
	s.notes.close()
	return nil
}

// msgRef names one message.
type msgRef struct{ box, id string }

// reconcile makes disk and metadata agree after a crash, in one directory
// listing per box and one key scan (no file stats, no JSON decoding except
// for stale records), so it stays cheap with thousands of messages.
//
// A WAV file without metadata is deleted, not adopted. Two things leave one
// behind: a crash in Commit between the rename and the metadata transaction,
// and a crash in Delete between the metadata transaction and the file
// removal. The caller was never told the first was saved (so the caller
// heard no "message saved" and nobody expects it), and the second was
// deleted on purpose; they cannot be told apart, and bringing a deleted
// message back is worse than dropping an unacknowledged one. Adopting would
// also need From and FromName, which live only in the metadata.
func (s *Store) reconcile() error {
	onDisk, err := s.scanFolders()
	if err != nil {
		return err
	}
	var stale []msgRef
	err = s.db.View(func(tx *bbolt.Tx) error {
		msgs := tx.Bucket(messagesBucket)
		return msgs.ForEachBucket(func(k []byte) error {
			box := string(k)
			files := onDisk[box]
			return msgs.Bucket(k).ForEach(func(id, _ []byte) error {
				if _, ok := files[string(id)]; ok {
					delete(files, string(id)) // accounted for
					return nil
				}
				stale = append(stale, msgRef{box, string(id)})
				return nil
			})
		})
	})
	if err != nil {
		return fmt.Errorf("mailbox: scanning metadata: %w", err)
	}
	// What is left on disk has no metadata.
	for box, ids := range onDisk {
		for id := range ids {
			if err := removeFile(s.wavPath(box, id)); err != nil {
				return fmt.Errorf("mailbox: removing unlisted recording: %w", err)
			}
		}
	}
	if len(stale) == 0 {
		return nil // no write transaction, so no fsync, in the normal case
	}
	err = s.db.Update(func(tx *bbolt.Tx) error {
		for _, m := range stale {
			c := readCounts(tx, m.box)
			if err := removeRecord(tx, m.box, m.id, &c); err != nil {
				return err
			}
			if err := writeCounts(tx, m.box, c); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("mailbox: deleting %d messages whose audio is missing: %w", len(stale), err)
	}
	return nil
}

// scanFolders salvages every .part file (a recording a crash cut off: a
// message marked CutShort, or removed when too short) and returns, per box
// folder, the ids of the .wav files found. Names that are not ours are left
// alone.
func (s *Store) scanFolders() (map[string]map[string]struct{}, error) {
	boxes, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("mailbox: listing %s: %w", s.dir, err)
	}
	onDisk := make(map[string]map[string]struct{}, len(boxes))
	for _, b := range boxes {
		if !b.IsDir() || !validBox(b.Name()) {
			continue
		}
		box := b.Name()
		folder := filepath.Join(s.dir, box)
		files, err := os.ReadDir(folder)
		if err != nil {
			return nil, fmt.Errorf("mailbox: listing %s: %w", folder, err)
		}
		ids := make(map[string]struct{}, len(files))
		for _, f := range files {
			name := f.Name()
			if id, ok := strings.CutSuffix(name, partExt); ok && validID(id) {
				saved, err := s.salvage(box, id)
				if err != nil {
					return nil, err
				}
				if saved {
					ids[id] = struct{}{}
				}
			} else if id, ok := strings.CutSuffix(name, wavExt); ok && validID(id) {
				ids[id] = struct{}{}
			} else if id, ok := strings.CutSuffix(name, importExt); ok && validID(id) {
				// An import a crash cut off: the node that recorded it still has it.
				if err := removeFile(filepath.Join(folder, name)); err != nil {
					return nil, fmt.Errorf("mailbox: removing %s: %w", name, err)
				}
			}
		}
		for _, f := range files { // who a finished or salvaged recording was from: done with
			if id, ok := strings.CutSuffix(f.Name(), callerExt); ok && validID(id) {
				if err := removeFile(filepath.Join(folder, f.Name())); err != nil {
					return nil, fmt.Errorf("mailbox: removing %s: %w", f.Name(), err)
				}
			}
		}
		onDisk[box] = ids
	}
	return onDisk, nil
}

// List returns the messages of box, newest first. A box that never had a
// message is empty, not an error.
func (s *Store) List(box string) ([]Message, error) {
	if !validBox(box) {
		return nil, fmt.Errorf("%w: box %q", ErrNotFound, box)
	}
	msgs := []Message{}
	err := s.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(messagesBucket).Bucket([]byte(box))
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Last(); k != nil; k, v = c.Prev() {
			m, err := decode(box, k, v)
			if err != nil {
				return err
			}
			msgs = append(msgs, m)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("mailbox: listing box %s: %w", box, err)
	}
	return msgs, nil
}

// Get returns one message. It fails with ErrNotFound if there is none, or
// if box or id is not a valid name.
func (s *Store) Get(box, id string) (Message, error) {
	if !validBox(box) || !validID(id) {
		return Message{}, fmt.Errorf("%w: %q in box %q", ErrNotFound, id, box)
	}
	var m Message
	err := s.db.View(func(tx *bbolt.Tx) error {
		v := lookup(tx, box, id)
		if v == nil {
			return fmt.Errorf("%w: %s in box %s", ErrNotFound, id, box)
		}
		var err error
		m, err = decode(box, []byte(id), v)
		return err
	})
	if err != nil {
		return Message{}, fmt.Errorf("mailbox: reading message: %w", err)
	}
	return m, nil
}

// Path returns the path of a message's WAV file (8 kHz mono 16-bit PCM),
// for playing it or serving it over HTTP. It fails with ErrNotFound like
// Get. The file may be deleted at any time by Delete; a reader that opened
// it first keeps reading it.
func (s *Store) Path(box, id string) (string, error) {
	if _, err := s.Get(box, id); err != nil {
		return "", err
	}
	return s.wavPath(box, id), nil
}

// SetHeard marks a message heard or new again. Watchers are told only if
// that changes the counts.
func (s *Store) SetHeard(box, id string, heard bool) error {
	if !validBox(box) || !validID(id) {
		return fmt.Errorf("%w: %q in box %q", ErrNotFound, id, box)
	}
	var changed Message
	err := s.change(box, func(tx *bbolt.Tx, c *counts) error {
		v := lookup(tx, box, id)
		if v == nil {
			return fmt.Errorf("%w: %s in box %s", ErrNotFound, id, box)
		}
		m, err := decode(box, []byte(id), v)
		if err != nil {
			return err
		}
		if m.Heard == heard {
			return errUnchanged
		}
		m.Heard = heard
		if heard {
			c.new--
			c.old++
		} else {
			c.new++
			c.old--
		}
		changed = m
		return putRecord(tx, m)
	})
	if err != nil {
		return fmt.Errorf("mailbox: marking message heard=%t: %w", heard, err)
	}
	if changed.ID != "" {
		s.changed(Change{Kind: Heard, Message: changed})
	}
	return nil
}

// Delete removes a message: the metadata first, then the file, so that a
// crash in between leaves an unlisted file (which Open removes) and never a
// listed message without audio. If only the file removal fails the message
// is gone all the same and the error says so; Open removes the file later.
func (s *Store) Delete(box, id string) error {
	if !validBox(box) || !validID(id) {
		return fmt.Errorf("%w: %q in box %q", ErrNotFound, id, box)
	}
	err := s.change(box, func(tx *bbolt.Tx, c *counts) error {
		return removeRecord(tx, box, id, c)
	})
	if err != nil {
		return fmt.Errorf("mailbox: deleting message: %w", err)
	}
	s.changed(Change{Kind: Deleted, Message: Message{Box: box, ID: id}})
	if err := removeFile(s.wavPath(box, id)); err != nil {
		return fmt.Errorf("mailbox: deleted message %s but not its audio: %w", id, err)
	}
	return nil
}

// Counts returns how many messages of box are new (unheard) and old. It
// reads a counter kept in the same transactions as the messages, so it is
// one key lookup however full the box, and it is exact: a counter updated in
// the transaction that changes a message cannot drift from it. Counts is
// called for every MWI SUBSCRIBE and REGISTER, more often than boxes change.
func (s *Store) Counts(box string) (newCount, oldCount int, err error) {
	if !validBox(box) {
		return 0, 0, fmt.Errorf("%w: box %q", ErrNotFound, box)
	}
	var c counts
	err = s.db.View(func(tx *bbolt.Tx) error {
		c = readCounts(tx, box)
		return nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("mailbox: reading counts of box %s: %w", box, err)
	}
	return c.new, c.old, nil
}

// errUnchanged aborts a change transaction that would change nothing, so
// no commit (fsync) happens and no watcher is told.
var errUnchanged = errors.New("mailbox: unchanged")

// change runs fn in a write transaction with the counts of box, saves the
// counts fn leaves, and after the commit tells the watchers. fn returning
// errUnchanged rolls back and makes change return nil.
func (s *Store) change(box string, fn func(tx *bbolt.Tx, c *counts) error) error {
	var (
		c   counts
		seq uint64
	)
	err := s.db.Update(func(tx *bbolt.Tx) error {
		c = readCounts(tx, box)
		if err := fn(tx, &c); err != nil {
			return err
		}
		if err := writeCounts(tx, box, c); err != nil {
			return err
		}
		seq = s.seq.Add(1)
		return nil
	})
	if errors.Is(err, errUnchanged) {
		return nil
	}
	if err != nil {
		return err
	}
	s.notes.publish(box, c, seq)
	return nil
}

// wavPath is where a committed message's audio lives. box and id must be
// valid.
func (s *Store) wavPath(box, id string) string {
	return filepath.Join(s.dir, box, id+wavExt)
}

// counts are a box's new and old message counts.
type counts struct{ new, old int }

func readCounts(tx *bbolt.Tx, box string) counts {
	v := tx.Bucket(countsBucket).Get([]byte(box))
	if len(v) != 8 {
		return counts{}
	}
	return counts{
		new: int(binary.BigEndian.Uint32(v[0:4])),
		old: int(binary.BigEndian.Uint32(v[4:8])),
	}
}

func writeCounts(tx *bbolt.Tx, box string, c counts) error {
	b := tx.Bucket(countsBucket)
	if c.new <= 0 && c.old <= 0 {
		return b.Delete([]byte(box))
	}
	v := make([]byte, 8) // bbolt keeps the slice until commit: no reuse
	binary.BigEndian.PutUint32(v[0:4], uint32(max(c.new, 0)))
	binary.BigEndian.PutUint32(v[4:8], uint32(max(c.old, 0)))
	return b.Put([]byte(box), v)
}

// lookup returns the stored JSON of a message, or nil. The slice is valid
// only inside tx.
func lookup(tx *bbolt.Tx, box, id string) []byte {
	b := tx.Bucket(messagesBucket).Bucket([]byte(box))
	if b == nil {
		return nil
	}
	return b.Get([]byte(id))
}

// putRecord writes m's metadata, creating its box's bucket if needed.
func putRecord(tx *bbolt.Tx, m Message) error {
	data, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encoding message %s: %w", m.ID, err)
	}
	b, err := tx.Bucket(messagesBucket).CreateBucketIfNotExists([]byte(m.Box))
	if err != nil {
		return fmt.Errorf("creating bucket of box %s: %w", m.Box, err)
	}
	return b.Put([]byte(m.ID), data)
}

// removeRecord deletes a message's metadata and takes it off c.
func removeRecord(tx *bbolt.Tx, box, id string, c *counts) error {
	v := lookup(tx, box, id)
	if v == nil {
		return fmt.Errorf("%w: %s in box %s", ErrNotFound, id, box)
	}
	m, err := decode(box, []byte(id), v)
	if err != nil {
		return err
	}
	if m.Heard {
		c.old--
	} else {
		c.new--
	}
	return tx.Bucket(messagesBucket).Bucket([]byte(box)).Delete([]byte(id))
}

// decode parses a stored record; the key is the authority for the id.
func decode(box string, id, v []byte) (Message, error) {
	var m Message
	if err := json.Unmarshal(v, &m); err != nil {
		return Message{}, fmt.Errorf("decoding message %s in box %s: %w", id, box, err)
	}
	m.ID = string(id)
	m.Box = box
	return m, nil
}

// removeFile removes path; a file already gone is fine.
func removeFile(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
