package directory

import (
	"fmt"
	"sync"

	"go.etcd.io/bbolt"
)

// The BoltStore's bucket and key; the DB file is shared with the rest of the switch, so a
// backup holds the directory with everything else.
var (
	bucketName = []byte("directory")
	currentKey = []byte("current")
)

// BoltStore keeps the directory in the switch's bbolt file.
type BoltStore struct {
	db *bbolt.DB
}

// NewBoltStore returns a store in db, creating its bucket.
func NewBoltStore(db *bbolt.DB) (*BoltStore, error) {
	err := db.Update(func(tx *bbolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucketName)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("directory: create bucket: %w", err)
	}
	return &BoltStore{db: db}, nil
}

// LoadDirectory implements Store.
func (s *BoltStore) LoadDirectory() ([]byte, error) {
	var doc []byte
	err := s.db.View(func(tx *bbolt.Tx) error {
		if v := tx.Bucket(bucketName).Get(currentKey); v != nil {
			doc = append([]byte(nil), v...) // bbolt's bytes live only as long as the transaction
		}
		return nil
	})
	return doc, err
}

// SaveDirectory implements Store: bbolt commits (and syncs) before Update returns.
func (s *BoltStore) SaveDirectory(doc []byte) error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketName).Put(currentKey, doc)
	})
}

// MemoryStore is a Store in memory, for tests and a switch without a data dir.
type MemoryStore struct {
	mu  sync.Mutex
	doc []byte
	// Fail, when set, is returned by SaveDirectory (a disk that refuses the write).
	Fail error
}

// LoadDirectory implements Store.
func (m *MemoryStore) LoadDirectory() ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]byte(nil), m.doc...), nil
}

// SaveDirectory implements Store.
func (m *MemoryStore) SaveDirectory(doc []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.Fail != nil {
		return m.Fail
	}
	m.doc = append([]byte(nil), doc...)
	return nil
}
