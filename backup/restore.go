package backup

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/switchboard-voip/switchboard/internal/durable"
)

// restorePrefix and replacedPrefix name Restore's working folders inside
// the data dir; hidden, like Take's.
const (
	restorePrefix  = ".restore-"
	replacedPrefix = ".replaced-"
)

// Restore puts the archive r into the data dir dataDir (made if missing).
// It refuses, before reading r, a data dir whose DB a running switch holds
// (ErrInUse) and one that holds anything unless replace is set
// (ErrNotEmpty). It extracts the archive into a staging folder inside
// dataDir, checking every file against the manifest and the DB's own
// structure (ErrCorrupt), and only then moves the files into place, one
// rename each (the DB last), removing what the data dir held if replace.
// Run as root, it gives the files the data dir's owner, so that the
// service that owns the data dir can open them. Nothing in dataDir changes
// unless the whole archive is sound. A switch started on dataDir meanwhile
// waits for the old DB's lock, which Restore holds until it is done.
func Restore(r io.Reader, dataDir string, replace bool) (Manifest, error) {
	existing, err := entries(dataDir)
	if err != nil {
		return Manifest{}, err
	}
	release, err := holdDB(dataDir)
	if err != nil {
		return Manifest{}, err
	}
	defer release()
	if len(existing) > 0 && !replace {
		return Manifest{}, fmt.Errorf("%w: %s holds %s", ErrNotEmpty, dataDir, strings.Join(firstFew(existing, 3), ", "))
	}
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return Manifest{}, fmt.Errorf("backup: making %s: %w", dataDir, err)
	}
	stage, err := os.MkdirTemp(dataDir, restorePrefix)
	if err != nil {
		return Manifest{}, fmt.Errorf("backup: making a staging folder in %s: %w", dataDir, err)
	}
	defer os.RemoveAll(stage)
	m, err := extract(r, stage)
	if err != nil {
		return Manifest{}, err
	}
	if err := checkDB(filepath.Join(stage, DBFile)); err != nil {
		return Manifest{}, err
	}
	if err := matchOwner(stage, dataDir); err != nil {
		return Manifest{}, err
	}
	if err := swapIn(dataDir, stage, existing); err != nil {
		return Manifest{}, err
	}
	return m, nil
}

// entries lists what dataDir holds: nothing if it does not exist. Staging
// folders an interrupted backup or restore left behind do not count.
func entries(dataDir string) ([]string, error) {
	des, err := os.ReadDir(dataDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("backup: listing %s: %w", dataDir, err)
	}
	var names []string
	for _, d := range des {
		if n := d.Name(); !strings.HasPrefix(n, stagePrefix) && !strings.HasPrefix(n, restorePrefix) && !strings.HasPrefix(n, replacedPrefix) {
			names = append(names, n)
		}
	}
	return names, nil
}

func firstFew(names []string, n int) []string {
	if len(names) <= n {
		return names
	}
	return append(slices.Clip(names[:n]), fmt.Sprintf("and %d more", len(names)-n))
}

// holdDB fails with ErrInUse when a process holds the data dir's DB:
// bbolt locks the file for as long as it is open, and a shared lock cannot
// be had while the switch holds its exclusive one. Otherwise it keeps the
// shared lock until release, so that a switch started during the restore
// cannot open the DB being replaced (it gives up after its timeout).
func holdDB(dataDir string) (release func(), err error) {
	p := filepath.Join(dataDir, DBFile)
	if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
		return func() {}, nil
	}
	db, err := bbolt.Open(p, 0o600, &bbolt.Options{ReadOnly: true, Timeout: 500 * time.Millisecond})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("%w: %s is locked; stop the switch first", ErrInUse, p)
	}
	if err != nil {
		return func() {}, nil // not a DB bbolt opens: replacing it is what a restore is for
	}
	return func() { _ = db.Close() }, nil
}

// checkDB opens a restored DB and walks its pages: a checksum tells the file
// is the one that was archived, this that it is a sound bbolt file.
func checkDB(p string) error {
	db, err := bbolt.Open(p, 0o600, &bbolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return fmt.Errorf("%w: %s does not open as a database: %w", ErrCorrupt, DBFile, err)
	}
	defer db.Close()
	return db.View(func(tx *bbolt.Tx) error {
		var first error
		for err := range tx.Check() { // drained: the checker blocks until read
			if first == nil {
				first = fmt.Errorf("%w: %s: %w", ErrCorrupt, DBFile, err)
			}
		}
		return first
	})
}

// swapIn moves existing entries of dataDir aside, then the staged ones in
// (the DB last: a data dir with a DB is a whole one), syncs the folder and
// removes what was moved aside. Should a rename fail, what was moved aside
// stays, and the error says where.
func swapIn(dataDir, stage string, existing []string) (err error) {
	if len(existing) > 0 {
		aside, mkErr := os.MkdirTemp(dataDir, replacedPrefix)
		if mkErr != nil {
			return fmt.Errorf("backup: making a folder for the replaced files: %w", mkErr)
		}
		defer func() { // err is swapIn's result here
			if err != nil {
				err = fmt.Errorf("%w (the data dir's previous files are in %s)", err, aside)
			} else if rmErr := os.RemoveAll(aside); rmErr != nil {
				err = fmt.Errorf("backup: restored, but removing the replaced files in %s: %w", aside, rmErr)
			}
		}()
		for _, n := range existing {
			if mvErr := os.Rename(filepath.Join(dataDir, n), filepath.Join(aside, n)); mvErr != nil {
				return fmt.Errorf("backup: moving %s aside: %w", n, mvErr)
			}
		}
	}
	staged, err := os.ReadDir(stage)
	if err != nil {
		return fmt.Errorf("backup: listing the restored files: %w", err)
	}
	names := make([]string, 0, len(staged))
	for _, d := range staged {
		if d.Name() != DBFile {
			names = append(names, d.Name())
		}
	}
	names = append(names, DBFile)
	for _, n := range names {
		if err := os.Rename(filepath.Join(stage, n), filepath.Join(dataDir, n)); err != nil {
			return fmt.Errorf("backup: moving restored %s into %s: %w", n, dataDir, err)
		}
	}
	if err := durable.SyncDir(dataDir); err != nil {
		return fmt.Errorf("backup: syncing %s: %w", dataDir, err)
	}
	return nil
}
