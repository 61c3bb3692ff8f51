package presence

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"

	"go.etcd.io/bbolt"
)

// Store persists the users' DND settings and the changes that made them: BoltStore on one
// node, a NATS JetStream bucket (cluster.Node, a SharedStore) when several nodes serve one team.
type Store interface {
	// LoadDND returns the stored settings by extension. Extensions absent from the map have
	// DND off.
	LoadDND() (map[string]Setting, error)
	// SaveDND stores one user's setting and records it among their changes. When it returns
	// nil the setting survives a crash.
	SaveDND(ext string, s Setting) error
	// DNDHistory returns ext's latest changes, newest first, at most limit of them (every
	// one kept when limit < 1).
	DNDHistory(ext string, limit int) ([]Setting, error)
}

// Buckets of the BoltStore; the DB file is shared with the rest of the switch.
var (
	// bucketName holds ext → the setting (JSON; "dnd" or "available" as written before
	// settings had reasons).
	bucketName = []byte("presence")
	// changesBucket holds ext + 0x00 + sequence (big-endian) → a change (JSON Setting).
	changesBucket = []byte("presence.changes")
	// hoursBucket holds ext → Hours (JSON).
	hoursBucket = []byte("presence.hours")
)

// KeepChanges is how many changes of each user the BoltStore keeps.
const KeepChanges = 200

// ErrNoSync: the bbolt DB does not fsync its commits, so it cannot keep the DND promise.
var ErrNoSync = errors.New("presence: bbolt DB opened with NoSync")

// BoltStore keeps DND settings, their changes and working hours in a bbolt DB. bbolt fsyncs
// every commit, so a save is durable when it returns; a setting and its change are written in
// one transaction, so the history never misses a setting nor holds one that was not made.
type BoltStore struct {
	db *bbolt.DB
}

// NewBoltStore creates the buckets if missing. The DB stays the caller's to close. It refuses a
// DB opened with NoSync (ErrNoSync).
func NewBoltStore(db *bbolt.DB) (*BoltStore, error) {
	if db.NoSync {
		return nil, ErrNoSync
	}
	err := db.Update(func(tx *bbolt.Tx) error {
		for _, name := range [][]byte{bucketName, changesBucket, hoursBucket} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("presence: create buckets: %w", err)
	}
	return &BoltStore{db: db}, nil
}

// DecodeSetting reads a stored setting: JSON, or the words "dnd" and "available" that stores
// wrote before settings had reasons.
func DecodeSetting(v []byte) (Setting, error) {
	switch string(v) {
	case string(DND):
		return Setting{DND: true}, nil
	case string(Available):
		return Setting{}, nil
	}
	var s Setting
	if err := json.Unmarshal(v, &s); err != nil {
		return Setting{}, fmt.Errorf("not a setting: %q", truncate(v, 64))
	}
	return s, nil
}

func truncate(b []byte, n int) []byte { return b[:min(len(b), n)] }

// LoadDND implements Store. A value that is not a setting is an error naming the extension.
func (s *BoltStore) LoadDND() (map[string]Setting, error) {
	out := make(map[string]Setting)
	err := s.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketName)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			st, err := DecodeSetting(v)
			if err != nil {
				return fmt.Errorf("presence: stored setting of %q: %w", k, err)
			}
			out[string(k)] = st
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// SaveDND implements Store: the setting and its change in one fsynced bbolt transaction, and
// the user's oldest changes beyond KeepChanges dropped in it.
func (s *BoltStore) SaveDND(ext string, st Setting) error {
	v, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("presence: save DND of %s: %w", ext, err)
	}
	err = s.db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketName)
		if err != nil {
			return err
		}
		if err := b.Put([]byte(ext), v); err != nil {
			return err
		}
		ch, err := tx.CreateBucketIfNotExists(changesBucket)
		if err != nil {
			return err
		}
		seq, err := ch.NextSequence()
		if err != nil {
			return err
		}
		prefix := append([]byte(ext), 0)
		if err := ch.Put(binary.BigEndian.AppendUint64(slices.Clip(prefix), seq), v); err != nil {
			return err
		}
		// Keep the newest KeepChanges: walk back from the newest and delete what is beyond.
		// (Keys are collected first: a bbolt cursor skips keys when deleting while it moves.)
		var old [][]byte
		c := ch.Cursor()
		k, _ := c.Seek(binary.BigEndian.AppendUint64(slices.Clip(prefix), seq))
		for n := 0; k != nil && bytes.HasPrefix(k, prefix); n++ {
			if n >= KeepChanges {
				old = append(old, slices.Clone(k))
			}
			k, _ = c.Prev()
		}
		for _, k := range old {
			if err := ch.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("presence: save DND of %s: %w", ext, err)
	}
	return nil
}

