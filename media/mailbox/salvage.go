package mailbox

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"go.etcd.io/bbolt"

	"github.com/switchboard-voip/switchboard/internal/durable"
	"github.com/switchboard-voip/switchboard/internal/sortid"
	"github.com/switchboard-voip/switchboard/media"
)

// A recording cut off by a crash is not thrown away: the caller spoke, and expects to be heard.
// Record writes who is calling next to the audio ("<id>.caller"), so Open can turn a readable
// .part into a message marked CutShort, with the audio that reached the file (a process crash
// loses at most the last couple of seconds, still in the recording's buffer).

const (
	callerExt  = ".caller"   // who a recording in progress is from (JSON)
	salvageMin = time.Second // a shorter cut-off recording is noise, not a message
	wavHeader  = 44          // media.WAVWriter's canonical header
	maxSalvage = 1 << 30     // a .part larger than this is not one of ours
)

// callerInfo is what a .caller file holds.
type callerInfo struct {
	From     string `json:"from"`
	FromName string `json:"from_name,omitempty"`
}

// writeCaller records who a recording is from. It is not fsynced: it matters only after a
// process crash, which leaves written data in the page cache; a power cut loses the .part's
// audio too.
func writeCaller(folder, id string, c callerInfo) error {
	data, err := json.Marshal(c)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(folder, id+callerExt), data, filePerm)
}

// salvage turns box's cut-off recording id into a message; false (and the files removed) when
// there is too little audio or the file is not a WAV this package wrote.
func (s *Store) salvage(box, id string) (bool, error) {
	folder := filepath.Join(s.dir, box)
	part := filepath.Join(folder, id+partExt)
	caller := filepath.Join(folder, id+callerExt)
	dataLen, err := patchHeader(part)
	if err != nil || time.Duration(dataLen/2)*time.Second/media.SampleRate < salvageMin {
		return false, errors.Join(removeFile(part), removeFile(caller))
	}
	var c callerInfo
	if data, err := os.ReadFile(caller); err == nil {
		_ = json.Unmarshal(data, &c) // an unreadable caller leaves the number unknown
	}
	received, err := sortid.Time(id)
	if err != nil {
		return false, errors.Join(removeFile(part), removeFile(caller))
	}
	if err := os.Rename(part, filepath.Join(folder, id+wavExt)); err != nil {
		return false, fmt.Errorf("mailbox: saving cut-off recording %s: %w", id, err)
	}
	if err := durable.SyncDir(folder); err != nil {
		return false, fmt.Errorf("mailbox: saving cut-off recording %s: %w", id, err)
	}
	msg := Message{ID: id, Box: box, From: c.From, FromName: c.FromName, Received: received,
		DurationMS: int64(dataLen/2) * 1000 / media.SampleRate, CutShort: true}
	err = s.db.Update(func(tx *bbolt.Tx) error {
		cnt := readCounts(tx, box)
		cnt.new++
		if err := putRecord(tx, msg); err != nil {
			return err
		}
		return writeCounts(tx, box, cnt)
	})
	if err != nil {
		return false, fmt.Errorf("mailbox: saving cut-off message %s: %w", id, err)
	}
	return true, removeFile(caller)
}

// patchHeader writes the real sizes into a .part's WAV header (recording leaves them unknown)
// and fsyncs it; it returns the length of the audio data, whole samples only.
func patchHeader(path string) (int64, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	if fi.Size() < wavHeader || fi.Size() > maxSalvage {
		return 0, fmt.Errorf("%s: %d bytes is not a recording", path, fi.Size())
	}
	h := make([]byte, wavHeader)
	if _, err := io.ReadFull(f, h); err != nil {
		return 0, err
	}
	if !bytes.Equal(h[0:4], []byte("RIFF")) || !bytes.Equal(h[8:12], []byte("WAVE")) || !bytes.Equal(h[36:40], []byte("data")) {
		return 0, fmt.Errorf("%s: not a recording's WAV header", path)
	}
	data := (fi.Size() - wavHeader) &^ 1
	if err := f.Truncate(wavHeader + data); err != nil {
		return 0, err
	}
	binary.LittleEndian.PutUint32(h[4:8], uint32(36+data))
	binary.LittleEndian.PutUint32(h[40:44], uint32(data))
	if _, err := f.WriteAt(h[4:8], 4); err != nil {
		return 0, err
	}
	if _, err := f.WriteAt(h[40:44], 40); err != nil {
		return 0, err
	}
	return data, f.Sync()
}
