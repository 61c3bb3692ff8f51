package backup

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Verify reads a whole archive and checks it: a Switchboard backup of a
// format this code reads, every file the manifest lists present once with
// its size and SHA-256, nothing else, and the compressed stream whole. A
// problem is ErrCorrupt, wrapped with what and where.
func Verify(r io.Reader) (Manifest, error) {
	return extract(r, "")
}

// extract is Verify that also writes each file under dst (made as needed)
// and syncs it; dst "" writes nothing. Problems of the archive are
// ErrCorrupt; failures to write are not.
func extract(r io.Reader, dst string) (Manifest, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return Manifest{}, corrupt("not a gzip stream", err)
	}
	tr := tar.NewReader(zr)
	hdr, err := tr.Next()
	if err != nil {
		return Manifest{}, corrupt("reading the first entry", err)
	}
	if hdr.Name != manifestName || hdr.Typeflag != tar.TypeReg || hdr.Size > maxManifest {
		return Manifest{}, fmt.Errorf("%w: not a Switchboard backup: its first entry is %q, not %s", ErrCorrupt, hdr.Name, manifestName)
	}
	raw, err := io.ReadAll(tr)
	if err != nil {
		return Manifest{}, corrupt("reading "+manifestName, err)
	}
	m, err := decodeManifest(raw)
	if err != nil {
		return Manifest{}, err
	}
	want := make(map[string]File, len(m.Files))
	for _, f := range m.Files {
		want[f.Path] = f
	}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return Manifest{}, corrupt("reading the entry after the last whole file", err)
		}
		f, ok := want[hdr.Name]
		if !ok {
			return Manifest{}, fmt.Errorf("%w: %s is not in %s (or is there twice)", ErrCorrupt, hdr.Name, manifestName)
		}
		delete(want, hdr.Name)
		if hdr.Typeflag != tar.TypeReg || hdr.Size != f.Size {
			return Manifest{}, fmt.Errorf("%w: %s: %d bytes of type %q, the manifest says a %d-byte file",
				ErrCorrupt, f.Path, hdr.Size, hdr.Typeflag, f.Size)
		}
		if err := extractFile(tr, f, dst); err != nil {
			return Manifest{}, err
		}
	}
	for _, f := range m.Files {
		if _, missing := want[f.Path]; missing {
			return Manifest{}, fmt.Errorf("%w: %s is missing from the archive (%d of %d files present)",
				ErrCorrupt, f.Path, len(m.Files)-len(want), len(m.Files))
		}
	}
	// The tar's end is not the gzip stream's: reading to its end checks the
	// CRC and length gzip keeps in its trailer.
	if _, err := io.Copy(io.Discard, zr); err != nil {
		return Manifest{}, corrupt("after the last file", err)
	}
	return m, nil
}

// extractFile reads f's content from r, checks it and, with dst, writes it.
func extractFile(r io.Reader, f File, dst string) error {
	h := sha256.New()
	src := &readErrors{r: r}
	var out *os.File
	w := io.Writer(h)
	if dst != "" {
		p := filepath.Join(dst, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
			return fmt.Errorf("backup: restoring %s: %w", f.Path, err)
		}
		var err error
		out, err = os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fileMode(f.Path))
		if err != nil {
			return fmt.Errorf("backup: restoring %s: %w", f.Path, err)
		}
		defer out.Close()
		w = io.MultiWriter(h, out)
	}
	_, err := io.Copy(w, src)
	if src.err != nil {
		return corrupt("reading "+f.Path, src.err)
	}
	if err == nil && out != nil {
		err = out.Sync()
	}
	if err != nil {
		return fmt.Errorf("backup: restoring %s: %w", f.Path, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != f.SHA256 {
		return fmt.Errorf("%w: %s: SHA-256 %s, the manifest says %s: the file was altered", ErrCorrupt, f.Path, got, f.SHA256)
	}
	return nil
}

// corrupt wraps a read error of the archive as ErrCorrupt, calling an
// early end what it is.
func corrupt(what string, err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: %s: the archive ends early (truncated): %w", ErrCorrupt, what, err)
	}
	return fmt.Errorf("%w: %s: %w", ErrCorrupt, what, err)
}

// readErrors keeps the error of the reader it wraps, so a copy's read
// failures (the archive's fault) tell themselves from its write failures.
type readErrors struct {
	r   io.Reader
	err error
}

func (r *readErrors) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		r.err = err
	}
	return n, err
}
