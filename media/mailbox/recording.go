package mailbox

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"go.etcd.io/bbolt"

	"github.com/switchboard-voip/switchboard/internal/durable"
	"github.com/switchboard-voip/switchboard/media"
)

// Recording is a message being recorded: audio goes to "<id>.part" in the
// box's folder, which no listing ever shows, until Commit. Exactly one of
// Commit or Abort must end it (Abort after Commit does nothing, so
// `defer rec.Abort()` is safe). A Recording is not safe for concurrent use;
// it belongs to the call that records it.
type Recording struct {
	s      *Store
	msg    Message
	folder string
	f      *os.File
	buf    *bufferedFile
	wav    *media.WAVWriter
	done   bool
}

// Record starts a new message for box from a caller. It fails with
// ErrInvalidBox if box is not an extension, and ErrClosed after Close.
func (s *Store) Record(box, from, fromName string) (*Recording, error) {
	if !validBox(box) {
		return nil, fmt.Errorf("%w: %q", ErrInvalidBox, box)
	}
	if s.closed.Load() {
		return nil, ErrClosed
	}
	folder := filepath.Join(s.dir, box)
	if err := ensureFolder(folder, s.dir); err != nil {
		return nil, fmt.Errorf("mailbox: creating folder of box %s: %w", box, err)
	}
	id, received := s.newID()
	path := filepath.Join(folder, id+partExt)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, filePerm)
	if err != nil {
		return nil, fmt.Errorf("mailbox: starting recording: %w", err)
	}
	buf := newBufferedFile(f)
	w, err := media.NewWAVWriter(buf)
	if err == nil {
		// The header goes to the file now, so a crash at any point leaves a WAV to salvage.
		err = buf.flush()
	}
	if err == nil {
		err = writeCaller(folder, id, callerInfo{From: from, FromName: fromName})
	}
	if err != nil {
		return nil, errors.Join(fmt.Errorf("mailbox: starting recording %s: %w", path, err), f.Close(), removeFile(path),
			removeFile(filepath.Join(folder, id+callerExt)))
	}
	return &Recording{
		s:      s,
		msg:    Message{ID: id, Box: box, From: from, FromName: fromName, Received: received},
		folder: folder,
		f:      f,
		buf:    buf,
		wav:    w,
	}, nil
}

