package backup

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.etcd.io/bbolt"

	"github.com/switchboard-voip/switchboard/media/mailbox"
)

// stagePrefix names the staging folders Take makes in a data dir. They start
// with a dot, so neither the switch nor a backup of the dir counts them.
const stagePrefix = ".backup-"

// Snapshot is a consistent copy of a data dir, staged in a folder of its own
// inside it and ready to be written as an archive (WriteTo). Close removes
// the staged copy.
type Snapshot struct {
	dir      string // the staging folder
	manifest Manifest
}

// Take copies the data dir dataDir whose DB the caller has open as db: the
// running switch's handle, or one opened while the switch is stopped. It
// may run while the switch runs: see the package doc for how the copy stays
// consistent. version is the switch's, for the manifest.
//
// The copy costs the DB's size on disk (the audio is hard-linked; only where
// links fail, as across file systems, is it copied) until Close.
func Take(db *bbolt.DB, dataDir, version string) (*Snapshot, error) {
	return take(db, dataDir, version, nil)
}

// take is Take with a hook run right after the DB is copied, where a test
// changes the data as a running switch would.
func take(db *bbolt.DB, dataDir, version string, afterCopy func()) (*Snapshot, error) {
	stage, err := os.MkdirTemp(dataDir, stagePrefix)
	if err != nil {
		return nil, fmt.Errorf("backup: making a staging folder in %s: %w", dataDir, err)
	}
	s := &Snapshot{dir: stage}
	if err := s.fill(db, dataDir, version, afterCopy); err != nil {
		return nil, errors.Join(err, s.Close())
	}
	return s, nil
}

func (s *Snapshot) fill(db *bbolt.DB, dataDir, version string, afterCopy func()) error {
	var created time.Time
	err := db.View(func(tx *bbolt.Tx) error {
		created = time.Now().UTC()
		return tx.CopyFile(filepath.Join(s.dir, DBFile), 0o600)
	})
	if err != nil {
		return fmt.Errorf("backup: copying %s: %w", DBFile, err)
	}
	if afterCopy != nil {
		afterCopy()
	}
	for _, d := range audioDirs() {
		if err := linkAudio(filepath.Join(dataDir, d), filepath.Join(s.dir, d)); err != nil {
			return err
		}
	}
	if err := reconcile(s.dir); err != nil {
		return err
	}
	files, err := hashTree(s.dir)
	if err != nil {
		return err
	}
	s.manifest = Manifest{Format: formatName, FormatVersion: formatVersion, Switchboard: version, Created: created, Files: files}
	return nil
}

// Manifest describes the archive WriteTo writes.
func (s *Snapshot) Manifest() Manifest { return s.manifest }

// Close removes the staged copy; the data dir is as before Take.
func (s *Snapshot) Close() error {
	if err := os.RemoveAll(s.dir); err != nil {
		return fmt.Errorf("backup: removing the staging folder: %w", err)
	}
	return nil
}

// linkAudio links every src/USER/NAME.wav into dst/USER/ (both levels made
// as needed). Hidden files are an upload or import in progress, .part files
// a recording in progress: neither is a message or greeting yet. A missing
// src is an empty one.
func linkAudio(src, dst string) error {
	users, err := os.ReadDir(src)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("backup: listing %s: %w", src, err)
	}
	for _, u := range users {
		if !u.IsDir() || strings.HasPrefix(u.Name(), ".") {
			continue
		}
		files, err := os.ReadDir(filepath.Join(src, u.Name()))
		if err != nil {
			return fmt.Errorf("backup: listing %s: %w", filepath.Join(src, u.Name()), err)
		}
		for _, f := range files {
			if !f.Type().IsRegular() || strings.HasPrefix(f.Name(), ".") || filepath.Ext(f.Name()) != ".wav" {
				continue
			}
			if err := os.MkdirAll(filepath.Join(dst, u.Name()), 0o750); err != nil {
				return fmt.Errorf("backup: %w", err)
			}
			from, to := filepath.Join(src, u.Name(), f.Name()), filepath.Join(dst, u.Name(), f.Name())
			if err := linkOrCopy(from, to); err != nil {
				return err
			}
		}
	}
	return nil
}

// linkOrCopy hard-links from as to, else copies it. A file that vanished
// since it was listed (a message deleted, a greeting reset) is skipped: the
// reconciliation that follows drops the message's record.
func linkOrCopy(from, to string) error {
	err := os.Link(from, to)
	if err == nil || errors.Is(err, os.ErrNotExist) {
		return nil
	}
	in, err := os.Open(from)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("backup: reading %s: %w", from, err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return fmt.Errorf("backup: staging %s: %w", from, err)
	}
	_, err = io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("backup: copying %s: %w", from, err)
	}
	return nil
}

// reconcile runs the mailbox's start-up recovery on the staged copy: a
// record whose audio a Delete removed after the DB was copied goes, and so
// does audio recorded after it. It only removes staged names, never writes
// into a (linked) file: no .part file is staged.
func reconcile(stage string) error {
	db, err := bbolt.Open(filepath.Join(stage, DBFile), 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		return fmt.Errorf("backup: opening the copied %s: %w", DBFile, err)
	}
	box, err := mailbox.Open(db, filepath.Join(stage, VoicemailDir))
	if err == nil {
		err = box.Close()
	}
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("backup: matching voicemail records to audio: %w", err)
	}
	return nil
}

// hashTree lists every file under dir with its size and SHA-256, the DB
// first and the rest in path order, so an archive's order is stable.
func hashTree(dir string) ([]File, error) {
	var files []File
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		f, err := hashFile(p)
		if err != nil {
			return err
		}
		f.Path = filepath.ToSlash(rel)
		files = append(files, f)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("backup: reading the staged copy: %w", err)
	}
	slices.SortFunc(files, func(a, b File) int {
		switch {
		case a.Path == DBFile:
			return -1
		case b.Path == DBFile:
			return 1
		}
		return strings.Compare(a.Path, b.Path)
	})
	return files, nil
}

func hashFile(p string) (File, error) {
	f, err := os.Open(p)
	if err != nil {
		return File{}, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return File{}, err
	}
	return File{Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// RemoveLeftovers removes the staging folders a backup or restore cut short
// (by a crash, or a shutdown while an archive was being served) left in
// dataDir. Call it only while holding the data dir's DB, as the switch does
// at start: no other backup or restore can be under way then.
func RemoveLeftovers(dataDir string) error {
	des, err := os.ReadDir(dataDir)
	if err != nil {
		return fmt.Errorf("backup: listing %s: %w", dataDir, err)
	}
	for _, d := range des {
		if n := d.Name(); d.IsDir() && (strings.HasPrefix(n, stagePrefix) || strings.HasPrefix(n, restorePrefix) || strings.HasPrefix(n, replacedPrefix)) {
			if err := os.RemoveAll(filepath.Join(dataDir, n)); err != nil {
				return fmt.Errorf("backup: removing leftover %s: %w", n, err)
			}
		}
	}
	return nil
}
