package mailbox

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"go.etcd.io/bbolt"

	"github.com/switchboard-voip/switchboard/internal/durable"
)

// A cluster's nodes each keep every message: a node that records one, or marks one heard, or
// deletes one, tells the others (OnChange), and they apply it (Import, SetHeard, Delete).

// ChangeKind is what happened to a message.
type ChangeKind int

// What OnChange reports.
const (
	Added ChangeKind = iota + 1 // a recording was committed (not an Import)
	Heard                       // marked heard, or new again (Message.Heard says which)
	Deleted
)

// Change is one message changed in this store.
type Change struct {
	Kind    ChangeKind
	Message Message // for Deleted, only Box and ID
}

// importExt is a message being imported: never listed; Open removes one a crash left.
const importExt = ".import"

// ErrExists means Import was given a message the box already holds.
var ErrExists = errors.New("mailbox: message already here")

// OnChange sets f to be told every change made here after it commits: a recording committed,
// a message marked heard or new, a message deleted; not an Import, and not a change that
// changed nothing. f runs on the goroutine that made the change, so it must not wait. Set it
// once, before the store is used.
func (s *Store) OnChange(f func(Change)) { s.onChange = f }

func (s *Store) changed(c Change) {
	if s.onChange != nil {
		s.onChange(c)
	}
}

// Import stores a message recorded elsewhere (another node), with its id and details, and its
// audio (the bytes of its WAV file, as Path serves it). It is durable when it returns, as a
// committed recording is: the file is written, fsynced and renamed into place before the
// metadata is committed. A message the box holds already is left alone: ErrExists.
func (s *Store) Import(m Message, wav io.Reader) error {
	if !validBox(m.Box) || !validID(m.ID) {
		return fmt.Errorf("%w: %q in box %q", ErrNotFound, m.ID, m.Box)
	}
	if s.closed.Load() {
		return ErrClosed
	}
	if _, err := s.Get(m.Box, m.ID); err == nil {
		return fmt.Errorf("%w: %s in box %s", ErrExists, m.ID, m.Box)
	}
	folder := filepath.Join(s.dir, m.Box)
	if err := ensureFolder(folder, s.dir); err != nil {
		return fmt.Errorf("mailbox: creating folder of box %s: %w", m.Box, err)
	}
	tmp := filepath.Join(folder, m.ID+importExt)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, filePerm)
	if err != nil {
		return fmt.Errorf("mailbox: importing %s: %w", m.ID, err)
	}
	_, err = io.Copy(f, wav)
	if err == nil {
		err = f.Sync()
	}
	if err = errors.Join(err, f.Close()); err != nil {
		return errors.Join(fmt.Errorf("mailbox: importing %s: %w", m.ID, err), removeFile(tmp))
	}
	wavFile := s.wavPath(m.Box, m.ID)
	if err := os.Rename(tmp, wavFile); err != nil {
		return errors.Join(fmt.Errorf("mailbox: importing %s: %w", m.ID, err), removeFile(tmp))
	}
	if err := durable.SyncDir(folder); err != nil {
		return fmt.Errorf("mailbox: importing %s: %w", m.ID, err)
	}
	err = s.change(m.Box, func(tx *bbolt.Tx, c *counts) error {
		if lookup(tx, m.Box, m.ID) != nil {
			return errUnchanged // imported meanwhile: the same message, the same audio
		}
		if m.Heard {
			c.old++
		} else {
			c.new++
		}
		return putRecord(tx, m)
	})
	if err != nil {
		return fmt.Errorf("mailbox: importing message %s: %w", m.ID, err)
	}
	return nil
}