// ensureFolder creates a box's folder if missing and makes its creation
// durable, so the files later committed in it cannot vanish with it.
func ensureFolder(folder, parent string) error {
	if _, err := os.Stat(folder); err == nil {
		return nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := os.Mkdir(folder, dirPerm); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return durable.SyncDir(parent)
}

// ID returns the id the message will have once committed.
func (r *Recording) ID() string { return r.msg.ID }

// Write appends samples (8 kHz mono 16-bit PCM). It is meant to be called
// per 20 ms frame: samples are buffered in memory and reach the file about
// every two seconds: a crash loses at most that much of a recording Open
// salvages.
func (r *Recording) Write(samples []int16) error {
	if r.done {
		return ErrFinished
	}
	if err := r.wav.Write(samples); err != nil {
		return fmt.Errorf("mailbox: recording %s: %w", r.msg.ID, err)
	}
	return nil
}

// Duration returns how much audio has been written.
func (r *Recording) Duration() time.Duration {
	return time.Duration(r.wav.Samples()) * time.Second / media.SampleRate
}

// Commit finishes the message and returns it once it is durable: the WAV
// header is patched, the file fsynced, renamed from .part to .wav and the
// folder fsynced, and only then is the metadata written in one bbolt
// transaction, whose commit fsyncs. A nil error is the acknowledgement:
// the message survives a crash from then on. Watchers are told.
//
// A recording shorter than min is discarded instead and Commit fails with
// ErrTooShort. On any error the message does not exist (or, if the
// metadata commit failed ambiguously, exists whole); the audio left behind,
// if any, is removed by the next Open.
func (r *Recording) Commit(min time.Duration) (Message, error) {
	if r.done {
		return Message{}, ErrFinished
	}
	if d := r.Duration(); d < min {
		if err := r.Abort(); err != nil {
			return Message{}, fmt.Errorf("mailbox: discarding short recording: %w", err)
		}
		return Message{}, fmt.Errorf("%w: %v < %v", ErrTooShort, d, min)
	}
	r.done = true
	part := filepath.Join(r.folder, r.msg.ID+partExt)
	wav := filepath.Join(r.folder, r.msg.ID+wavExt)
	if err := r.finishFile(); err != nil {
		return Message{}, errors.Join(fmt.Errorf("mailbox: finishing recording %s: %w", r.msg.ID, err), removeFile(part))
	}
	if err := os.Rename(part, wav); err != nil {
		return Message{}, errors.Join(fmt.Errorf("mailbox: saving recording %s: %w", r.msg.ID, err), removeFile(part))
	}
	if err := durable.SyncDir(r.folder); err != nil {
		return Message{}, errors.Join(fmt.Errorf("mailbox: saving recording %s: %w", r.msg.ID, err), removeFile(wav))
	}
	msg := r.msg
	msg.DurationMS = r.Duration().Milliseconds()
	err := r.s.change(msg.Box, func(tx *bbolt.Tx, c *counts) error {
		c.new++
		return putRecord(tx, msg)
	})
	if err != nil {
		// The file stays: if the commit did reach the disk despite the
		// error, the message is whole; if not, Open removes the file.
		return Message{}, fmt.Errorf("mailbox: saving message %s: %w", msg.ID, err)
	}
	_ = removeFile(filepath.Join(r.folder, r.msg.ID+callerExt)) // else the next Open does
	r.s.changed(Change{Kind: Added, Message: msg})
	return msg, nil
}

// finishFile patches the header, flushes and fsyncs the file and closes it.
func (r *Recording) finishFile() error {
	err := r.wav.Close()
	if err == nil {
		err = r.buf.flush()
	}
	if err == nil {
		err = r.f.Sync()
	}
	return errors.Join(err, r.f.Close())
}

// Abort discards the recording and deletes its file. It does nothing after
// Commit or an earlier Abort.
func (r *Recording) Abort() error {
	if r.done {
		return nil
	}
	r.done = true
	part := filepath.Join(r.folder, r.msg.ID+partExt)
	if err := errors.Join(r.f.Close(), removeFile(part), removeFile(filepath.Join(r.folder, r.msg.ID+callerExt))); err != nil {
		return fmt.Errorf("mailbox: discarding recording %s: %w", r.msg.ID, err)
	}
	return nil
}

// bufferedFile gives WAVWriter, which writes each frame straight through,
// a buffered io.WriteSeeker, so a recording costs a system call every
// couple of seconds instead of 50 a second. Seek flushes first, which keeps
// WAVWriter's header patching correct.
type bufferedFile struct {
	f   *os.File
	buf []byte
}

// bufferSize is about two seconds of 8 kHz 16-bit audio.
const bufferSize = 32 << 10

func newBufferedFile(f *os.File) *bufferedFile {
	return &bufferedFile{f: f, buf: make([]byte, 0, bufferSize)}
}

func (b *bufferedFile) Write(p []byte) (int, error) {
	if len(b.buf)+len(p) > cap(b.buf) {
		if err := b.flush(); err != nil {
			return 0, err
		}
		if len(p) >= cap(b.buf) {
			return b.f.Write(p)
		}
	}
	b.buf = append(b.buf, p...)
	return len(p), nil
}

func (b *bufferedFile) Seek(offset int64, whence int) (int64, error) {
	if err := b.flush(); err != nil {
		return 0, err
	}
	return b.f.Seek(offset, whence)
}

func (b *bufferedFile) flush() error {
	if len(b.buf) == 0 {
		return nil
	}
	_, err := b.f.Write(b.buf)
	b.buf = b.buf[:0]
	return err
}

var _ io.WriteSeeker = (*bufferedFile)(nil)
