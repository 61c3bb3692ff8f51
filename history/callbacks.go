package history

import (
	"encoding/json"
	"fmt"
	"time"

	"go.etcd.io/bbolt"
)

// callbacksBucket holds callback id → JSON PendingCallback: the callbacks callers asked for (the
// outcome Callback) that have not been made or given up yet.
var callbacksBucket = []byte("history.callbacks")

// PendingCallback is a caller's pending request to be called back, as kept across restarts: enough to
// place it again (whom, for whom, how many attempts failed, when the next is due).
type PendingCallback struct {
	ID        string    `json:"id"`
	Caller    string    `json:"caller,omitempty"` // the user to call back; "" for an outside caller
	Number    string    `json:"number"`           // the number called back
	Name      string    `json:"name,omitempty"`
	Trunk     string    `json:"trunk,omitempty"` // an outside caller's trunk
	For       string    `json:"for"`             // the user or queue who calls back
	Queue     bool      `json:"queue,omitempty"`
	Requested time.Time `json:"requested"` // also the caller's place in a queue's line
	CallID    string    `json:"call_id"`
	Attempts  int       `json:"attempts,omitempty"`
	NotBefore time.Time `json:"not_before,omitzero"`
}

// Callbacks is the pending callbacks in a bucket of a bbolt DB owned by the caller. Every
// change is one transaction, durable when the method returns. Its methods are safe for
// concurrent use.
type Callbacks struct{ db *bbolt.DB }

// OpenCallbacks returns the pending callbacks kept in db, creating their bucket if missing.
func OpenCallbacks(db *bbolt.DB) (*Callbacks, error) {
	err := db.Update(func(tx *bbolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(callbacksBucket)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("history: creating the callbacks bucket: %w", err)
	}
	return &Callbacks{db: db}, nil
}

// Put stores cb, replacing the one with its id.
func (s *Callbacks) Put(cb PendingCallback) error {
	if cb.ID == "" || len(cb.ID) > maxPartyLen {
		return fmt.Errorf("%w: callback id %q", ErrInvalid, cb.ID)
	}
	b, err := json.Marshal(cb)
	if err != nil {
		return fmt.Errorf("history: encoding callback %s: %w", cb.ID, err)
	}
	err = s.db.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket(callbacksBucket).Put([]byte(cb.ID), b)
	})
	if err != nil {
		return fmt.Errorf("history: storing callback %s: %w", cb.ID, err)
	}
	return nil
}

// Delete forgets the callback with id; forgetting one that is not there is no error.
func (s *Callbacks) Delete(id string) error {
	err := s.db.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket(callbacksBucket).Delete([]byte(id))
	})
	if err != nil {
		return fmt.Errorf("history: deleting callback %s: %w", id, err)
	}
	return nil
}

// List returns every pending callback in id order (ids sort by time: oldest first). A record
// that does not decode is skipped and reported in the error, with the rest returned.
func (s *Callbacks) List() ([]PendingCallback, error) {
	var out []PendingCallback
	var bad []string
	err := s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(callbacksBucket).ForEach(func(k, v []byte) error {
			var cb PendingCallback
			if err := json.Unmarshal(v, &cb); err != nil {
				bad = append(bad, string(k))
				return nil
			}
			out = append(out, cb)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("history: listing callbacks: %w", err)
	}
	if len(bad) > 0 {
		return out, fmt.Errorf("history: callbacks %q do not decode", bad)
	}
	return out, nil
}
