package presence

import (
	"errors"
	"fmt"
	"maps"
	"sync"

	"go.etcd.io/bbolt"
)

// Store persists the users' DND settings: BoltStore on one node, a NATS JetStream bucket
// (cluster.Node, a SharedStore) when several nodes serve one team.
type Store interface {
	// LoadDND returns the stored settings by extension. Extensions absent from the map have
	// DND off.
	LoadDND() (map[string]bool, error)
	// SaveDND stores one user's setting. When it returns nil the setting survives a crash.
	SaveDND(ext string, on bool) error
}

// bucketName is the BoltStore's bucket; the DB file is shared with the rest of the switch.
var bucketName = []byte("presence")

// Stored values: the status word a person set.
var (
	valueDND       = []byte(DND)
	valueAvailable = []byte(Available)
)

// ErrNoSync: the bbolt DB does not fsync its commits, so it cannot keep the DND promise.
var ErrNoSync = errors.New("presence: bbolt DB opened with NoSync")

// BoltStore keeps DND settings in the bucket "presence" of a bbolt DB, one key per extension
// with the value "dnd" or "available". bbolt fsyncs every commit, so SaveDND is durable when
// it returns.
type BoltStore struct {
	db *bbolt.DB
}

// NewBoltStore creates the bucket if missing. The DB stays the caller's to close. It refuses a
// DB opened with NoSync (ErrNoSync).
func NewBoltStore(db *bbolt.DB) (*BoltStore, error) {
	if db.NoSync {
		return nil, ErrNoSync
	}
	err := db.Update(func(tx *bbolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucketName)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("presence: create bucket: %w", err)
	}
	return &BoltStore{db: db}, nil
}

// LoadDND implements Store. A value other than "dnd" or "available" is an error naming the
// extension.
func (s *BoltStore) LoadDND() (map[string]bool, error) {
	out := make(map[string]bool)
	err := s.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketName)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			switch string(v) {
			case string(valueDND):
				out[string(k)] = true
			case string(valueAvailable):
				out[string(k)] = false
			default:
				return fmt.Errorf("presence: stored setting of %q is %q", k, v)
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// SaveDND implements Store: one fsynced bbolt transaction.
func (s *BoltStore) SaveDND(ext string, on bool) error {
	v := valueAvailable
	if on {
		v = valueDND
	}
	err := s.db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketName)
		if err != nil {
			return err
		}
		return b.Put([]byte(ext), v)
	})
	if err != nil {
		return fmt.Errorf("presence: save DND of %s: %w", ext, err)
	}
	return nil
}

// MemoryStore is a Store in memory, for tests. The zero value is ready to use.
type MemoryStore struct {
	mu   sync.Mutex
	dnd  map[string]bool
	fail error
	save int
}

// LoadDND implements Store.
func (m *MemoryStore) LoadDND() (map[string]bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return nil, m.fail
	}
	return maps.Clone(m.dnd), nil
}

// SaveDND implements Store.
func (m *MemoryStore) SaveDND(ext string, on bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	if m.dnd == nil {
		m.dnd = make(map[string]bool)
	}
	m.dnd[ext] = on
	m.save++
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