// DNDHistory implements Store.
func (s *BoltStore) DNDHistory(ext string, limit int) ([]Setting, error) {
	var out []Setting
	prefix := append([]byte(ext), 0)
	err := s.db.View(func(tx *bbolt.Tx) error {
		ch := tx.Bucket(changesBucket)
		if ch == nil {
			return nil
		}
		c := ch.Cursor()
		// The last key of the prefix: seek past it, then step back.
		var k, v []byte
		if k, _ = c.Seek(append(slices.Clip(prefix), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)); k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
		for ; k != nil && bytes.HasPrefix(k, prefix) && (limit < 1 || len(out) < limit); k, v = c.Prev() {
			st, err := DecodeSetting(v)
			if err != nil {
				return fmt.Errorf("presence: stored change of %s: %w", ext, err)
			}
			out = append(out, st)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// LoadHours implements HoursStore.
func (s *BoltStore) LoadHours() (map[string]Hours, error) {
	out := make(map[string]Hours)
	err := s.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(hoursBucket)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var h Hours
			if err := json.Unmarshal(v, &h); err != nil {
				return fmt.Errorf("presence: stored working hours of %q: %w", k, err)
			}
			out[string(k)] = h
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// SaveHours implements HoursStore.
func (s *BoltStore) SaveHours(ext string, h *Hours) error {
	err := s.db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(hoursBucket)
		if err != nil {
			return err
		}
		if h == nil {
			return b.Delete([]byte(ext))
		}
		v, err := json.Marshal(h)
		if err != nil {
			return err
		}
		return b.Put([]byte(ext), v)
	})
	if err != nil {
		return fmt.Errorf("presence: save working hours of %s: %w", ext, err)
	}
	return nil
}

// MemoryStore is a Store and HoursStore in memory, for tests. The zero value is ready to use.
type MemoryStore struct {
	mu      sync.Mutex
	dnd     map[string]Setting
	changes map[string][]Setting // oldest first
	hours   map[string]Hours
	fail    error
	save    int
}

// LoadDND implements Store.
func (m *MemoryStore) LoadDND() (map[string]Setting, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return nil, m.fail
	}
	return maps.Clone(m.dnd), nil
}

// SaveDND implements Store.
func (m *MemoryStore) SaveDND(ext string, s Setting) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	if m.dnd == nil {
		m.dnd = make(map[string]Setting)
		m.changes = make(map[string][]Setting)
	}
	m.dnd[ext] = s
	m.changes[ext] = append(m.changes[ext], s)
	m.save++
	return nil
}

// DNDHistory implements Store.
func (m *MemoryStore) DNDHistory(ext string, limit int) ([]Setting, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return nil, m.fail
	}
	all := m.changes[ext]
	out := make([]Setting, 0, len(all))
	for i := len(all) - 1; i >= 0 && (limit < 1 || len(out) < limit); i-- {
		out = append(out, all[i])
	}
	return out, nil
}

// LoadHours implements HoursStore.
func (m *MemoryStore) LoadHours() (map[string]Hours, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return nil, m.fail
	}
	return maps.Clone(m.hours), nil
}

// SaveHours implements HoursStore.
func (m *MemoryStore) SaveHours(ext string, h *Hours) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	if m.hours == nil {
		m.hours = make(map[string]Hours)
	}
	if h == nil {
		delete(m.hours, ext)
	} else {
		m.hours[ext] = *h
	}
	return nil
}

// Fail makes every later call return err (nil: work again), to test store failures.
func (m *MemoryStore) Fail(err error) {
	m.mu.Lock()
	m.fail = err
	m.mu.Unlock()
}

// Saves is how many SaveDND calls succeeded.
func (m *MemoryStore) Saves() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.save
}
