package backup

import (
	"archive/tar"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// WriteTo writes the snapshot as an archive: gzip-compressed tar, the
// manifest first, then each file in manifest order. It returns the bytes
// written to w. A snapshot may be written more than once.
func (s *Snapshot) WriteTo(w io.Writer) (int64, error) {
	cw := &countingWriter{w: w}
	// Audio barely compresses (PCM with noise in it), so the fastest level
	// gives nearly the default's size at a fraction of its time.
	zw, _ := gzip.NewWriterLevel(cw, gzip.BestSpeed) // a valid level: no error
	tw := tar.NewWriter(zw)
	err := s.writeEntries(tw)
	if err == nil {
		err = tw.Close()
	}
	if err == nil {
		err = zw.Close()
	}
	if err != nil {
		return cw.n, fmt.Errorf("backup: writing the archive: %w", err)
	}
	return cw.n, nil
}

func (s *Snapshot) writeEntries(tw *tar.Writer) error {
	m, err := json.MarshalIndent(s.manifest, "", "  ")
	if err != nil {
		return err
	}
	hdr := &tar.Header{Name: manifestName, Mode: 0o600, Size: int64(len(m)), ModTime: s.manifest.Created, Typeflag: tar.TypeReg}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	if _, err := tw.Write(m); err != nil {
		return err
	}
	for _, f := range s.manifest.Files {
		if err := s.writeFile(tw, f); err != nil {
			return fmt.Errorf("%s: %w", f.Path, err)
		}
	}
	return nil
}

func (s *Snapshot) writeFile(tw *tar.Writer, f File) error {
	in, err := os.Open(filepath.Join(s.dir, filepath.FromSlash(f.Path)))
	if err != nil {
		return err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	hdr := &tar.Header{Name: f.Path, Mode: int64(fileMode(f.Path)), Size: f.Size, ModTime: fi.ModTime(), Typeflag: tar.TypeReg}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	// Staged files do not change (linked audio is never written in place,
	// the DB copy is ours), so the size hashed is the size written; a short
	// copy fails rather than writing an archive its manifest contradicts.
	_, err = io.CopyN(tw, in, f.Size)
	return err
}

// fileMode is what the switch creates: the DB private to its user, audio
// readable by its group (media/mailbox and media/greeting do the same).
func fileMode(p string) os.FileMode {
	if p == DBFile {
		return 0o600
	}
	return 0o640
}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
